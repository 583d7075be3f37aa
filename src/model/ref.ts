/**
 * f64 reference forward (Qwen2, or Llama: no q/k/v bias, scaled RoPE) for one sequence, composed from the per-kernel references: the
 * oracle for shapes the PyTorch fixtures do not cover (large vocabularies, random configs).
 */
import { attentionRef } from '../kernels/attention/ref.js';
import { embeddingRef } from '../kernels/embedding/ref.js';
import { logsoftmaxGatherRef } from '../kernels/logsoftmax/ref.js';
import { matmulRef } from '../kernels/matmul/ref.js';
import { rmsnormRef } from '../kernels/rmsnorm/ref.js';
import { headNormRef } from '../kernels/qk_norm/ref.js';
import { ropeRef } from '../kernels/rope/ref.js';
import { swigluRef } from '../kernels/swiglu/ref.js';
import type { ModelConfig } from './config.js';

function linear(x: ArrayLike<number>, w: ArrayLike<number>, T: number, out: number, inp: number, bias?: ArrayLike<number>): Float64Array {
  const y = matmulRef(x, w, { M: T, N: out, K: inp, transposeB: true });
  if (bias) for (let t = 0; t < T; t++) for (let j = 0; j < out; j++) y[t * out + j]! += bias[j]!;
  return y;
}

/** log p(x[t+1] | x[..t]) for t = 0 .. n−2. */
export function logprobsRef(config: ModelConfig, w: ReadonlyMap<string, Float32Array>, tokens: readonly number[]): Float64Array {
  const { hiddenSize: H, intermediateSize: I, numHeads: nh, numKvHeads: nkv, headDim: d, rmsNormEps: eps } = config;
  const T = tokens.length;
  const x = embeddingRef(w.get('model.embed_tokens.weight')!, H, tokens);
  const rope = (m: Float64Array, heads: number) => {
    for (let t = 0; t < T; t++) for (let h = 0; h < heads; h++) m.set(ropeRef(m.subarray(t * heads * d + h * d, t * heads * d + (h + 1) * d), t, config.ropeTheta, config.ropeScaling), t * heads * d + h * d);
  };
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const a = rmsnormRef(x, w.get(`${p}input_layernorm.weight`)!, H, eps);
    const q = linear(a, w.get(`${p}self_attn.q_proj.weight`)!, T, nh * d, H, w.get(`${p}self_attn.q_proj.bias`));
    const k = linear(a, w.get(`${p}self_attn.k_proj.weight`)!, T, nkv * d, H, w.get(`${p}self_attn.k_proj.bias`));
    const v = linear(a, w.get(`${p}self_attn.v_proj.weight`)!, T, nkv * d, H, w.get(`${p}self_attn.v_proj.bias`));
    if (config.qkNorm) {
      for (const [m, heads, norm] of [[q, nh, 'q_norm'], [k, nkv, 'k_norm']] as const) {
        const weight = w.get(`${p}self_attn.${norm}.weight`)!;
        for (let t = 0; t < T * heads; t++) m.set(headNormRef(m.subarray(t * d, (t + 1) * d), weight, eps), t * d);
      }
    }
    rope(q, nh);
    rope(k, nkv);
    const o = linear(attentionRef(q, k, v, T, nh, nkv, d), w.get(`${p}self_attn.o_proj.weight`)!, T, H, nh * d);
    for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
    const m = rmsnormRef(x, w.get(`${p}post_attention_layernorm.weight`)!, H, eps);
    const gate = linear(m, w.get(`${p}mlp.gate_proj.weight`)!, T, I, H);
    const up = linear(m, w.get(`${p}mlp.up_proj.weight`)!, T, I, H);
    const gu = new Float64Array(T * 2 * I);
    for (let t = 0; t < T; t++) {
      gu.set(gate.subarray(t * I, (t + 1) * I), t * 2 * I);
      gu.set(up.subarray(t * I, (t + 1) * I), t * 2 * I + I);
    }
    const down = linear(swigluRef(gu, T, I), w.get(`${p}mlp.down_proj.weight`)!, T, H, I);
    for (let i = 0; i < x.length; i++) x[i]! += down[i]!;
  }
  const hidden = rmsnormRef(x, w.get('model.norm.weight')!, H, eps);
  const head = w.get(config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!;
  const logits = linear(hidden.subarray(0, (T - 1) * H), head, T - 1, config.vocabSize, H);
  return logsoftmaxGatherRef(logits, config.vocabSize, tokens.slice(1));
}

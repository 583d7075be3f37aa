/**
 * The decoder block — input RMSNorm, q/k/v projection (bias, Qwen3's per-head q/k norms), RoPE,
 * causal attention, o_proj, post-attention RMSNorm, the SwiGLU MLP and both residual adds — with its
 * LoRA deltas, written once. `encodeForward` serves every pass (scoring and generation fused, the
 * training forward unfused with its activations saved); `encodeBackward` is that training forward
 * run in reverse over the activations it saved (`BLOCK_ACTIVATIONS`).
 *
 * LoRA wraps the block's projections in both directions: a projection's adapters add their delta
 * after it in the forward and take their gradient beside its dx in the backward (model/lora.ts
 * holds the two encoders).
 */
import type { DispatchBatch } from '../gpu/device.js';
import type { Add } from '../kernels/add/add.js';
import type { AttentionBackward, AttentionVariant } from '../kernels/attention/attention.js';
import type { LinearBackward } from '../kernels/linear/linear.js';
import type { Matmul } from '../kernels/matmul/matmul.js';
import type { QkNormBackward } from '../kernels/qk_norm/qk_norm.js';
import type { RmsnormBackward } from '../kernels/rmsnorm/rmsnorm.js';
import type { RopeBackward } from '../kernels/rope/rope.js';
import type { SwigluBackward } from '../kernels/swiglu/swiglu.js';
import type { Kernels, Layer } from './causal_lm.js';
import { qkvWidth as qkvWidthOf, type ModelConfig } from './config.js';
import type { LayerGradients } from './gradients.js';
import { encodeLoraBackward, encodeLoraForward, type LoraAdapters, type LoraBackwardKernels, type LoraSite } from './lora.js';

type LoraInput = LoraSite['input'];

/**
 * The activations the block's training forward saves for its backward, per chunk of rows: name →
 * floats per row (labels are the Hugging Face module whose output or input each is).
 */
export const BLOCK_ACTIVATIONS = {
  a1: { label: 'input_layernorm.out', perRow: (c: ModelConfig) => c.hiddenSize },
  q: { label: 'self_attn.q_rotated', perRow: (c: ModelConfig) => c.numHeads * c.headDim },
  o: { label: 'self_attn.o_proj.in', perRow: (c: ModelConfig) => c.numHeads * c.headDim },
  xMid: { label: 'residual.after_attention', perRow: (c: ModelConfig) => c.hiddenSize },
  a2: { label: 'post_attention_layernorm.out', perRow: (c: ModelConfig) => c.hiddenSize },
  gu: { label: 'mlp.gate_up_proj.out', perRow: (c: ModelConfig) => 2 * c.intermediateSize },
  act: { label: 'mlp.down_proj.in', perRow: (c: ModelConfig) => c.intermediateSize },
} as const;

/** One chunk's saved activations (`BLOCK_ACTIVATIONS`, plus Qwen3's pre-norm q/k/v rows). */
export type BlockActivations = Record<keyof typeof BLOCK_ACTIVATIONS, GPUBuffer> & { qkvPre?: GPUBuffer };

/** The forward's buffers for `T` rows: the residual stream `x` (updated in place) and its scratch. */
export interface BlockForwardBuffers {
  x: GPUBuffer;
  qkv: GPUBuffer;
  q: GPUBuffer;
  /** This block's key and value cache (written at each row's `kvRow`). */
  k: GPUBuffer;
  v: GPUBuffer;
  attn: GPUBuffer;
  gateUp: GPUBuffer;
  /** Packed row metadata (`Row` fields). */
  meta: GPUBuffer;
  /** Inference with adapters: the normed rows and the SwiGLU output an adapter reads. */
  a?: GPUBuffer;
  act?: GPUBuffer;
  adapters?: LoraAdapters;
  loraU?: GPUBuffer;
  loraD?: GPUBuffer;
}

export interface BlockForwardMode {
  /** How attention runs: a variant, or 'decode' (no row attends to another row of this chunk: the fused kernel). */
  attention?: AttentionVariant | 'decode';
  /** Training: unfused, every activation the backward reads written here (`qkvPre`, `xMid` when given). */
  saved?: Omit<BlockActivations, 'q' | 'o' | 'gu'>;
}

export interface BlockBackwardKernels {
  linear: LinearBackward;
  swiglu: SwigluBackward;
  rmsnorm: RmsnormBackward;
  add: Add;
  attention: AttentionBackward;
  rope: RopeBackward;
  qkNorm?: QkNormBackward;
  /** 1ᵀ · rows for the norm weights' gradients. */
  matmulAcc: Matmul;
}

/** The backward's view of one training pass: chunks, what the forward saved, scratch and outputs. */
export interface BlockBackwardPass {
  /** Row chunks of the micro-batch: row-local work runs per chunk, attention over all `T` rows. */
  chunks: readonly { start: number; rows: number }[];
  T: number;
  /** Per chunk: the block's input rows, the activations its forward saved, its row metadata. */
  input: readonly GPUBuffer[];
  saved: readonly BlockActivations[];
  meta: readonly GPUBuffer[];
  /** Per chunk: d L / d output in, d L / d input out (updated in place). */
  dX: readonly GPUBuffer[];
  /** All rows' metadata and sequence ends, and the keys/values the forward wrote. */
  rows: GPUBuffer;
  ends: GPUBuffer;
  kv: { k: GPUBuffer; v: GPUBuffer };
  /** Chunk-sized scratch (`C` rows; `yT` of the widest projection) and whole-batch attention buffers. */
  d: Record<'hN' | 'tmp' | 'wRows' | 'yT' | 'act' | 'gu' | 'o' | 'q' | 'k' | 'v' | 'qkv', GPUBuffer>;
  full: Record<'q' | 'o' | 'dO' | 'dQ' | 'dK' | 'dV' | 'stats', GPUBuffer>;
  /** `C` ones (bias and norm-weight column sums); Qwen3's per-row q/k norm weight gradients. */
  ones: GPUBuffer;
  qkRows?: GPUBuffer;
  /** Weight gradients, accumulated; none for a frozen base (LoRA). */
  grad?: LayerGradients;
  /** The adapters to train, their kernels and chunk-sized scratch. */
  lora?: { adapters: LoraAdapters; kernels: LoraBackwardKernels; scratch: Record<'dOut' | 'dOutT' | 'u' | 'us' | 'du' | 'dus' | 'dusT', GPUBuffer> };
  /** Re-runs the forward on chunk `ci` (refilling `saved[ci]`) just before its backward (`recompute`). */
  recompute?: (ci: number) => void;
}

export class DecoderBlock {
  private readonly H: number;
  private readonly I: number;
  private readonly qkvWidth: number;

  constructor(
    /** The layer index (`model.layers.N`). */
    readonly index: number,
    private readonly c: ModelConfig,
    readonly weights: Layer,
    private readonly k: Kernels,
    /** The model's RoPE table (replaced when it grows). */
    private readonly ropeTable: () => GPUBuffer,
  ) {
    this.H = c.hiddenSize;
    this.I = c.intermediateSize;
    this.qkvWidth = qkvWidthOf(c);
  }

  private shape(T: number) {
    return { T, heads: this.c.numHeads, kvHeads: this.c.numKvHeads, headDim: this.c.headDim };
  }

  /**
   * The block on `T` rows of the residual stream `b.x` (updated in place), LoRA deltas included:
   * - inference (no `saved`: scoring, generation), in as few dispatches as the rows allow: the norms
   *   folded into the projections after them, SwiGLU into down_proj, the residual adds into
   *   o_proj/down_proj, and for a decode step (`attention` 'decode') q/k norm + bias + RoPE + cache
   *   write + attention in one kernel — five dispatches; a prefill runs the q/k norm (Qwen3),
   *   RoPE/cache write and attention apart — seven or six. A LoRA adapter's input (normed rows
   *   `b.a`, SwiGLU output `b.act`) is made apart for it to read.
   * - training (`saved` given): unfused, every activation the backward reads written to `saved`.
   */
  encodeForward(batch: DispatchBatch, T: number, b: BlockForwardBuffers, mode: BlockForwardMode = {}): void {
    const { c, k, weights: layer, H, I, qkvWidth } = this;
    const shape = this.shape(T);
    const { saved } = mode;
    const eps = c.rmsNormEps;
    const adapted = (input: LoraInput) => (b.adapters?.layers[this.index] ?? []).some((x) => x.site.input === input);
    const delta = (input: LoraInput, inputBuffer: GPUBuffer, output: GPUBuffer) => this.loraForward(batch, T, b, input, inputBuffer, output);
    // A projection of RMSNorm(x): with the normed rows saved, or the norm folded in (an adapter on it reads the normed rows, made apart).
    const normed = (norm: GPUBuffer, w: GPUBuffer, out: GPUBuffer, N: number, input: 'a1' | 'a2') => {
      if (saved) {
        k.rmsnorm.encode(batch, { x: b.x, weight: norm, index: b.meta, out: saved[input] }, { T, H, eps });
        k.matmul.encode(batch, saved[input], w, out, { M: T, N, K: H, transposeB: true });
        delta(input, saved[input], out);
        return;
      }
      k.matmulNorm.encode(batch, b.x, w, out, { M: T, N, K: H, transposeB: true }, { normWeight: norm });
      if (!adapted(input)) return;
      k.rmsnorm.encode(batch, { x: b.x, weight: norm, index: b.meta, out: b.a! }, { T, H, eps });
      delta(input, b.a!, out);
    };
    normed(layer.inputNorm, layer.wQkv, b.qkv, qkvWidth, 'a1');
    if (mode.attention === 'decode') {
      k.attentionDecode.encode(batch, { qkv: b.qkv, bias: layer.bQkv, qkNormWeight: layer.qkNorm, table: this.ropeTable(), rows: b.meta, kCache: b.k, vCache: b.v, out: b.attn }, { ...shape, qkNormEps: c.qkNorm ? eps : undefined });
    } else {
      if (c.qkNorm) {
        if (saved?.qkvPre) batch.copy(b.qkv, saved.qkvPre, T * qkvWidth * 4); // the norm's backward reads the pre-norm rows
        k.qkNorm!.encode(batch, { qkv: b.qkv, weight: layer.qkNorm }, { ...shape, eps });
      }
      k.rope.encode(batch, { qkv: b.qkv, bias: layer.bQkv, rows: b.meta, table: this.ropeTable(), q: b.q, kCache: b.k, vCache: b.v }, shape);
      k.attention.encode(batch, { q: b.q, kCache: b.k, vCache: b.v, rows: b.meta, out: b.attn }, shape, mode.attention);
    }
    k.matmulAcc.encode(batch, b.attn, layer.wO, b.x, { M: T, N: H, K: c.numHeads * c.headDim, transposeB: true });
    delta('attn', b.attn, b.x);
    if (saved?.xMid) batch.copy(b.x, saved.xMid, T * H * 4);
    normed(layer.postNorm, layer.wGateUp, b.gateUp, 2 * I, 'a2');
    if (saved) {
      k.swiglu.encode(batch, { gu: b.gateUp, out: saved.act }, { T, I });
      k.matmulAcc.encode(batch, saved.act, layer.wDown, b.x, { M: T, N: H, K: I, transposeB: true });
      delta('act', saved.act, b.x);
    } else {
      if (adapted('act')) k.swiglu.encode(batch, { gu: b.gateUp, out: b.act! }, { T, I }); // the adapter's input, before down_proj adds to x
      k.matmulSwigluAcc.encode(batch, b.gateUp, layer.wDown, b.x, { M: T, N: H, K: I, transposeB: true });
      delta('act', b.act!, b.x);
    }
  }

  /** `output += adapters(input)` for this block's adapters that read `input` (nothing without adapters). */
  private loraForward(batch: DispatchBatch, T: number, b: BlockForwardBuffers, input: LoraInput, inputBuffer: GPUBuffer, output: GPUBuffer): void {
    const lora = b.adapters;
    if (!lora) return;
    for (const x of lora.layers[this.index]!) {
      if (x.site.input !== input) continue;
      encodeLoraForward(batch, { matmulT: this.k.matmulF32 ?? this.k.matmul, columns: this.k.columns }, x, lora.config.rank, lora.scale, { input: inputBuffer, output, u: b.loraU!, d: b.loraD! }, T);
    }
  }

  /** The adapters' backward for the projection that reads `input`: their gradients, and their share of dInput. */
  private loraBackward(batch: DispatchBatch, p: BlockBackwardPass, n: number, input: LoraInput, inputBuffer: GPUBuffer, dOutput: GPUBuffer, dInput: GPUBuffer): void {
    if (!p.lora) return;
    const { adapters, kernels, scratch } = p.lora;
    for (const ad of adapters.layers[this.index]!) {
      if (ad.site.input === input) encodeLoraBackward(batch, kernels, ad, adapters.config.rank, adapters.scale, { input: inputBuffer, dOutput, dInput, ...scratch }, n);
    }
  }

  /**
   * The training forward in reverse: the MLP and o_proj per chunk, attention over the whole batch,
   * then RoPE, the q/k norms, q/k/v and the input norm per chunk. `p.dX` goes from d output to d input.
   */
  encodeBackward(batch: DispatchBatch, K: BlockBackwardKernels, p: BlockBackwardPass): void {
    const { c, weights: layer, H, I, qkvWidth: W } = this;
    const [nh, nkv, dh] = [c.numHeads, c.numKvHeads, c.headDim];
    const { d, full, grad } = p;
    const rowSum = (rows: GPUBuffer, out: GPUBuffer, n: number) => K.matmulAcc.encode(batch, p.ones, rows, out, { M: 1, N: H, K: n });
    p.chunks.forEach((ch, ci) => {
      const n = ch.rows;
      const a = p.saved[ci]!;
      const dX = p.dX[ci]!;
      p.recompute?.(ci);
      K.linear.encode(batch, { x: a.act, w: layer.wDown, dy: dX, dx: d.act, dw: grad?.wDown, dyT: d.yT }, { T: n, in: I, out: H }, { dw: true });
      this.loraBackward(batch, p, n, 'act', a.act, dX, d.act);
      K.swiglu.encode(batch, { gu: a.gu, dout: d.act, dgu: d.gu }, { T: n, I });
      K.linear.encode(batch, { x: a.a2, w: layer.wGateUp, dy: d.gu, dx: d.tmp, dw: grad?.wGateUp, dyT: d.yT }, { T: n, in: H, out: 2 * I }, { dw: true });
      this.loraBackward(batch, p, n, 'a2', a.a2, d.gu, d.tmp);
      K.rmsnorm.encode(batch, { x: a.xMid, weight: layer.postNorm, dy: d.tmp, dx: d.hN, dwRows: d.wRows }, { T: n, H, eps: c.rmsNormEps });
      if (grad) rowSum(d.wRows, grad.postNorm, n);
      K.add.encode(batch, { x: d.hN, out: dX }, n * H); // d x_mid
      K.linear.encode(batch, { x: a.o, w: layer.wO, dy: dX, dx: d.o, dw: grad?.wO, dyT: d.yT }, { T: n, in: nh * dh, out: H }, { dw: true });
      this.loraBackward(batch, p, n, 'attn', a.o, dX, d.o);
      const rowBytes = nh * dh * 4;
      batch.copy(d.o, full.dO, n * rowBytes, 0, ch.start * rowBytes);
      batch.copy(a.q, full.q, n * rowBytes, 0, ch.start * rowBytes);
      batch.copy(a.o, full.o, n * rowBytes, 0, ch.start * rowBytes);
    });
    K.attention.encode(batch, { q: full.q, kCache: p.kv.k, vCache: p.kv.v, o: full.o, dO: full.dO, rows: p.rows, ends: p.ends, stats: full.stats, dQ: full.dQ, dK: full.dK, dV: full.dV }, { T: p.T, heads: nh, kvHeads: nkv, headDim: dh });
    p.chunks.forEach((ch, ci) => {
      const n = ch.rows;
      const a = p.saved[ci]!;
      batch.copy(full.dQ, d.q, n * nh * dh * 4, ch.start * nh * dh * 4);
      batch.copy(full.dK, d.k, n * nkv * dh * 4, ch.start * nkv * dh * 4);
      batch.copy(full.dV, d.v, n * nkv * dh * 4, ch.start * nkv * dh * 4);
      K.rope.encode(batch, { dQ: d.q, dK: d.k, dV: d.v, rows: p.meta[ci]!, table: this.ropeTable(), dqkv: d.qkv }, this.shape(n));
      // Qwen3: through the per-head q/k norms, back to the projection's output (and the norm weights' gradient).
      if (K.qkNorm) K.qkNorm.encode(batch, { x: a.qkvPre!, weight: layer.qkNorm, dqkv: d.qkv, dwRows: p.qkRows!, dw: grad?.qkNorm }, { ...this.shape(n), eps: c.rmsNormEps });
      K.linear.encode(batch, { x: a.a1, w: layer.wQkv, dy: d.qkv, dx: d.tmp, dw: grad?.wQkv, db: grad?.bQkv, dyT: d.yT, ones: p.ones }, { T: n, in: H, out: W }, { dw: true, db: true });
      this.loraBackward(batch, p, n, 'a1', a.a1, d.qkv, d.tmp);
      K.rmsnorm.encode(batch, { x: p.input[ci]!, weight: layer.inputNorm, dy: d.tmp, dx: d.hN, dwRows: d.wRows }, { T: n, H, eps: c.rmsNormEps });
      if (grad) rowSum(d.wRows, grad.inputNorm, n);
      K.add.encode(batch, { x: d.hN, out: p.dX[ci]! }, n * H); // d x_in
    });
  }
}

/**
 * Full fine-tuning gradients of a Qwen2 model on the GPU: a forward pass that keeps every layer's
 * activations, then the backward pass composed from the backward kernels, for
 *   L = Σ_t g_t · log p(x[t+1] | x[..t])
 * with the upstream g_t given per token (the policy loss's d L / d log p). Gradients come back in
 * GPU buffers under Hugging Face tensor names (q/k/v and gate/up are split back out).
 *
 * This first version runs the whole batch as one chunk of rows (LIMIT_EXCEEDED beyond it) and
 * keeps activations for every layer (no recomputation yet); weights must be f32.
 */
import { IgSearchError } from '../errors.js';
import type { BufferSlice } from '../gpu/device.js';
import { addKernel, encodeAdd } from '../kernels/add/add.js';
import { attentionDkvKernel, attentionDqKernel, encodeAttentionBackward } from '../kernels/attention/attention.js';
import { embeddingBackwardKernel, encodeEmbedding, encodeEmbeddingBackward, groupRowsByToken } from '../kernels/embedding/embedding.js';
import { LinearBackward } from '../kernels/linear/linear.js';
import { encodeLogsoftmaxBackward, encodeLogsoftmaxChunk, logsoftmaxBackwardKernel } from '../kernels/logsoftmax/logsoftmax.js';
import { encodeRmsnorm, encodeRmsnormBackward, rmsnormBackwardKernel } from '../kernels/rmsnorm/rmsnorm.js';
import { encodeRopeBackward, ropeBackwardKernel } from '../kernels/rope/rope.js';
import { encodeSwigluBackward, swigluBackwardKernel } from '../kernels/swiglu/swiglu.js';
import { Matmul } from '../kernels/matmul/matmul.js';
import type { Qwen2Model } from './qwen2.js';
import type { TrainableTensor } from '../kernels/adamw/adamw.js';
import { columnsKernel, encodeColumns } from '../kernels/add/add.js';
import { encodeTranspose, transposeKernel } from '../kernels/transpose/transpose.js';
import type { LoraAdapters } from './lora.js';

export interface Gradients {
  /** Per-token log-probs of the batch (what the forward computed), one array per sequence. */
  logprobs: Float32Array[];
  /** d L / d θ by HF tensor name. The caller owns the buffers (release with `free()`). */
  buffers: Map<string, { buffer: GPUBuffer; offset: number; size: number }>;
  /** Reads one gradient back (f32, HF layout). */
  read(name: string): Promise<Float32Array>;
  /**
   * (parameter, gradient) buffer pairs as the model stores them (fused q/k/v, gate/up), for AdamW.
   * An optimizer keeps these buffers: for the next step, `zero()` this result and pass it as
   * `accumulate`, so the gradients land in the same buffers.
   */
  trainables: TrainableTensor[];
  /** Sets every gradient to 0 (start of the next optimizer step). */
  zero(): void;
  free(): void;
}

interface Storage {
  dEmbed: GPUBuffer[];
  dHead: GPUBuffer[];
  dFinalNorm: GPUBuffer;
  dLayers: { inputNorm: GPUBuffer; wQkv: GPUBuffer; bQkv: GPUBuffer; wO: GPUBuffer; postNorm: GPUBuffer; wGateUp: GPUBuffer; wDown: GPUBuffer }[];
  owned: GPUBuffer[];
}
const storageOf = new WeakMap<Gradients, Storage>();

export interface GradientOptions {
  /** Add this micro-batch's gradients to an earlier result's buffers (gradient accumulation). */
  accumulate?: Gradients;
  /**
   * Activation checkpointing: keep only each layer's input and re-run the layer just before its
   * backward (one layer's activations in memory instead of all of them; about one extra forward).
   */
  recompute?: boolean;
  /**
   * Train these LoRA adapters instead of the base weights: the base is frozen (no base gradients are
   * computed or stored), the adapters' gradients accumulate into their dA/dB, and `trainables` are theirs.
   */
  lora?: LoraAdapters;
}

export async function qwen2Gradients(
  model: Qwen2Model,
  sequences: readonly ArrayLike<number>[],
  upstream: readonly ArrayLike<number>[],
  options: GradientOptions = {},
): Promise<Gradients> {
  const gpu = model.gpu;
  const c = model.config;
  const m = model.internals();
  if (m.options.weights !== 'f32') throw new IgSearchError('INVALID_ARGUMENT', 'gradients need f32 weights (this model stores f16)');
  if (sequences.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'gradients: the batch is empty');
  if (upstream.length !== sequences.length) throw new IgSearchError('SHAPE_MISMATCH', `gradients: ${upstream.length} upstream arrays for ${sequences.length} sequences`);
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const d = c.headDim;
  const nh = c.numHeads;
  const nkv = c.numKvHeads;
  const W = (nh + 2 * nkv) * d;
  const V = c.vocabSize;

  // Rows: every token of every sequence; row t's target is the next token (none at a sequence end).
  const tokens: number[] = [];
  const targets: number[] = [];
  const g: number[] = [];
  const meta: number[] = [];
  const ends: number[] = [];
  sequences.forEach((seq, s) => {
    if (seq.length < 2) throw new IgSearchError('INVALID_ARGUMENT', `sequences[${s}] needs at least 2 tokens`);
    if (upstream[s]!.length !== seq.length - 1) throw new IgSearchError('SHAPE_MISMATCH', `upstream[${s}] has ${upstream[s]!.length} entries for ${seq.length - 1} predicted tokens`);
    if (seq.length > c.maxPositions) throw new IgSearchError('OUT_OF_RANGE', `sequences[${s}]: ${seq.length} positions exceed max_position_embeddings ${c.maxPositions}`);
    const start = tokens.length;
    for (let k = 0; k < seq.length; k++) {
      const token = seq[k]!;
      if (!Number.isInteger(token) || token < 0 || token >= V) throw new IgSearchError('OUT_OF_RANGE', `sequences[${s}][${k}] = ${token} is not a token id (vocab_size ${V})`);
      tokens.push(token);
      targets.push(k + 1 < seq.length ? seq[k + 1]! : 0);
      g.push(k + 1 < seq.length ? upstream[s]![k]! : 0);
      meta.push(token, k, start + k, 0, 0, start, 0, 0);
      ends.push(start + seq.length);
    }
  });
  const T = tokens.length;
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (T * Math.max(W, 2 * I, H) * 4 > limit || T > m.options.maxChunkRows) {
    throw new IgSearchError('LIMIT_EXCEEDED', `gradients: ${T} rows in one batch exceed one chunk (${m.options.maxChunkRows} rows)`, { hint: 'use smaller micro-batches and accumulate' });
  }
  const maxPos = Math.max(...sequences.map((s) => s.length));
  const table = m.ropeTable(maxPos);

  const [linear, plainAcc, plainNT, columns, transpose, add, rmsBack, swiBack, lsBack, ropeBack, dq, dkv, embBack] = await Promise.all([
    LinearBackward.create(gpu),
    Matmul.create(gpu, { accumulate: true }),
    Matmul.create(gpu, {}),
    gpu.kernel(columnsKernel),
    gpu.kernel(transposeKernel),
    gpu.kernel(addKernel),
    gpu.kernel(rmsnormBackwardKernel),
    gpu.kernel(swigluBackwardKernel),
    gpu.kernel(logsoftmaxBackwardKernel),
    gpu.kernel(ropeBackwardKernel),
    gpu.kernel(attentionDqKernel),
    gpu.kernel(attentionDkvKernel),
    gpu.kernel(embeddingBackwardKernel),
  ]);
  const k = m.kernels;
  const held: GPUBuffer[] = [];
  const scratch = (floats: number, label: string) => {
    const b = gpu.allocate(Math.max(4, floats * 4), label);
    held.push(b);
    return b;
  };
  const zeros = (floats: number, label: string) => gpu.upload(new Float32Array(Math.max(1, floats)), label);

  // Gradient buffers: zeroed, or an earlier micro-batch's to add to (contributions accumulate).
  const grads = new Map<string, { buffer: GPUBuffer; offset: number; size: number }>();
  const previous = options.accumulate ? storageOf.get(options.accumulate) : undefined;
  if (options.accumulate && !previous) throw new IgSearchError('INVALID_ARGUMENT', 'gradients: accumulate must be a result of qwen2Gradients that has not been freed');
  const owned: GPUBuffer[] = previous?.owned ?? [];
  const lora = options.lora;
  if (lora && lora.layers.length !== m.layers.length) throw new IgSearchError('SHAPE_MISMATCH', 'gradients: the LoRA adapters were made for another model');
  let placeholder: GPUBuffer | undefined; // frozen base: one 4-byte stand-in for every base gradient
  const gradBuffer = (floats: number, label: string) => {
    if (lora) return (placeholder ??= (() => (owned.push(zeros(1, 'grad.frozen')), owned[owned.length - 1]!))());
    const b = zeros(floats, label);
    owned.push(b);
    return b;
  };
  const dEmbed = previous?.dEmbed ?? m.embed.map((shard) => gradBuffer(shard.rows * H, `grad.embed[${shard.rowStart}]`));
  const dHead = previous?.dHead ?? (m.head === m.embed ? dEmbed : m.head.map((shard) => gradBuffer(shard.rows * H, `grad.lm_head[${shard.rowStart}]`)));
  const dFinalNorm = previous?.dFinalNorm ?? gradBuffer(H, 'grad.model.norm');
  const dLayers =
    previous?.dLayers ??
    m.layers.map((_, i) => ({
      inputNorm: gradBuffer(H, `grad.${i}.input_layernorm`),
      wQkv: gradBuffer(W * H, `grad.${i}.qkv`),
      bQkv: gradBuffer(W, `grad.${i}.qkv_bias`),
      wO: gradBuffer(H * nh * d, `grad.${i}.o_proj`),
      postNorm: gradBuffer(H, `grad.${i}.post_attention_layernorm`),
      wGateUp: gradBuffer(2 * I * H, `grad.${i}.gate_up`),
      wDown: gradBuffer(H * I, `grad.${i}.down_proj`),
    }));
  const storage: Storage = { dEmbed, dHead, dFinalNorm, dLayers, owned };

  try {
    const metaBuf = gpu.upload(Uint32Array.from(meta), 'rows');
    const targetBuf = gpu.upload(Uint32Array.from(targets), 'targets');
    const upstreamBuf = gpu.upload(Float32Array.from(g), 'upstream');
    const endsBuf = gpu.upload(Uint32Array.from(ends), 'sequence_ends');
    const ones = gpu.upload(new Float32Array(T).fill(1), 'ones');
    held.push(metaBuf, targetBuf, upstreamBuf, endsBuf, ones);
    const L = m.layers.length;
    // Activations per layer; with `recompute` only each layer's input is kept and the rest lives in
    // one shared set, refilled by re-running the layer just before its backward.
    const perLayer = (floats: number, label: string) => {
      if (!options.recompute) return m.layers.map(() => scratch(floats, label));
      const shared = scratch(floats, label);
      return m.layers.map(() => shared);
    };
    const save = {
      xIn: m.layers.map(() => scratch(T * H, 'x_in')),
      a1: perLayer(T * H, 'a1'),
      q: perLayer(T * nh * d, 'q'),
      k: perLayer(T * nkv * d, 'k'),
      v: perLayer(T * nkv * d, 'v'),
      o: perLayer(T * nh * d, 'o'),
      xMid: perLayer(T * H, 'x_mid'),
      a2: perLayer(T * H, 'a2'),
      gu: perLayer(T * 2 * I, 'gate_up'),
      act: perLayer(T * I, 'act'),
    };
    const x = scratch(T * H, 'x');
    const qkv = scratch(T * W, 'qkv');
    const xFinal = scratch(T * H, 'x_final');
    const hN = scratch(T * H, 'h_norm');
    const state = scratch(T * 4, 'logsoftmax_state');
    const logp = scratch(T, 'logp');
    const vocabChunk = m.options.maxVocabChunk;
    const logits = scratch(T * Math.min(vocabChunk, V), 'logits_chunk');
    const dzT = scratch(T * Math.min(vocabChunk, V), 'dz_t');

    // ---- forward, keeping activations ----
    let batch = gpu.batch('qwen2.train.forward');
    const fwdU = lora ? scratch(T * lora.config.rank, 'lora.fwd_u') : undefined;
    const fwdD = lora ? scratch(T * Math.max(W, 2 * I, H), 'lora.fwd_d') : undefined;
    const shape = { T, heads: nh, kvHeads: nkv, headDim: d };
    for (const shard of m.embed) encodeEmbedding(batch, k.embedding, shard.buffer, metaBuf, x, { T, H, rowStart: shard.rowStart, rows: shard.rows });
    /** Runs layer l on `x` (in place), filling its saved activations. */
    const layerForward = (l: number, x: GPUBuffer) =>
      model.encodeLayer(batch, l, T, {
        x, a1: save.a1[l]!, qkv, q: save.q[l]!, k: save.k[l]!, v: save.v[l]!, attn: save.o[l]!, xMid: save.xMid[l]!, a2: save.a2[l]!, gateUp: save.gu[l]!, act: save.act[l]!, meta: metaBuf, loraU: fwdU, loraD: fwdD,
      });
    m.layers.forEach((_, l) => {
      batch.copy(x, save.xIn[l]!, T * H * 4);
      layerForward(l, x);
    });
    batch.copy(x, xFinal, T * H * 4);
    encodeRmsnorm(batch, k.rmsnorm, x, m.finalNorm, metaBuf, hN, { T, H, eps: c.rmsNormEps });
    const chunks: { shard: (typeof m.head)[number]; index: number; from: number; cols: number }[] = [];
    m.head.forEach((shard, index) => {
      for (let from = 0; from < shard.rows; from += vocabChunk) chunks.push({ shard, index, from, cols: Math.min(vocabChunk, shard.rows - from) });
    });
    const weights = (ch: (typeof chunks)[number]): BufferSlice => ({ buffer: ch.shard.buffer, offset: ch.from * H * 4, size: ch.cols * H * 4 });
    chunks.forEach((ch, i) => {
      k.matmul.encode(batch, hN, weights(ch), logits, { M: T, N: ch.cols, K: H, transposeB: true });
      encodeLogsoftmaxChunk(batch, k.logsoftmax, { logits, targets: targetBuf, state, out: logp }, { T, cols: ch.cols, colStart: ch.shard.rowStart + ch.from, first: i === 0, last: i === chunks.length - 1 });
    });
    batch.submit();

    // ---- backward ----
    batch = gpu.batch('qwen2.train.backward');
    const dhN = scratch(T * H, 'd_h_norm');
    const dx = scratch(T * H, 'd_x');
    const dTmp = scratch(T * H, 'd_tmp');
    const dwRows = scratch(T * Math.max(H, 1), 'd_w_rows');
    const dyT = scratch(T * Math.max(W, 2 * I, H), 'd_y_t');
    const zero = zeros(T * H, 'zeros');
    held.push(zero);
    batch.copy(zero, dhN, T * H * 4);
    chunks.forEach((ch) => {
      k.matmul.encode(batch, hN, weights(ch), logits, { M: T, N: ch.cols, K: H, transposeB: true });
      encodeLogsoftmaxBackward(batch, lsBack, { logits, targets: targetBuf, state, upstream: upstreamBuf }, { T, cols: ch.cols, colStart: ch.shard.rowStart + ch.from });
      const dW: BufferSlice = { buffer: dHead[ch.index]!, offset: ch.from * H * 4, size: ch.cols * H * 4 };
      linear.encode(batch, { x: hN, w: weights(ch), dy: logits, dx: dhN, dw: lora ? undefined : dW, dyT: dzT }, { T, in: H, out: ch.cols }, { dx: true, dw: true });
    });
    // Column sums over the rows (norm weight gradients): 1ᵀ · rows, accumulated.
    const rowSum = (rows: GPUBuffer, out: GPUBuffer, width: number) => plainAcc.encode(batch, ones, rows, out, { M: 1, N: width, K: T });
    encodeRmsnormBackward(batch, rmsBack, { x: xFinal, weight: m.finalNorm, dy: dhN, dx, dwRows }, { T, H, eps: c.rmsNormEps });
    if (!lora) rowSum(dwRows, dFinalNorm, H);
    const dAct = scratch(T * I, 'd_act');
    const dgu = scratch(T * 2 * I, 'd_gate_up');
    const dO = scratch(T * nh * d, 'd_o');
    const dQ = scratch(T * nh * d, 'd_q');
    const dK = scratch(T * nkv * d, 'd_k');
    const dV = scratch(T * nkv * d, 'd_v');
    const dqkv = scratch(T * W, 'd_qkv');
    const stats = scratch(T * nh * 2, 'attention_stats');
    const r = lora?.config.rank ?? 1;
    const widest = Math.max(W, 2 * I, H);
    const lo = lora ? { dOut: scratch(T * widest, 'lora.d_out'), dOutT: scratch(T * widest, 'lora.d_out_t'), u: scratch(T * r, 'lora.u'), us: scratch(T * r, 'lora.us'), du: scratch(T * r, 'lora.du'), dus: scratch(T * r, 'lora.dus'), dusT: scratch(T * r, 'lora.dus_t') } : undefined;
    // For each adapter reading `input`: dB += (d_out)ᵀ·(s·x·Aᵀ), dA += (s·d_out·B)ᵀ·x, d_input += (s·d_out·B)·A.
    const loraBackward = (l: number, input: 'a1' | 'attn' | 'a2' | 'act', inputBuffer: GPUBuffer, dOutFull: GPUBuffer, dInput: GPUBuffer) => {
      if (!lora || !lo) return;
      for (const x of lora.layers[l]!) {
        const site = x.site;
        if (site.input !== input) continue;
        const sc = lora.scale;
        encodeColumns(batch, columns, dOutFull, lo.dOut, { T, width: site.out, ldx: site.width, xOff: site.offset, ldo: site.out, oOff: 0, beta: 0, scale: 1 });
        k.matmul.encode(batch, inputBuffer, x.a, lo.u, { M: T, N: r, K: site.in, transposeB: true });
        encodeColumns(batch, columns, lo.u, lo.us, { T, width: r, ldx: r, xOff: 0, ldo: r, oOff: 0, beta: 0, scale: sc });
        encodeTranspose(batch, transpose, lo.dOut, lo.dOutT, { R: T, C: site.out });
        plainAcc.encode(batch, lo.dOutT, lo.us, x.dB, { M: site.out, N: r, K: T });
        plainNT.encode(batch, lo.dOut, x.b, lo.du, { M: T, N: r, K: site.out });
        encodeColumns(batch, columns, lo.du, lo.dus, { T, width: r, ldx: r, xOff: 0, ldo: r, oOff: 0, beta: 0, scale: sc });
        encodeTranspose(batch, transpose, lo.dus, lo.dusT, { R: T, C: r });
        plainAcc.encode(batch, lo.dusT, inputBuffer, x.dA, { M: r, N: site.in, K: T });
        plainAcc.encode(batch, lo.dus, x.a, dInput, { M: T, N: site.in, K: r });
      }
    };
    const xRe = options.recompute ? scratch(T * H, 'x_recompute') : undefined;
    for (let l = L - 1; l >= 0; l--) {
      const layer = m.layers[l]!;
      const grad = dLayers[l]!;
      if (xRe) {
        batch.copy(save.xIn[l]!, xRe, T * H * 4);
        layerForward(l, xRe);
      }
      // MLP: x_out = x_mid + down(swiglu(gate_up(norm(x_mid))))
      linear.encode(batch, { x: save.act[l]!, w: layer.wDown, dy: dx, dx: dAct, dw: lora ? undefined : grad.wDown, dyT }, { T, in: I, out: H }, { dw: true });
      loraBackward(l, 'act', save.act[l]!, dx, dAct);
      encodeSwigluBackward(batch, swiBack, save.gu[l]!, dAct, dgu, { T, I });
      linear.encode(batch, { x: save.a2[l]!, w: layer.wGateUp, dy: dgu, dx: dTmp, dw: lora ? undefined : grad.wGateUp, dyT }, { T, in: H, out: 2 * I }, { dw: true });
      loraBackward(l, 'a2', save.a2[l]!, dgu, dTmp);
      encodeRmsnormBackward(batch, rmsBack, { x: save.xMid[l]!, weight: layer.postNorm, dy: dTmp, dx: dhN, dwRows }, { T, H, eps: c.rmsNormEps });
      if (!lora) rowSum(dwRows, grad.postNorm, H);
      encodeAdd(batch, add, dhN, dx, T * H); // dx = d x_mid
      // Attention: x_mid = x_in + o_proj(attention(rope(qkv(norm(x_in)))))
      linear.encode(batch, { x: save.o[l]!, w: layer.wO, dy: dx, dx: dO, dw: lora ? undefined : grad.wO, dyT }, { T, in: nh * d, out: H }, { dw: true });
      loraBackward(l, 'attn', save.o[l]!, dx, dO);
      encodeAttentionBackward(batch, { dq, dkv }, { q: save.q[l]!, k: save.k[l]!, v: save.v[l]!, o: save.o[l]!, dO, meta: metaBuf, ends: endsBuf, stats, dQ, dK, dV }, shape);
      encodeRopeBackward(batch, ropeBack, { dQ, dK, dV, meta: metaBuf, table, dqkv }, shape);
      linear.encode(batch, { x: save.a1[l]!, w: layer.wQkv, dy: dqkv, dx: dTmp, dw: lora ? undefined : grad.wQkv, db: lora ? undefined : grad.bQkv, dyT, ones }, { T, in: H, out: W }, { dw: true, db: true });
      loraBackward(l, 'a1', save.a1[l]!, dqkv, dTmp);
      encodeRmsnormBackward(batch, rmsBack, { x: save.xIn[l]!, weight: layer.inputNorm, dy: dTmp, dx: dhN, dwRows }, { T, H, eps: c.rmsNormEps });
      if (!lora) rowSum(dwRows, grad.inputNorm, H);
      encodeAdd(batch, add, dhN, dx, T * H); // dx = d x_in
    }
    const groups = groupRowsByToken(tokens);
    const [uniqueBuf, offsetsBuf, rowsBuf] = [gpu.upload(groups.unique), gpu.upload(groups.offsets), gpu.upload(groups.rows)];
    held.push(uniqueBuf, offsetsBuf, rowsBuf);
    if (!lora) m.embed.forEach((shard, i) =>
      encodeEmbeddingBackward(batch, embBack, { dx, unique: uniqueBuf, offsets: offsetsBuf, rows: rowsBuf, dE: dEmbed[i]! }, { U: groups.unique.length, H, rowStart: shard.rowStart, rows: shard.rows }),
    );
    batch.submit();
    const logpAll = new Float32Array(await gpu.read(logp, T * 4));
    const logprobs: Float32Array[] = [];
    let at = 0;
    for (const seq of sequences) {
      logprobs.push(logpAll.slice(at, at + seq.length - 1));
      at += seq.length;
    }

    // HF names → (buffer, float offset, float count).
    const set = (name: string, buffer: GPUBuffer, offset: number, size: number) => grads.set(name, { buffer, offset, size });
    if (m.embed.length === 1) set('model.embed_tokens.weight', dEmbed[0]!, 0, V * H);
    if (m.head !== m.embed && m.head.length === 1) set('lm_head.weight', dHead[0]!, 0, V * H);
    set('model.norm.weight', dFinalNorm, 0, H);
    dLayers.forEach((grad, i) => {
      const p = `model.layers.${i}.`;
      set(`${p}input_layernorm.weight`, grad.inputNorm, 0, H);
      set(`${p}self_attn.q_proj.weight`, grad.wQkv, 0, nh * d * H);
      set(`${p}self_attn.k_proj.weight`, grad.wQkv, nh * d * H, nkv * d * H);
      set(`${p}self_attn.v_proj.weight`, grad.wQkv, (nh + nkv) * d * H, nkv * d * H);
      set(`${p}self_attn.q_proj.bias`, grad.bQkv, 0, nh * d);
      set(`${p}self_attn.k_proj.bias`, grad.bQkv, nh * d, nkv * d);
      set(`${p}self_attn.v_proj.bias`, grad.bQkv, (nh + nkv) * d, nkv * d);
      set(`${p}self_attn.o_proj.weight`, grad.wO, 0, H * nh * d);
      set(`${p}post_attention_layernorm.weight`, grad.postNorm, 0, H);
      set(`${p}mlp.gate_proj.weight`, grad.wGateUp, 0, I * H);
      set(`${p}mlp.up_proj.weight`, grad.wGateUp, I * H, I * H);
      set(`${p}mlp.down_proj.weight`, grad.wDown, 0, H * I);
    });
    const trainables: TrainableTensor[] = lora ? lora.trainables() : [
      ...m.embed.map((shard, i) => ({ name: `embed_tokens[${shard.rowStart}]`, param: shard.buffer, grad: dEmbed[i]!, size: shard.rows * H })),
      ...(m.head === m.embed ? [] : m.head.map((shard, i) => ({ name: `lm_head[${shard.rowStart}]`, param: shard.buffer, grad: dHead[i]!, size: shard.rows * H }))),
      { name: 'model.norm', param: m.finalNorm, grad: dFinalNorm, size: H },
      ...m.layers.flatMap((layer, i) => {
        const grad = dLayers[i]!;
        const sizes = { inputNorm: H, wQkv: W * H, bQkv: W, wO: H * nh * d, postNorm: H, wGateUp: 2 * I * H, wDown: H * I } as const;
        return (Object.keys(sizes) as (keyof typeof sizes)[]).map((key) => ({ name: `layers.${i}.${key}`, param: layer[key], grad: grad[key], size: sizes[key] }));
      }),
    ];
    if (lora) {
      grads.clear();
      for (const t of lora.trainables()) grads.set(t.name, { buffer: t.grad, offset: 0, size: t.size });
    }
    let freed = false;
    const result: Gradients = {
      logprobs,
      trainables,
      zero() {
        const encoder = gpu.device.createCommandEncoder({ label: 'zero_grad' });
        for (const b of new Set(owned)) encoder.clearBuffer(b);
        gpu.device.queue.submit([encoder.finish()]);
      },
      buffers: grads,
      async read(name: string) {
        const entry = grads.get(name);
        if (!entry) throw new IgSearchError('INVALID_ARGUMENT', `no gradient named "${name}"`);
        const all = new Float32Array(await gpu.read(entry.buffer, (entry.offset + entry.size) * 4));
        return all.slice(entry.offset, entry.offset + entry.size);
      },
      free() {
        if (freed || !storageOf.has(result)) return;
        freed = true;
        for (const b of new Set(owned)) gpu.pool.release(b);
        storageOf.delete(result);
        if (options.accumulate) storageOf.delete(options.accumulate);
      },
    };
    storageOf.set(result, storage);
    if (options.accumulate) storageOf.delete(options.accumulate); // the new result now owns the buffers
    return result;
  } catch (e) {
    if (!previous) for (const b of new Set(owned)) gpu.pool.release(b);
    throw e;
  } finally {
    for (const b of held) gpu.pool.release(b);
  }
}

/**
 * Consecutive [from, to) groups of sequences whose token counts add up to at most `maxRows` (a
 * longer sequence goes alone), for gradient accumulation over micro-batches.
 */
export function microBatches(lengths: readonly number[], maxRows: number): [number, number][] {
  const groups: [number, number][] = [];
  let from = 0;
  while (from < lengths.length) {
    let to = from;
    let rows = 0;
    while (to < lengths.length && (to === from || rows + lengths[to]! <= maxRows)) rows += lengths[to++]!;
    groups.push([from, to]);
    from = to;
  }
  return groups;
}

/** One weight of the model by HF name, read back from the GPU (f32 weights). */
export async function readModelTensor(model: Qwen2Model, name: string): Promise<Float32Array> {
  const m = model.internals();
  const c = model.config;
  const { hiddenSize: H, intermediateSize: I, headDim: d, numHeads: nh, numKvHeads: nkv } = c;
  if (m.options.weights !== 'f32') throw new IgSearchError('INVALID_ARGUMENT', 'readModelTensor needs f32 weights');
  const read = async (buffer: GPUBuffer, offset: number, size: number) => new Float32Array(await model.gpu.read(buffer, (offset + size) * 4)).slice(offset, offset + size);
  const vocab = async (shards: typeof m.embed) => {
    const out = new Float32Array(c.vocabSize * H);
    for (const shard of shards) out.set(await read(shard.buffer, 0, shard.rows * H), shard.rowStart * H);
    return out;
  };
  if (name === 'model.embed_tokens.weight') return vocab(m.embed);
  if (name === 'lm_head.weight') return vocab(m.head);
  if (name === 'model.norm.weight') return read(m.finalNorm, 0, H);
  const match = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  const layer = match ? m.layers[Number(match[1])] : undefined;
  if (!layer) throw new IgSearchError('INVALID_ARGUMENT', `no tensor named "${name}"`);
  switch (match![2]) {
    case 'input_layernorm.weight': return read(layer.inputNorm, 0, H);
    case 'post_attention_layernorm.weight': return read(layer.postNorm, 0, H);
    case 'self_attn.q_proj.weight': return read(layer.wQkv, 0, nh * d * H);
    case 'self_attn.k_proj.weight': return read(layer.wQkv, nh * d * H, nkv * d * H);
    case 'self_attn.v_proj.weight': return read(layer.wQkv, (nh + nkv) * d * H, nkv * d * H);
    case 'self_attn.q_proj.bias': return read(layer.bQkv, 0, nh * d);
    case 'self_attn.k_proj.bias': return read(layer.bQkv, nh * d, nkv * d);
    case 'self_attn.v_proj.bias': return read(layer.bQkv, (nh + nkv) * d, nkv * d);
    case 'self_attn.o_proj.weight': return read(layer.wO, 0, H * nh * d);
    case 'mlp.gate_proj.weight': return read(layer.wGateUp, 0, I * H);
    case 'mlp.up_proj.weight': return read(layer.wGateUp, I * H, I * H);
    case 'mlp.down_proj.weight': return read(layer.wDown, 0, H * I);
    default: throw new IgSearchError('INVALID_ARGUMENT', `no tensor named "${name}"`);
  }
}

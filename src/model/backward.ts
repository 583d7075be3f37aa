/**
 * Gradients of a Qwen2 model on the GPU for
 *   L = Σ_t g_t · log p(x[t+1] | x[..t])
 * where the upstream g_t is either given per token (host arrays) or produced on the GPU by the
 * policy loss from the log-probs this pass's own forward computed — forward, loss and backward are
 * recorded into one command buffer, with no host round trip between them.
 *
 * Rows (every token of every sequence, packed) run in chunks that fit the device's binding limit:
 * the row-local work (norms, projections, MLP, LM head) goes chunk by chunk, while attention, forward
 * and backward, sees the whole micro-batch through full-length q/k/v/o buffers, so it stays exact
 * across chunks. The forward goes layer by layer over all chunks; with `recompute`, only each
 * layer's input is kept and the layer is re-run just before its backward. A sequence is bounded
 * by the attention buffers (rows × heads × head_dim × 4 bytes per binding), not by a chunk.
 * Gradients land in GPU buffers under Hugging Face tensor names (q/k/v and gate/up split back out).
 */
import { IgSearchError } from '../errors.js';
import type { BufferSlice } from '../gpu/device.js';
import { Add, Columns } from '../kernels/add/add.js';
import { AttentionBackward } from '../kernels/attention/attention.js';
import { EmbeddingBackward, groupRowsByToken } from '../kernels/embedding/embedding.js';
import { LinearBackward } from '../kernels/linear/linear.js';
import { LogsoftmaxGatherBackward } from '../kernels/logsoftmax/logsoftmax.js';
import { Matmul, storageBytes } from '../kernels/matmul/matmul.js';
import { PolicyLoss, type PolicyLossOptions } from '../kernels/policy_loss/policy_loss.js';
import { RmsnormBackward } from '../kernels/rmsnorm/rmsnorm.js';
import { QkNormBackward } from '../kernels/qk_norm/qk_norm.js';
import { RopeBackward } from '../kernels/rope/rope.js';
import { SwigluBackward } from '../kernels/swiglu/swiglu.js';
import { Transpose } from '../kernels/transpose/transpose.js';
import { encodeLoraBackward, type LoraAdapters, type LoraSite } from './lora.js';
import type { CausalLM } from './causal_lm.js';
import { qkvWidth as qkvWidthOf } from './config.js';
import { LAYER_BUFFERS, layerBufferSizes } from './layout.js';
import { finishGradients, storageOf, type Gradients, type LayerGradients, type Storage } from './gradients.js';
import { packTrainingRows, ROW_FIELDS, type SharedPrefix } from './rows.js';

export { microBatches, readModelTensor, type Gradients } from './gradients.js';

/**
 * The policy loss as the upstream: per sequence, one entry per predicted token (length n − 1, the
 * entry k belongs to the prediction of token k + 1). The loss is computed on the log-probs of this
 * pass's forward, on-policy (π_old = π_θ detached: the ratio is 1 and its gradient ∇log π).
 */
export interface PolicyLossRows {
  advantages: readonly ArrayLike<number>[];
  /** Aggregation weight of each token (0: no loss), normalised over the whole optimizer step. */
  weights: readonly ArrayLike<number>[];
  /** Reference-policy log-probs for the KL term; without them β must be 0. */
  reference?: readonly ArrayLike<number>[];
  /** Log-probs of the policy that sampled (default: this forward's own, detached — on-policy). */
  old?: readonly ArrayLike<number>[];
  options: Required<PolicyLossOptions>;
  /** Where the weighted per-token losses go (float `base` + row); default a buffer freed at the end. */
  lossOut?: { buffer: GPUBuffer; base: number };
}

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
  /**
   * Most rows per chunk of row-local work (default 4096; fewer where the binding limit requires).
   * Larger chunks mean fewer, larger dispatches; chunk buffers are what bounds them.
   */
  chunkRows?: number;
  /**
   * Consecutive sequences that begin with the same tokens (the G rollouts of one prompt), in batch
   * order: `count` sequences sharing their first `prefix` tokens. The shared tokens but the last
   * are computed once (forward and backward) and every sequence of the group attends to them; each
   * keeps its own row for the last shared token, which predicts its first own token. Gradients
   * are those of the unshared batch. Default: nothing shared.
   */
  sharedPrefixes?: readonly SharedPrefix[];
}

/** Activations of one layer for one chunk of rows. */
interface ChunkActivations {
  a1: GPUBuffer;
  q: GPUBuffer;
  o: GPUBuffer;
  xMid: GPUBuffer;
  a2: GPUBuffer;
  gu: GPUBuffer;
  act: GPUBuffer;
  /** The q/k/v rows before Qwen3's q/k norms (qkNorm models only). */
  qkvPre?: GPUBuffer;
}

export async function modelGradients(
  model: CausalLM,
  sequences: readonly ArrayLike<number>[],
  upstream: readonly ArrayLike<number>[] | PolicyLossRows,
  options: GradientOptions = {},
): Promise<Gradients> {
  const gpu = model.gpu;
  const c = model.config;
  const m = model.internals();
  // A frozen LoRA base may be stored as bf16/f16 (dx reads it as stored); weights that train need f32.
  if (m.options.weights !== 'f32' && !options.lora) throw new IgSearchError('INVALID_ARGUMENT', `full fine-tuning needs f32 weights (this model stores ${m.options.weights}); load it with weights: "f32", or train LoRA adapters on it`);
  if (sequences.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'gradients: the batch is empty');
  const loss = Array.isArray(upstream) ? undefined : (upstream as PolicyLossRows);
  const perToken = (name: string, arrays: readonly ArrayLike<number>[] | undefined) => {
    if (!arrays) return;
    if (arrays.length !== sequences.length) throw new IgSearchError('SHAPE_MISMATCH', `gradients: ${arrays.length} ${name} arrays for ${sequences.length} sequences`);
    arrays.forEach((a, s) => {
      if (a.length !== sequences[s]!.length - 1) throw new IgSearchError('SHAPE_MISMATCH', `${name}[${s}] has ${a.length} entries for ${sequences[s]!.length - 1} predicted tokens`);
    });
  };
  sequences.forEach((seq, s) => {
    if (seq.length < 2) throw new IgSearchError('INVALID_ARGUMENT', `sequences[${s}] needs at least 2 tokens`);
  });
  if (loss) {
    perToken('advantages', loss.advantages);
    perToken('weights', loss.weights);
    perToken('reference', loss.reference);
    perToken('old', loss.old);
    if (!loss.reference && loss.options.klBeta !== 0) throw new IgSearchError('INVALID_ARGUMENT', 'gradients: a KL coefficient needs reference log-probs', { hint: 'pass loss.reference, or set klBeta to 0' });
  } else {
    perToken('upstream', upstream as readonly ArrayLike<number>[]);
  }
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const d = c.headDim;
  const nh = c.numHeads;
  const nkv = c.numKvHeads;
  const W = qkvWidthOf(c);
  const V = c.vocabSize;
  const L = m.layers.length;

  const { T, tokens, targets, meta, ends, rowOf, shared } = packTrainingRows(sequences, options.sharedPrefixes, c.vocabSize, c.maxPositions);
  /** Per-token arrays laid out by row (0 on each sequence's last row; summed over a shared prefix). */
  const byRow = (arrays: readonly ArrayLike<number>[]) => {
    const out = new Float32Array(T);
    arrays.forEach((a, s) => {
      for (let k = 0; k < a.length; k++) out[rowOf(s, k)]! += a[k]!;
    });
    return out;
  };
  // A shared row carries one loss term for the whole group: the policy loss may not put weight there.
  if (loss) {
    sequences.forEach((seq, s) => {
      for (let k = 0; k < seq.length - 1; k++) {
        if (shared(s, k) && loss.weights[s]![k] !== 0) {
          throw new IgSearchError('INVALID_ARGUMENT', `gradients: weights[${s}][${k}] = ${loss.weights[s]![k]} falls on a shared prefix, where the policy loss needs weight 0`, { hint: 'share only tokens without loss (the prompt)' });
        }
      }
    });
  }

  // Chunks of row-local work; attention buffers span the whole micro-batch.
  const limit = gpu.bindingLimit;
  const widest = Math.max(W, 2 * I, H);
  const C = Math.max(1, Math.min(options.chunkRows ?? 4096, Math.floor(limit / (4 * widest))));
  if (T * nh * d * 4 > limit || T * nh * 2 * 4 > limit) {
    const longest = Math.max(...sequences.map((s) => s.length));
    throw new IgSearchError('LIMIT_EXCEEDED', `gradients: ${T} rows need ${T * nh * d * 4}-byte attention buffers, over this device's ${limit}-byte binding limit`, {
      hint: T > longest ? 'train fewer sequences per micro-batch (microBatchRows)' : `a single sequence of ${longest} tokens is the most this device holds for this model's attention width; use shorter sequences`,
    });
  }
  const chunks: { start: number; rows: number }[] = [];
  for (let start = 0; start < T; start += C) chunks.push({ start, rows: Math.min(C, T - start) });
  const vocabChunk = Math.max(64, Math.min(m.options.maxVocabChunk, Math.floor(limit / (4 * C) / 64) * 64));
  const maxPos = Math.max(...sequences.map((s) => s.length));
  const table = m.ropeTable(maxPos);

  const [linear, plainAcc, plainNT, columns, transpose, add, rmsBack, swiBack, lsBack, ropeBack, attentionBack, embBack, lossKernel, qkBack] = await Promise.all([
    LinearBackward.create(gpu, { weights: m.options.weights }),
    Matmul.create(gpu, { accumulate: true }),
    Matmul.create(gpu, {}),
    Columns.create(gpu),
    Transpose.create(gpu),
    Add.create(gpu),
    RmsnormBackward.create(gpu),
    SwigluBackward.create(gpu),
    LogsoftmaxGatherBackward.create(gpu),
    RopeBackward.create(gpu),
    AttentionBackward.create(gpu, { headDim: d, variant: m.kernels.attention.variant }),
    EmbeddingBackward.create(gpu),
    loss ? PolicyLoss.create(gpu) : undefined,
    c.qkNorm ? QkNormBackward.create(gpu) : undefined,
  ]);
  const k = m.kernels;
  const held: GPUBuffer[] = [];
  const scratch = (floats: number, label: string) => {
    const b = gpu.allocate(Math.max(4, floats * 4), label);
    held.push(b);
    return b;
  };
  const upload = (data: ArrayBufferView, label: string) => {
    const b = gpu.upload(data, label);
    held.push(b);
    return b;
  };
  const zeros = (floats: number, label: string) => gpu.upload(new Float32Array(Math.max(1, floats)), label);
  const perChunk = (floatsPerRow: number, label: string) => chunks.map((ch) => scratch(ch.rows * floatsPerRow, label));

  // Gradient buffers: zeroed, or an earlier micro-batch's to add to (contributions accumulate).
  const previous = options.accumulate ? storageOf.get(options.accumulate) : undefined;
  if (options.accumulate && !previous) throw new IgSearchError('INVALID_ARGUMENT', 'gradients: accumulate must be a result of modelGradients that has not been freed');
  const owned: GPUBuffer[] = previous?.owned ?? [];
  const lora = options.lora;
  if (lora && lora.layers.length !== L) throw new IgSearchError('SHAPE_MISMATCH', 'gradients: the LoRA adapters were made for another model');
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
  const layerSizes = layerBufferSizes(c);
  const dLayers =
    previous?.dLayers ??
    m.layers.map((_, i) => Object.fromEntries(LAYER_BUFFERS.map((b) => [b, gradBuffer(layerSizes[b], `grad.${i}.${b}`)])) as LayerGradients);
  const storage: Storage = { dEmbed, dHead, dFinalNorm, dLayers, owned };

  try {
    // ---- buffers ----
    const metaChunk = chunks.map((ch) => upload(meta.subarray(ch.start * ROW_FIELDS, (ch.start + ch.rows) * ROW_FIELDS), 'rows'));
    const targetChunk = chunks.map((ch) => upload(targets.subarray(ch.start, ch.start + ch.rows), 'targets'));
    const metaAll = upload(meta, 'rows.all');
    const endsAll = upload(ends, 'sequence_ends');
    const ones = upload(new Float32Array(C).fill(1), 'ones');
    const zero = upload(new Float32Array(C * H), 'zeros');
    const x = perChunk(H, 'x');
    const xFinal = perChunk(H, 'x_final');
    const hN = perChunk(H, 'h_norm');
    const state = perChunk(4, 'logsoftmax_state');
    const upstreamChunk = perChunk(1, 'upstream');
    const logp = scratch(T, 'logp');
    // Activations per layer and chunk; with `recompute` one set, refilled layer by layer.
    const sets = Array.from({ length: options.recompute ? 1 : L }, (): ChunkActivations[] =>
      chunks.map((ch) => ({
        a1: scratch(ch.rows * H, 'a1'),
        q: scratch(ch.rows * nh * d, 'q'),
        o: scratch(ch.rows * nh * d, 'o'),
        xMid: scratch(ch.rows * H, 'x_mid'),
        a2: scratch(ch.rows * H, 'a2'),
        gu: scratch(ch.rows * 2 * I, 'gate_up'),
        act: scratch(ch.rows * I, 'act'),
        ...(c.qkNorm ? { qkvPre: scratch(ch.rows * W, 'qkv_pre_norm') } : {}),
      })),
    );
    const qkRows = c.qkNorm ? scratch(C * (nh + nkv) * d, 'qk_norm_dw_rows') : undefined;
    const activations = (l: number) => sets[options.recompute ? 0 : l]!;
    const xIn = m.layers.map(() => perChunk(H, 'x_in'));
    const keys = Array.from({ length: options.recompute ? 1 : L }, () => ({ k: scratch(T * nkv * d, 'k'), v: scratch(T * nkv * d, 'v') }));
    const kv = (l: number) => keys[options.recompute ? 0 : l]!;
    const qkv = scratch(C * W, 'qkv');
    const logits = scratch(C * Math.min(vocabChunk, V), 'logits_chunk');
    const dzT = scratch(C * Math.min(vocabChunk, V), 'dz_t');
    const fwdU = lora ? scratch(C * lora.config.rank, 'lora.fwd_u') : undefined;
    const fwdD = lora ? scratch(C * widest, 'lora.fwd_d') : undefined;

    const batch = gpu.batch('model.train');
    model.rowsForwarded += T;
    const layerForward = (l: number, ci: number, stream: GPUBuffer) => {
      const a = activations(l)[ci]!;
      model.encodeLayer(batch, l, chunks[ci]!.rows, {
        x: stream, a1: a.a1, qkv, qkvPre: a.qkvPre, q: a.q, k: kv(l).k, v: kv(l).v, attn: a.o, xMid: a.xMid, a2: a.a2, gateUp: a.gu, act: a.act, meta: metaChunk[ci]!, lora, loraU: fwdU, loraD: fwdD,
      });
    };
    const headChunks: { shard: (typeof m.head)[number]; index: number; from: number; cols: number }[] = [];
    m.head.forEach((shard, index) => {
      for (let from = 0; from < shard.rows; from += vocabChunk) headChunks.push({ shard, index, from, cols: Math.min(vocabChunk, shard.rows - from) });
    });
    const weightBytes = storageBytes(m.options.weights);
    const headWeights = (ch: (typeof headChunks)[number]): BufferSlice => ({ buffer: ch.shard.buffer, offset: ch.from * H * weightBytes, size: ch.cols * H * weightBytes });

    // ---- forward, layer by layer over all chunks (attention reads the keys earlier chunks wrote) ----
    chunks.forEach((ch, ci) => {
      for (const shard of m.embed) k.embedding.encode(batch, { table: shard.buffer, rows: metaChunk[ci]!, out: x[ci]! }, { T: ch.rows, H, rowStart: shard.rowStart, rows: shard.rows });
    });
    for (let l = 0; l < L; l++) {
      chunks.forEach((ch, ci) => {
        batch.copy(x[ci]!, xIn[l]![ci]!, ch.rows * H * 4);
        layerForward(l, ci, x[ci]!);
      });
    }
    chunks.forEach((ch, ci) => {
      batch.copy(x[ci]!, xFinal[ci]!, ch.rows * H * 4);
      k.rmsnorm.encode(batch, { x: x[ci]!, weight: m.finalNorm, index: metaChunk[ci]!, out: hN[ci]! }, { T: ch.rows, H, eps: c.rmsNormEps });
      headChunks.forEach((hc, i) => {
        k.matmul.encode(batch, hN[ci]!, headWeights(hc), logits, { M: ch.rows, N: hc.cols, K: H, transposeB: true });
        k.logsoftmax.encode(batch, { logits, targets: targetChunk[ci]!, state: state[ci]!, out: logp }, {
          T: ch.rows, cols: hc.cols, colStart: hc.shard.rowStart + hc.from, first: i === 0, last: i === headChunks.length - 1, outBase: ch.start,
        });
      });
    });

    // ---- the upstream gradient: the policy loss on the GPU, or the host's values ----
    if (loss) {
      const old = loss.old ? upload(byRow(loss.old), 'old_logp') : scratch(T, 'old_logp');
      if (!loss.old) batch.copy(logp, old, T * 4);
      // Without a reference β is 0 and the KL term vanishes: the detached log-probs stand in.
      const ref = loss.reference ? upload(byRow(loss.reference), 'ref_logp') : scratch(T, 'ref_logp');
      if (!loss.reference) batch.copy(logp, ref, T * 4);
      const out = loss.lossOut ?? { buffer: scratch(T, 'token_loss'), base: 0 };
      const grad = scratch(T, 'dloss_dlogp');
      lossKernel!.encode(batch, {
        logp, old, reference: ref, advantages: upload(byRow(loss.advantages), 'advantages'), weights: upload(byRow(loss.weights), 'loss_weights'), loss: out.buffer, grad,
      }, T, loss.options, out.base);
      chunks.forEach((ch, ci) => batch.copy(grad, upstreamChunk[ci]!, ch.rows * 4, ch.start * 4));
    } else {
      const g = byRow(upstream as readonly ArrayLike<number>[]);
      chunks.forEach((ch, ci) => gpu.device.queue.writeBuffer(upstreamChunk[ci]!, 0, g, ch.start, ch.rows));
    }

    // ---- backward ----
    const dX = perChunk(H, 'd_x');
    const dhN = scratch(C * H, 'd_h_norm');
    const dTmp = scratch(C * H, 'd_tmp');
    const dwRows = scratch(C * H, 'd_w_rows');
    const dyT = scratch(C * widest, 'd_y_t');
    const dAct = scratch(C * I, 'd_act');
    const dgu = scratch(C * 2 * I, 'd_gate_up');
    const dOChunk = scratch(C * nh * d, 'd_o');
    const dQChunk = scratch(C * nh * d, 'd_q');
    const dKChunk = scratch(C * nkv * d, 'd_k');
    const dVChunk = scratch(C * nkv * d, 'd_v');
    const dqkv = scratch(C * W, 'd_qkv');
    const full = { q: scratch(T * nh * d, 'q.all'), o: scratch(T * nh * d, 'o.all'), dO: scratch(T * nh * d, 'd_o.all'), dQ: scratch(T * nh * d, 'd_q.all'), dK: scratch(T * nkv * d, 'd_k.all'), dV: scratch(T * nkv * d, 'd_v.all'), stats: scratch(T * nh * 2, 'attention_stats') };
    const r = lora?.config.rank ?? 1;
    const lo = lora ? { dOut: scratch(C * widest, 'lora.d_out'), dOutT: scratch(C * widest, 'lora.d_out_t'), u: scratch(C * r, 'lora.u'), us: scratch(C * r, 'lora.us'), du: scratch(C * r, 'lora.du'), dus: scratch(C * r, 'lora.dus'), dusT: scratch(C * r, 'lora.dus_t') } : undefined;
    // Column sums over a chunk's rows (norm weight gradients): 1ᵀ · rows, accumulated.
    const rowSum = (rows: GPUBuffer, out: GPUBuffer, n: number) => plainAcc.encode(batch, ones, rows, out, { M: 1, N: H, K: n });
    const loraKernels = { matmulT: k.matmulF32 ?? k.matmul, columns, transpose, matmulAcc: plainAcc, matmulNT: plainNT };
    const loraBackward = (l: number, n: number, input: LoraSite['input'], inputBuffer: GPUBuffer, dOutFull: GPUBuffer, dInput: GPUBuffer) => {
      if (!lora || !lo) return;
      for (const ad of lora.layers[l]!) if (ad.site.input === input) encodeLoraBackward(batch, loraKernels, ad, r, lora.scale, { input: inputBuffer, dOutput: dOutFull, dInput, ...lo }, n);
    };
    const frozen = lora !== undefined;

    // LM head and final norm, chunk by chunk (logits recomputed per vocabulary chunk).
    chunks.forEach((ch, ci) => {
      const n = ch.rows;
      batch.copy(zero, dhN, n * H * 4);
      headChunks.forEach((hc) => {
        k.matmul.encode(batch, hN[ci]!, headWeights(hc), logits, { M: n, N: hc.cols, K: H, transposeB: true });
        lsBack.encode(batch, { logits, targets: targetChunk[ci]!, state: state[ci]!, upstream: upstreamChunk[ci]! }, { T: n, cols: hc.cols, colStart: hc.shard.rowStart + hc.from });
        const dW: BufferSlice = { buffer: dHead[hc.index]!, offset: hc.from * H * 4, size: hc.cols * H * 4 };
        linear.encode(batch, { x: hN[ci]!, w: headWeights(hc), dy: logits, dx: dhN, dw: frozen ? undefined : dW, dyT: dzT }, { T: n, in: H, out: hc.cols }, { dx: true, dw: true });
      });
      rmsBack.encode(batch, { x: xFinal[ci]!, weight: m.finalNorm, dy: dhN, dx: dX[ci]!, dwRows }, { T: n, H, eps: c.rmsNormEps });
      if (!frozen) rowSum(dwRows, dFinalNorm, n);
    });

    for (let l = L - 1; l >= 0; l--) {
      const layer = m.layers[l]!;
      const grad = dLayers[l]!;
      // MLP and o_proj, chunk by chunk; q, o and dO gathered into whole-batch buffers for attention.
      chunks.forEach((ch, ci) => {
        const n = ch.rows;
        const a = activations(l)[ci]!;
        if (options.recompute) {
          batch.copy(xIn[l]![ci]!, x[ci]!, n * H * 4);
          layerForward(l, ci, x[ci]!);
        }
        linear.encode(batch, { x: a.act, w: layer.wDown, dy: dX[ci]!, dx: dAct, dw: frozen ? undefined : grad.wDown, dyT }, { T: n, in: I, out: H }, { dw: true });
        loraBackward(l, n, 'act', a.act, dX[ci]!, dAct);
        swiBack.encode(batch, { gu: a.gu, dout: dAct, dgu }, { T: n, I });
        linear.encode(batch, { x: a.a2, w: layer.wGateUp, dy: dgu, dx: dTmp, dw: frozen ? undefined : grad.wGateUp, dyT }, { T: n, in: H, out: 2 * I }, { dw: true });
        loraBackward(l, n, 'a2', a.a2, dgu, dTmp);
        rmsBack.encode(batch, { x: a.xMid, weight: layer.postNorm, dy: dTmp, dx: dhN, dwRows }, { T: n, H, eps: c.rmsNormEps });
        if (!frozen) rowSum(dwRows, grad.postNorm, n);
        add.encode(batch, { x: dhN, out: dX[ci]! }, n * H); // d x_mid
        linear.encode(batch, { x: a.o, w: layer.wO, dy: dX[ci]!, dx: dOChunk, dw: frozen ? undefined : grad.wO, dyT }, { T: n, in: nh * d, out: H }, { dw: true });
        loraBackward(l, n, 'attn', a.o, dX[ci]!, dOChunk);
        const rowBytes = nh * d * 4;
        batch.copy(dOChunk, full.dO, n * rowBytes, 0, ch.start * rowBytes);
        batch.copy(a.q, full.q, n * rowBytes, 0, ch.start * rowBytes);
        batch.copy(a.o, full.o, n * rowBytes, 0, ch.start * rowBytes);
      });
      attentionBack.encode(batch, { q: full.q, kCache: kv(l).k, vCache: kv(l).v, o: full.o, dO: full.dO, rows: metaAll, ends: endsAll, stats: full.stats, dQ: full.dQ, dK: full.dK, dV: full.dV }, { T, heads: nh, kvHeads: nkv, headDim: d });
      // RoPE, q/k/v projection and input norm, chunk by chunk.
      chunks.forEach((ch, ci) => {
        const n = ch.rows;
        const a = activations(l)[ci]!;
        batch.copy(full.dQ, dQChunk, n * nh * d * 4, ch.start * nh * d * 4);
        batch.copy(full.dK, dKChunk, n * nkv * d * 4, ch.start * nkv * d * 4);
        batch.copy(full.dV, dVChunk, n * nkv * d * 4, ch.start * nkv * d * 4);
        ropeBack.encode(batch, { dQ: dQChunk, dK: dKChunk, dV: dVChunk, rows: metaChunk[ci]!, table, dqkv }, { T: n, heads: nh, kvHeads: nkv, headDim: d });
        // Qwen3: through the per-head q/k norms, back to the projection's output (and the norm weights' gradient).
        if (qkBack) qkBack.encode(batch, { x: a.qkvPre!, weight: layer.qkNorm, dqkv, dwRows: qkRows!, dw: frozen ? undefined : grad.qkNorm }, { T: n, heads: nh, kvHeads: nkv, headDim: d, eps: c.rmsNormEps });
        linear.encode(batch, { x: a.a1, w: layer.wQkv, dy: dqkv, dx: dTmp, dw: frozen ? undefined : grad.wQkv, db: frozen ? undefined : grad.bQkv, dyT, ones }, { T: n, in: H, out: W }, { dw: true, db: true });
        loraBackward(l, n, 'a1', a.a1, dqkv, dTmp);
        rmsBack.encode(batch, { x: xIn[l]![ci]!, weight: layer.inputNorm, dy: dTmp, dx: dhN, dwRows }, { T: n, H, eps: c.rmsNormEps });
        if (!frozen) rowSum(dwRows, grad.inputNorm, n);
        add.encode(batch, { x: dhN, out: dX[ci]! }, n * H); // d x_in
      });
    }
    if (!frozen) {
      chunks.forEach((ch, ci) => {
        const groups = groupRowsByToken(tokens.subarray(ch.start, ch.start + ch.rows));
        const [unique, offsets, rows] = [upload(groups.unique, 'tokens.unique'), upload(groups.offsets, 'tokens.offsets'), upload(groups.rows, 'tokens.rows')];
        m.embed.forEach((shard, i) =>
          embBack.encode(batch, { dx: dX[ci]!, tokens: unique, offsets, rows, dE: dEmbed[i]! }, { U: groups.unique.length, H, rowStart: shard.rowStart, rows: shard.rows }),
        );
      });
    }
    batch.submit();
    const logprobs: Float32Array[] = [];
    if (!loss) {
      const all = new Float32Array(await gpu.read(logp, T * 4));
      sequences.forEach((seq, s) => logprobs.push(Float32Array.from({ length: seq.length - 1 }, (_, k) => all[rowOf(s, k)]!)));
    }
    return finishGradients(model, storage, lora, logprobs, options.accumulate);
  } catch (e) {
    if (!previous) for (const b of new Set(owned)) gpu.pool.release(b);
    throw e;
  } finally {
    for (const b of held) gpu.pool.release(b);
  }
}

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
import type { DispatchBatch } from '../gpu/device.js';
import { Add, Columns } from '../kernels/add/add.js';
import { AttentionBackward } from '../kernels/attention/attention.js';
import { EmbeddingBackward, groupRowsByToken } from '../kernels/embedding/embedding.js';
import { LinearBackward } from '../kernels/linear/linear.js';
import { LogsoftmaxGatherBackward } from '../kernels/logsoftmax/logsoftmax.js';
import { Matmul } from '../kernels/matmul/matmul.js';
import { PolicyLoss, type PolicyLossOptions } from '../kernels/policy_loss/policy_loss.js';
import { RmsnormBackward } from '../kernels/rmsnorm/rmsnorm.js';
import { QkNormBackward } from '../kernels/qk_norm/qk_norm.js';
import { RopeBackward } from '../kernels/rope/rope.js';
import { SwigluBackward } from '../kernels/swiglu/swiglu.js';
import { Transpose } from '../kernels/transpose/transpose.js';
import type { LoraAdapters, LoraBackwardKernels } from './lora.js';
import type { CausalLM, ModelInternals } from './causal_lm.js';
import type { HeadChunk } from './head.js';
import { BLOCK_ACTIVATIONS, type BlockActivations } from './block.js';
import { qkvWidth as qkvWidthOf, type ModelConfig } from './config.js';
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

type Rows = ReturnType<typeof packTrainingRows>;
type Chunk = { start: number; rows: number };

/** How a pass is cut into chunks, from the model's widths and the device's binding limit. */
interface PassPlan {
  chunks: Chunk[];
  /** Most rows per chunk. */
  C: number;
  /** Widest row of any projection's input or output (scratch sizes). */
  widest: number;
  vocabChunk: number;
  maxPosition: number;
}

type BackwardKernels = Awaited<ReturnType<typeof compileBackwardKernels>>;

/**
 * Gradients of L = Σ g·log p for `sequences` (see the file comment). The driver: check the inputs,
 * plan the chunks, then one command buffer — forward through the blocks, the LM head and the loss,
 * and the same in reverse.
 */
export async function modelGradients(
  model: CausalLM,
  sequences: readonly ArrayLike<number>[],
  upstream: readonly ArrayLike<number>[] | PolicyLossRows,
  options: GradientOptions = {},
): Promise<Gradients> {
  const m = model.internals();
  const loss = checkGradientInputs(model, m, sequences, upstream, options);
  const rows = packTrainingRows(sequences, options.sharedPrefixes, model.config.vocabSize, model.config.maxPositions);
  if (loss) checkSharedRows(loss, sequences, rows);
  const plan = planPass(model, m, sequences, rows.T, options);
  const kernels = await compileBackwardKernels(model, m, loss !== undefined);
  const previous = options.accumulate ? storageOf.get(options.accumulate) : undefined;
  if (options.accumulate && !previous) throw new IgSearchError('INVALID_ARGUMENT', 'gradients: accumulate must be a result of modelGradients that has not been freed');
  const storage = previous ?? gradientStorage(model, m, options.lora);
  const pass = new TrainingPass(model, m, rows, plan, kernels, storage, options);
  try {
    pass.forward();
    pass.upstream(loss ?? (upstream as readonly ArrayLike<number>[]), loss !== undefined);
    pass.headBackward();
    for (let l = m.layers.length - 1; l >= 0; l--) pass.layerBackward(l);
    pass.embeddingBackward();
    const logprobs = await pass.submit(loss ? undefined : sequences);
    return finishGradients(model, storage, options.lora, logprobs, options.accumulate);
  } catch (e) {
    if (!previous) for (const b of new Set(storage.owned)) model.gpu.pool.release(b);
    throw e;
  } finally {
    pass.free();
  }
}

/** Every input check, before anything is allocated; the policy loss when that is the upstream. */
function checkGradientInputs(model: CausalLM, m: ModelInternals, sequences: readonly ArrayLike<number>[], upstream: readonly ArrayLike<number>[] | PolicyLossRows, options: GradientOptions): PolicyLossRows | undefined {
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
  if (options.lora && options.lora.layers.length !== m.layers.length) throw new IgSearchError('SHAPE_MISMATCH', 'gradients: the LoRA adapters were made for another model');
  return loss;
}

/** A shared row carries one loss term for the whole group: the policy loss may not put weight there. */
function checkSharedRows(loss: PolicyLossRows, sequences: readonly ArrayLike<number>[], rows: Rows): void {
  sequences.forEach((seq, s) => {
    for (let k = 0; k < seq.length - 1; k++) {
      if (rows.shared(s, k) && loss.weights[s]![k] !== 0) {
        throw new IgSearchError('INVALID_ARGUMENT', `gradients: weights[${s}][${k}] = ${loss.weights[s]![k]} falls on a shared prefix, where the policy loss needs weight 0`, { hint: 'share only tokens without loss (the prompt)' });
      }
    }
  });
}

/** Chunks of row-local work; attention buffers span the whole micro-batch, bounded by one binding. */
function planPass(model: CausalLM, m: ModelInternals, sequences: readonly ArrayLike<number>[], T: number, options: GradientOptions): PassPlan {
  const c = model.config;
  const limit = model.gpu.bindingLimit;
  const widest = Math.max(qkvWidthOf(c), 2 * c.intermediateSize, c.hiddenSize);
  const C = Math.max(1, Math.min(options.chunkRows ?? 4096, Math.floor(limit / (4 * widest))));
  const attention = T * c.numHeads * c.headDim * 4;
  if (attention > limit || T * c.numHeads * 2 * 4 > limit) {
    const longest = Math.max(...sequences.map((s) => s.length));
    throw new IgSearchError('LIMIT_EXCEEDED', `gradients: ${T} rows need ${attention}-byte attention buffers, over this device's ${limit}-byte binding limit`, {
      hint: T > longest ? 'train fewer sequences per micro-batch (microBatchRows)' : `a single sequence of ${longest} tokens is the most this device holds for this model's attention width; use shorter sequences`,
    });
  }
  const chunks: Chunk[] = [];
  for (let start = 0; start < T; start += C) chunks.push({ start, rows: Math.min(C, T - start) });
  const vocabChunk = Math.max(64, Math.min(m.options.maxVocabChunk, Math.floor(limit / (4 * C) / 64) * 64));
  return { chunks, C, widest, vocabChunk, maxPosition: Math.max(...sequences.map((s) => s.length)) };
}

async function compileBackwardKernels(model: CausalLM, m: ModelInternals, withLoss: boolean) {
  const gpu = model.gpu;
  const [linear, matmulAcc, matmulNT, columns, transpose, add, rmsnorm, swiglu, logsoftmax, rope, attention, embedding, loss, qkNorm] = await Promise.all([
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
    AttentionBackward.create(gpu, { headDim: model.config.headDim, variant: m.kernels.attention.variant }),
    EmbeddingBackward.create(gpu),
    withLoss ? PolicyLoss.create(gpu) : undefined,
    model.config.qkNorm ? QkNormBackward.create(gpu) : undefined,
  ]);
  return { linear, matmulAcc, matmulNT, columns, transpose, add, rmsnorm, swiglu, logsoftmax, rope, attention, embedding, loss, qkNorm };
}

/** Zeroed gradient buffers under the layout's names; a frozen (LoRA) base shares one 4-byte stand-in. */
function gradientStorage(model: CausalLM, m: ModelInternals, lora: LoraAdapters | undefined): Storage {
  const { gpu, config: c } = model;
  const H = c.hiddenSize;
  const owned: GPUBuffer[] = [];
  const zeros = (floats: number, label: string) => gpu.upload(new Float32Array(Math.max(1, floats)), label);
  let placeholder: GPUBuffer | undefined;
  const gradBuffer = (floats: number, label: string) => {
    if (lora) return (placeholder ??= (() => (owned.push(zeros(1, 'grad.frozen')), owned[owned.length - 1]!))());
    const b = zeros(floats, label);
    owned.push(b);
    return b;
  };
  const dEmbed = m.embed.map((shard) => gradBuffer(shard.rows * H, `grad.embed[${shard.rowStart}]`));
  const dHead = m.head === m.embed ? dEmbed : m.head.map((shard) => gradBuffer(shard.rows * H, `grad.lm_head[${shard.rowStart}]`));
  const dFinalNorm = gradBuffer(H, 'grad.model.norm');
  const sizes = layerBufferSizes(c);
  const dLayers = m.layers.map((_, i) => Object.fromEntries(LAYER_BUFFERS.map((b) => [b, gradBuffer(sizes[b], `grad.${i}.${b}`)])) as LayerGradients);
  return { dEmbed, dHead, dFinalNorm, dLayers, owned };
}

/**
 * One training pass recorded into one command buffer: the buffers it holds and the phases in the
 * order they run — `forward` (embedding, the blocks, final norm + LM head + log-softmax), `upstream`
 * (the policy loss or the host's gradient), `headBackward`, `layerBackward` from the last layer to
 * the first, `embeddingBackward`, `submit`.
 */
class TrainingPass {
  private readonly held: GPUBuffer[] = [];
  private readonly batch: DispatchBatch;
  private readonly c: ModelConfig;
  private readonly lora: LoraAdapters | undefined;
  /** A frozen base (LoRA): no base-weight gradients. */
  private readonly frozen: boolean;
  private readonly headChunks: readonly HeadChunk[];
  // Row metadata, per chunk and whole.
  private readonly metaChunk: GPUBuffer[];
  private readonly targetChunk: GPUBuffer[];
  private readonly metaAll: GPUBuffer;
  private readonly endsAll: GPUBuffer;
  private readonly ones: GPUBuffer;
  private readonly zero: GPUBuffer;
  // The residual stream and the head's activations, per chunk.
  private readonly x: GPUBuffer[];
  private readonly xFinal: GPUBuffer[];
  private readonly hN: GPUBuffer[];
  private readonly state: GPUBuffer[];
  private readonly upstreamChunk: GPUBuffer[];
  private readonly logp: GPUBuffer;
  /** Each layer's input per chunk (what `recompute` re-runs a layer from). */
  private readonly xIn: GPUBuffer[][];
  private readonly sets: BlockActivations[][];
  private readonly keys: { k: GPUBuffer; v: GPUBuffer }[];
  private readonly qkv: GPUBuffer;
  private readonly qkRows: GPUBuffer | undefined;
  private readonly logits: GPUBuffer;
  private readonly dzT: GPUBuffer;
  private readonly fwdU: GPUBuffer | undefined;
  private readonly fwdD: GPUBuffer | undefined;
  // Backward scratch.
  private readonly dX: GPUBuffer[];
  private readonly d: Record<'hN' | 'tmp' | 'wRows' | 'yT' | 'act' | 'gu' | 'o' | 'q' | 'k' | 'v' | 'qkv', GPUBuffer>;
  private readonly full: Record<'q' | 'o' | 'dO' | 'dQ' | 'dK' | 'dV' | 'stats', GPUBuffer>;
  private readonly loraKernels: LoraBackwardKernels;
  private readonly lo: { dOut: GPUBuffer; dOutT: GPUBuffer; u: GPUBuffer; us: GPUBuffer; du: GPUBuffer; dus: GPUBuffer; dusT: GPUBuffer } | undefined;

  constructor(
    private readonly model: CausalLM,
    private readonly m: ModelInternals,
    private readonly rows: Rows,
    private readonly plan: PassPlan,
    private readonly K: BackwardKernels,
    private readonly storage: Storage,
    private readonly options: GradientOptions,
  ) {
    const c = (this.c = model.config);
    this.lora = options.lora;
    this.frozen = options.lora !== undefined;
    const { T, meta, targets, ends } = rows;
    const { chunks, C, widest, vocabChunk } = plan;
    const H = c.hiddenSize;
    const [nh, nkv, dh, I, W] = [c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, qkvWidthOf(c)];
    const L = m.layers.length;
    const scratch = (floats: number, label: string) => this.scratch(floats, label);
    const perChunk = (floatsPerRow: number, label: string) => chunks.map((ch) => scratch(ch.rows * floatsPerRow, label));
    m.ropeTable(plan.maxPosition); // grows the model's RoPE table (the blocks read it) to the longest sequence
    this.headChunks = m.lmHead.chunks(vocabChunk);

    this.metaChunk = chunks.map((ch) => this.upload(meta.subarray(ch.start * ROW_FIELDS, (ch.start + ch.rows) * ROW_FIELDS), 'rows'));
    this.targetChunk = chunks.map((ch) => this.upload(targets.subarray(ch.start, ch.start + ch.rows), 'targets'));
    this.metaAll = this.upload(meta, 'rows.all');
    this.endsAll = this.upload(ends, 'sequence_ends');
    this.ones = this.upload(new Float32Array(C).fill(1), 'ones');
    this.zero = this.upload(new Float32Array(C * H), 'zeros');
    this.x = perChunk(H, 'x');
    this.xFinal = perChunk(H, 'x_final');
    this.hN = perChunk(H, 'h_norm');
    this.state = perChunk(4, 'logsoftmax_state');
    this.upstreamChunk = perChunk(1, 'upstream');
    this.logp = scratch(T, 'logp');
    const layerSets = options.recompute ? 1 : L;
    this.sets = Array.from({ length: layerSets }, (): BlockActivations[] =>
      chunks.map((ch) => {
        const set = Object.fromEntries(Object.entries(BLOCK_ACTIVATIONS).map(([name, a]) => [name, scratch(ch.rows * a.perRow(c), a.label)])) as BlockActivations;
        if (c.qkNorm) set.qkvPre = scratch(ch.rows * W, 'self_attn.qkv_pre_norm');
        return set;
      }),
    );
    this.qkRows = c.qkNorm ? scratch(C * (nh + nkv) * dh, 'qk_norm_dw_rows') : undefined;
    this.xIn = m.layers.map(() => perChunk(H, 'x_in'));
    this.keys = Array.from({ length: layerSets }, () => ({ k: scratch(T * nkv * dh, 'k'), v: scratch(T * nkv * dh, 'v') }));
    this.qkv = scratch(C * W, 'qkv');
    this.logits = scratch(C * Math.min(vocabChunk, c.vocabSize), 'logits_chunk');
    this.dzT = scratch(C * Math.min(vocabChunk, c.vocabSize), 'dz_t');
    this.fwdU = this.lora ? scratch(C * this.lora.config.rank, 'lora.fwd_u') : undefined;
    this.fwdD = this.lora ? scratch(C * widest, 'lora.fwd_d') : undefined;

    this.dX = perChunk(H, 'd_x');
    this.d = {
      hN: scratch(C * H, 'd_h_norm'), tmp: scratch(C * H, 'd_tmp'), wRows: scratch(C * H, 'd_w_rows'), yT: scratch(C * widest, 'd_y_t'),
      act: scratch(C * I, 'd_act'), gu: scratch(C * 2 * I, 'd_gate_up'), o: scratch(C * nh * dh, 'd_o'), q: scratch(C * nh * dh, 'd_q'),
      k: scratch(C * nkv * dh, 'd_k'), v: scratch(C * nkv * dh, 'd_v'), qkv: scratch(C * W, 'd_qkv'),
    };
    this.full = { q: scratch(T * nh * dh, 'q.all'), o: scratch(T * nh * dh, 'o.all'), dO: scratch(T * nh * dh, 'd_o.all'), dQ: scratch(T * nh * dh, 'd_q.all'), dK: scratch(T * nkv * dh, 'd_k.all'), dV: scratch(T * nkv * dh, 'd_v.all'), stats: scratch(T * nh * 2, 'attention_stats') };
    const r = this.lora?.config.rank ?? 1;
    this.lo = this.lora ? { dOut: scratch(C * widest, 'lora.d_out'), dOutT: scratch(C * widest, 'lora.d_out_t'), u: scratch(C * r, 'lora.u'), us: scratch(C * r, 'lora.us'), du: scratch(C * r, 'lora.du'), dus: scratch(C * r, 'lora.dus'), dusT: scratch(C * r, 'lora.dus_t') } : undefined;
    this.loraKernels = { matmulT: m.kernels.matmulF32 ?? m.kernels.matmul, columns: K.columns, transpose: K.transpose, matmulAcc: K.matmulAcc, matmulNT: K.matmulNT };
    this.batch = model.gpu.batch('model.train');
  }

  private scratch(floats: number, label: string): GPUBuffer {
    const b = this.model.gpu.allocate(Math.max(4, floats * 4), label);
    this.held.push(b);
    return b;
  }

  private upload(data: ArrayBufferView, label: string): GPUBuffer {
    const b = this.model.gpu.upload(data, label);
    this.held.push(b);
    return b;
  }

  private activations(l: number): BlockActivations[] {
    return this.sets[this.options.recompute ? 0 : l]!;
  }

  private kv(l: number): { k: GPUBuffer; v: GPUBuffer } {
    return this.keys[this.options.recompute ? 0 : l]!;
  }

  /** Layer `l` on chunk `ci` of the stream, its activations saved (the block's forward, shared with inference). */
  private layerForward(l: number, ci: number): void {
    const a = this.activations(l)[ci]!;
    this.m.blocks[l]!.encodeForward(
      this.batch, this.plan.chunks[ci]!.rows,
      { x: this.x[ci]!, qkv: this.qkv, q: a.q, k: this.kv(l).k, v: this.kv(l).v, attn: a.o, gateUp: a.gu, meta: this.metaChunk[ci]!, adapters: this.lora, loraU: this.fwdU, loraD: this.fwdD },
      { saved: a },
    );
  }

  /** Embedding, then layer by layer over all chunks (attention reads the keys earlier chunks wrote), then the head's log-probs. */
  forward(): void {
    const { batch, m, c } = this;
    const k = m.kernels;
    const H = c.hiddenSize;
    const chunks = this.plan.chunks;
    this.model.rowsForwarded += this.rows.T;
    chunks.forEach((ch, ci) => {
      for (const shard of m.embed) k.embedding.encode(batch, { table: shard.buffer, rows: this.metaChunk[ci]!, out: this.x[ci]! }, { T: ch.rows, H, rowStart: shard.rowStart, rows: shard.rows });
    });
    for (let l = 0; l < m.layers.length; l++) {
      chunks.forEach((ch, ci) => {
        batch.copy(this.x[ci]!, this.xIn[l]![ci]!, ch.rows * H * 4);
        this.layerForward(l, ci);
      });
    }
    chunks.forEach((ch, ci) => {
      batch.copy(this.x[ci]!, this.xFinal[ci]!, ch.rows * H * 4);
      m.lmHead.encodeTrainingForward(batch, ch.rows, { x: this.x[ci]!, rows: this.metaChunk[ci]!, hN: this.hN[ci]!, targets: this.targetChunk[ci]!, state: this.state[ci]!, logits: this.logits, results: this.logp }, this.headChunks, ch.start);
    });
  }

  /** The upstream gradient d L / d log p per row: the policy loss on the GPU, or the host's values. */
  upstream(source: PolicyLossRows | readonly ArrayLike<number>[], isLoss: boolean): void {
    const { batch, rows } = this;
    const { T } = rows;
    const chunks = this.plan.chunks;
    /** Per-token arrays laid out by row (0 on each sequence's last row; summed over a shared prefix). */
    const byRow = (arrays: readonly ArrayLike<number>[]) => {
      const out = new Float32Array(T);
      arrays.forEach((a, s) => {
        for (let k = 0; k < a.length; k++) out[rows.rowOf(s, k)]! += a[k]!;
      });
      return out;
    };
    if (!isLoss) {
      const g = byRow(source as readonly ArrayLike<number>[]);
      chunks.forEach((ch, ci) => this.model.gpu.device.queue.writeBuffer(this.upstreamChunk[ci]!, 0, g, ch.start, ch.rows));
      return;
    }
    const loss = source as PolicyLossRows;
    const old = loss.old ? this.upload(byRow(loss.old), 'old_logp') : this.scratch(T, 'old_logp');
    if (!loss.old) batch.copy(this.logp, old, T * 4);
    // Without a reference β is 0 and the KL term vanishes: the detached log-probs stand in.
    const ref = loss.reference ? this.upload(byRow(loss.reference), 'ref_logp') : this.scratch(T, 'ref_logp');
    if (!loss.reference) batch.copy(this.logp, ref, T * 4);
    const out = loss.lossOut ?? { buffer: this.scratch(T, 'token_loss'), base: 0 };
    const grad = this.scratch(T, 'dloss_dlogp');
    this.K.loss!.encode(batch, {
      logp: this.logp, old, reference: ref, advantages: this.upload(byRow(loss.advantages), 'advantages'), weights: this.upload(byRow(loss.weights), 'loss_weights'), loss: out.buffer, grad,
    }, T, loss.options, out.base);
    chunks.forEach((ch, ci) => batch.copy(grad, this.upstreamChunk[ci]!, ch.rows * 4, ch.start * 4));
  }

  /** Column sums over a chunk's rows (norm weight gradients): 1ᵀ · rows, accumulated. */
  private rowSum(rowsBuffer: GPUBuffer, out: GPUBuffer, n: number): void {
    this.K.matmulAcc.encode(this.batch, this.ones, rowsBuffer, out, { M: 1, N: this.c.hiddenSize, K: n });
  }

  /** LM head and final norm, chunk by chunk (logits recomputed per vocabulary chunk): dX of the last layer's output. */
  headBackward(): void {
    const { batch, m, c, K, d, frozen } = this;
    const H = c.hiddenSize;
    this.plan.chunks.forEach((ch, ci) => {
      const n = ch.rows;
      batch.copy(this.zero, d.hN, n * H * 4);
      m.lmHead.encodeTrainingBackward(batch, K, n, {
        xFinal: this.xFinal[ci]!, hN: this.hN[ci]!, targets: this.targetChunk[ci]!, state: this.state[ci]!, upstream: this.upstreamChunk[ci]!, logits: this.logits, dzT: this.dzT, dhN: d.hN, dx: this.dX[ci]!, dwRows: d.wRows,
      }, this.headChunks, frozen ? undefined : this.storage.dHead);
      if (!frozen) this.rowSum(d.wRows, this.storage.dFinalNorm, n);
    });
  }

  /** Layer `l`'s backward (the block's, model/block.ts), re-running its forward first under `recompute`. */
  layerBackward(l: number): void {
    const chunks = this.plan.chunks;
    this.m.blocks[l]!.encodeBackward(this.batch, this.K, {
      chunks, T: this.rows.T, input: this.xIn[l]!, saved: this.activations(l), meta: this.metaChunk, dX: this.dX,
      rows: this.metaAll, ends: this.endsAll, kv: this.kv(l), d: this.d, full: this.full, ones: this.ones, qkRows: this.qkRows,
      grad: this.frozen ? undefined : this.storage.dLayers[l],
      lora: this.lora && this.lo ? { adapters: this.lora, kernels: this.loraKernels, scratch: this.lo } : undefined,
      recompute: this.options.recompute
        ? (ci) => {
            this.batch.copy(this.xIn[l]![ci]!, this.x[ci]!, chunks[ci]!.rows * this.c.hiddenSize * 4);
            this.layerForward(l, ci);
          }
        : undefined,
    });
  }

  /** dE += dX scattered by token (rows grouped by token: no atomics); nothing for a frozen base. */
  embeddingBackward(): void {
    if (this.frozen) return;
    const H = this.c.hiddenSize;
    this.plan.chunks.forEach((ch, ci) => {
      const groups = groupRowsByToken(this.rows.tokens.subarray(ch.start, ch.start + ch.rows));
      const [unique, offsets, rowList] = [this.upload(groups.unique, 'tokens.unique'), this.upload(groups.offsets, 'tokens.offsets'), this.upload(groups.rows, 'tokens.rows')];
      this.m.embed.forEach((shard, i) =>
        this.K.embedding.encode(this.batch, { dx: this.dX[ci]!, tokens: unique, offsets, rows: rowList, dE: this.storage.dEmbed[i]! }, { U: groups.unique.length, H, rowStart: shard.rowStart, rows: shard.rows }),
      );
    });
  }

  /** Submits the pass; with host upstream values, reads back this forward's log-probs per sequence. */
  async submit(sequences: readonly ArrayLike<number>[] | undefined): Promise<Float32Array[]> {
    this.batch.submit();
    if (!sequences) return [];
    const all = new Float32Array(await this.model.gpu.read(this.logp, this.rows.T * 4));
    return sequences.map((seq, s) => Float32Array.from({ length: seq.length - 1 }, (_, k) => all[this.rows.rowOf(s, k)]!));
  }

  free(): void {
    for (const b of this.held) this.model.gpu.pool.release(b);
    this.held.length = 0;
  }
}

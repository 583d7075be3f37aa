/**
 * The decoder-only causal LM (Qwen2/2.5, Qwen3, Llama-3.x / SmolLM2 — what differs between them is
 * in model/config.ts) on WebGPU: forward pass, teacher-forced log-prob scoring, the engine under
 * generation.
 *
 * Rows of many sequences are packed back to back (no padding). Each row carries its position,
 * its slot in a per-layer KV cache, and the cache ranges it attends to: a shared context (a
 * prefix computed once) and its own sequence up to itself. Rows run in chunks that fit the
 * device's binding limits, all layers per chunk; a later chunk reads the cache an earlier one
 * wrote. Only rows that are scored go through the final norm and the LM head, and the LM head
 * runs over vocabulary chunks folded into an online log-softmax: no rows × vocabulary buffer.
 */
import { IgSearchError } from '../errors.js';
import { alignTo4, type DispatchBatch, type Gpu } from '../gpu/device.js';
import { attendsOnlyToCache, Attention, AttentionDecode, type AttentionVariant, MAX_HEAD_DIM } from '../kernels/attention/attention.js';
import { Embedding } from '../kernels/embedding/embedding.js';
import { LogsoftmaxGather } from '../kernels/logsoftmax/logsoftmax.js';
import { Matmul, storageBytes, type MatmulCompute, type MatmulVariant, type StorageDtype } from '../kernels/matmul/matmul.js';
import { Rmsnorm } from '../kernels/rmsnorm/rmsnorm.js';
import { QkNorm } from '../kernels/qk_norm/qk_norm.js';
import { Rope, ropeTable } from '../kernels/rope/rope.js';
import { Swiglu } from '../kernels/swiglu/swiglu.js';
import { checkedSource, openCheckpoint, type TensorSource } from './hf_checkpoint.js';
import { hasTensor, modelTensorShapes, qkvWidth as qkvWidthOf, type ModelConfig } from './config.js';
import { Columns } from '../kernels/add/add.js';
import type { LoraAdapters } from './lora.js';
import { f32ToBf16, f32ToF16 } from './safetensors.js';
import { LmHead, type VocabShard } from './head.js';
import { DecoderBlock } from './block.js';
import { LAYER_BUFFERS, layerBufferSizes, layerPrefix, layerTensors, MATRIX_BUFFERS, tensorSize, type LayerBuffer } from './layout.js';
import { ROW_FIELDS, ScorePlan, type ScorePath } from '../scoring/plan.js';

/** The activation a LoRA adapter reads: the normed rows before q/k/v or gate/up, attention's output, SwiGLU's. */
/** How weight matrices are stored on the GPU. */
export type WeightDtype = StorageDtype;

export interface ModelOptions {
  /** Most rows per forward chunk (default 512; fewer when the binding limit requires). */
  maxChunkRows?: number;
  /** Most vocabulary columns per LM-head chunk (default 8192). */
  maxVocabChunk?: number;
  /** Force a matmul variant (benchmarks). */
  matmulVariant?: MatmulVariant;
  /**
   * Force an attention variant for the forward, decode and backward kernels (benchmarks, tests). Default:
   * 'flash' for the forward and backward wherever the head dim takes it (the forward by layout, see
   * `flashSuits`), and for decoding on GPUs; 'rows' for decoding on CPU adapters.
   */
  attentionVariant?: AttentionVariant;
  /**
   * 'f16': the forward's matmuls may multiply in half precision where the variant a product runs
   * has an f16 path (`wide`: a GPU's products of ≥ 128 rows — prefill, scoring, the training
   * forward; see `MatmulCompute`), summing each slab in f16 into f32 accumulators. Like PyTorch's
   * autocast for the forward; the backward's products stay f32. Needs `shader-f16`. The cost is
   * precision: the fixture model's log-probs move by up to 0.017 nats (against ≤ 2·10⁻⁵ in f32), so
   * importance ratios computed from such log-probs carry ~2% noise. Default 'f32'.
   */
  compute?: MatmulCompute;
  /**
   * Storage of the weight matrices (projections, MLP, embeddings / LM head): 'bf16' halves their
   * bytes and is exact for a BF16 checkpoint (the kernels widen each value by a shift: every
   * log-prob equals the f32 model's); 'f16' halves them too, rounds BF16 values, and needs
   * `shader-f16`. Norms, biases, activations and accumulation stay f32. Full fine-tuning needs 'f32';
   * LoRA trains on any. Default: `load` stores a checkpoint whose weight matrices are all BF16 as 'bf16'
   * (exact, half the memory; LoRA trains on it, full fine-tuning needs `weights: 'f32'`) and anything else
   * as 'f32'; `create` (host tensors) uses 'f32'.
   */
  weights?: WeightDtype;
}

export interface ScoreItem {
  /** Context tokens (at least one). */
  prefix: ArrayLike<number>;
  /** Continuations scored after `prefix`: log p(c_j | prefix, c_<j) for every token. */
  continuations: readonly ArrayLike<number>[];
}

export interface ScoredContinuation {
  /** Per-token log-probs of the continuation. */
  logprobs: Float32Array;
  /** Their mean (NaN for an empty continuation). */
  mean: number;
}

export interface ScoreOptions {
  /** Compute each prefix once and let its continuations attend to its KV cache (default true). */
  prefixCache?: boolean;
  /** LoRA adapters added to their projections; none: the base weights alone (the frozen KL reference under LoRA). */
  adapters?: LoraAdapters;
}

/** @internal */
export interface ModelInternals {
  embed: VocabShard[];
  head: VocabShard[];
  layers: Layer[];
  blocks: DecoderBlock[];
  finalNorm: GPUBuffer;
  lmHead: LmHead;
  kernels: Kernels;
  options: { maxChunkRows: number; maxVocabChunk: number; weights: WeightDtype };
  ropeTable(positions: number): GPUBuffer;
}

export type { VocabShard } from './head.js';

/** A layer's fused GPU buffers (what each holds: model/layout.ts). */
export type Layer = Record<LayerBuffer, GPUBuffer>;

export interface Kernels {
  columns: Columns;
  matmul: Matmul;
  matmulAcc: Matmul;
  /** RMSNorm folded into the projection after it (input norm → q/k/v, post-attention norm → gate/up). */
  matmulNorm: Matmul;
  /** The final norm folded into the LM head, on the rows an index picks. */
  matmulNormIndirect: Matmul;
  /** SwiGLU folded into down_proj, added to the residual stream. */
  matmulSwigluAcc: Matmul;
  /** Decode attention with q/k norm, bias, RoPE and the KV-cache write fused in. */
  attentionDecode: AttentionDecode;
  embedding: Embedding;
  rmsnorm: Rmsnorm;
  rope: Rope;
  attention: Attention;
  swiglu: Swiglu;
  logsoftmax: LogsoftmaxGather;
  /** Qwen3's per-head q/k RMSNorm (compiled only for models that have it). */
  qkNorm?: QkNorm;
  /** A·Bᵀ with f32 B, for LoRA adapters when the weights are stored as bf16/f16 (else `matmul` is f32). */
  matmulF32?: Matmul;
}

export class CausalLM {
  private ropeTable: GPUBuffer | undefined;
  private ropePositions = 0;
  /**
   * Rows (tokens) that have gone through the layers so far — scoring, generation and the training
   * pass's forward (a recomputed layer not counted twice). Step metrics and tests read differences.
   */
  rowsForwarded = 0;
  private freed = false;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    private readonly kernels: Kernels,
    private readonly embed: VocabShard[],
    private readonly head: VocabShard[],
    private readonly layers: Layer[],
    private readonly finalNorm: GPUBuffer,
    private readonly options: Required<Omit<ModelOptions, 'matmulVariant' | 'attentionVariant' | 'compute'>>,
  ) {
    this.lmHead = new LmHead(head, finalNorm, config.hiddenSize, config.vocabSize, storageBytes(options.weights), config.rmsNormEps, kernels);
    this.blocks = layers.map((weights, i) => new DecoderBlock(i, config, weights, kernels, () => this.ropeTable!));
  }

  /** The decoder blocks, one per layer (model/block.ts). */
  private readonly blocks: DecoderBlock[];

  /** The final norm + LM head of every pass (model/head.ts). */
  private readonly lmHead: LmHead;

  /** Loads a Hugging Face checkpoint directory (path, or URL in browsers). */
  static async load(gpu: Gpu, dir: string, options: ModelOptions = {}): Promise<CausalLM> {
    // Streamed: each tensor goes to the GPU a piece at a time, the checkpoint never whole in memory.
    const checkpoint = await openCheckpoint(dir);
    try {
      const weights = options.weights ?? (checkpoint.storedDtype === 'BF16' ? 'bf16' : 'f32');
      return await CausalLM.create(gpu, checkpoint.config, checkpoint.source, { ...options, weights });
    } finally {
      await checkpoint.close();
    }
  }

  /** From host tensors with HF names and layouts (checked against `config`), or a TensorSource that reads them piece by piece. */
  static async create(gpu: Gpu, config: ModelConfig, tensors: ReadonlyMap<string, Float32Array> | TensorSource, options: ModelOptions = {}): Promise<CausalLM> {
    if (config.headDim > MAX_HEAD_DIM) throw new IgSearchError('INVALID_ARGUMENT', `head dimension ${config.headDim} exceeds the supported ${MAX_HEAD_DIM}`);
    // Every fused layer buffer must fit one buffer and one binding of this device (vocabulary tables are sharded).
    const limit = gpu.bindingLimit;
    const weights: WeightDtype = options.weights ?? 'f32';
    if (!['f32', 'f16', 'bf16'].includes(weights)) throw new IgSearchError('INVALID_ARGUMENT', `weights must be "f32", "f16" or "bf16", got ${JSON.stringify(options.weights)}`);
    const bytesPer = storageBytes(weights);
    for (const [buffer, floats] of Object.entries(layerBufferSizes(config))) {
      if (floats * bytesPer > limit) throw new IgSearchError('LIMIT_EXCEEDED', `layer buffer ${buffer} needs ${floats * bytesPer} bytes, over this device's ${limit}-byte buffer/binding limit`, { hint: 'this model is too large for this device' });
    }
    const source = checkedSource(tensors, modelTensorShapes(config));
    const variant = options.matmulVariant;
    const maxVocabChunk = options.maxVocabChunk ?? 8192;
    if (!Number.isInteger(maxVocabChunk) || maxVocabChunk < 64 || maxVocabChunk % 64 !== 0) {
      throw new IgSearchError('INVALID_ARGUMENT', `maxVocabChunk must be a positive multiple of 64 (binding offsets), got ${maxVocabChunk}`);
    }
    if (weights === 'f16' && !gpu.hasF16) throw new IgSearchError('UNSUPPORTED_RUNTIME', 'weights: "f16" needs the WebGPU "shader-f16" feature, which this device lacks; use "bf16" or "f32"');
    const eps = config.rmsNormEps;
    const compute = options.compute ?? 'f32';
    const [columns, matmul, matmulAcc, matmulNorm, matmulNormIndirect, matmulSwigluAcc, attentionDecode, embedding, rmsnorm, rope, attention, swiglu, logsoftmax] = await Promise.all([
      Columns.create(gpu),
      Matmul.create(gpu, { transposeB: true, variant, dtypeB: weights, compute }),
      Matmul.create(gpu, { transposeB: true, accumulate: true, variant, dtypeB: weights, compute }),
      Matmul.create(gpu, { transposeB: true, variant, dtypeB: weights, prologue: 'norm', normEps: eps, compute }),
      Matmul.create(gpu, { transposeB: true, variant, dtypeB: weights, prologue: 'normIndirect', normEps: eps, compute }),
      Matmul.create(gpu, { transposeB: true, accumulate: true, variant, dtypeB: weights, prologue: 'swiglu', compute }),
      AttentionDecode.create(gpu, { headDim: config.headDim, variant: options.attentionVariant }),
      Embedding.create(gpu, { table: weights }),
      Rmsnorm.create(gpu),
      Rope.create(gpu),
      Attention.create(gpu, { headDim: config.headDim, variant: options.attentionVariant }),
      Swiglu.create(gpu),
      LogsoftmaxGather.create(gpu),
    ]);
    // Every value is checked finite as it goes up; on any failure the buffers made so far are released.
    const held: GPUBuffer[] = [];
    const allocate = (floats: number, matrixBuffer: boolean, label: string) => {
      const buffer = gpu.allocate(Math.max(4, alignTo4(floats * storageBytes(matrixBuffer ? weights : 'f32'))), label);
      held.push(buffer);
      return buffer;
    };
    let embed: VocabShard[];
    let head: VocabShard[];
    const layers: Layer[] = [];
    let finalNorm: GPUBuffer;
    try {
      const vocab = async (name: string, label: string): Promise<VocabShard[]> => {
        const shards: VocabShard[] = [];
        for (const { rowStart, rows } of vocabShards(gpu, config, weights)) {
          const buffer = allocate(rows * config.hiddenSize, true, `${label}[${rowStart}..${rowStart + rows})`);
          await writeTensor(gpu, source, name, rowStart * config.hiddenSize, rows * config.hiddenSize, buffer, 0, weights);
          shards.push({ buffer, rowStart, rows });
        }
        return shards;
      };
      embed = await vocab('model.embed_tokens.weight', 'embed_tokens');
      head = config.tieWordEmbeddings ? embed : await vocab('lm_head.weight', 'lm_head');
      // Each fused buffer is its tensors in layout order (model/layout.ts), written in place.
      const layout = layerTensors(config);
      const sizes = layerBufferSizes(config);
      for (let i = 0; i < config.numLayers; i++) {
        const p = layerPrefix(i);
        const layer = {} as Record<LayerBuffer, GPUBuffer>;
        for (const b of LAYER_BUFFERS) {
          const matrixBuffer = MATRIX_BUFFERS.has(b);
          layer[b] = allocate(sizes[b], matrixBuffer, `${p}${b}`);
          for (const t of layout.filter((t) => t.buffer === b)) {
            if (hasTensor(config, t.name)) await writeTensor(gpu, source, `${p}${t.name}`, 0, tensorSize(t), layer[b], t.offset, matrixBuffer ? weights : 'f32');
            else gpu.device.queue.writeBuffer(layer[b], t.offset * 4, new Float32Array(tensorSize(t))); // a tensor the architecture lacks (Llama's bias, q/k norms outside Qwen3): zeros, unused
          }
        }
        layers.push(layer as unknown as Layer);
      }
      finalNorm = allocate(config.hiddenSize, false, 'model.norm');
      await writeTensor(gpu, source, 'model.norm.weight', 0, config.hiddenSize, finalNorm, 0, 'f32');
    } catch (e) {
      for (const b of held) gpu.pool.release(b);
      throw e;
    }
    const qkNorm = config.qkNorm ? await QkNorm.create(gpu) : undefined;
    const matmulF32 = weights === 'f32' ? undefined : await Matmul.create(gpu, { transposeB: true, variant, compute });
    const kernels = { columns, matmul, matmulAcc, matmulNorm, matmulNormIndirect, matmulSwigluAcc, attentionDecode, embedding, rmsnorm, rope, attention, swiglu, logsoftmax, qkNorm, matmulF32 };
    return new CausalLM(gpu, config, kernels, embed, head, layers, finalNorm, {
      maxChunkRows: options.maxChunkRows ?? 512,
      maxVocabChunk,
      weights,
    });
  }

  /** Number of parameters, as the checkpoint holds them (biases and q/k norms only where the architecture has them). */
  get parameters(): number {
    return [...modelTensorShapes(this.config).values()].reduce((n, shape) => n + tensorSize({ shape }), 0);
  }

  /** Storage of the weight matrices. */
  get weightDtype(): WeightDtype {
    return this.options.weights;
  }

  /** log p(x[t+1] | x[..t]) for every sequence (length n − 1 each). */
  async sequenceLogprobs(sequences: readonly ArrayLike<number>[], options: Pick<ScoreOptions, 'adapters'> = {}): Promise<Float32Array[]> {
    return this.scorePaths(
      sequences.map((s) => ({ segments: [s], scoreLast: Math.max(0, s.length - 1) })),
      { ...options, prefixCache: false },
      (i) => `sequences[${i}]`,
    );
  }

  /** Scores `continuations` after one shared `prefix` (the prefix is computed once by default). */
  async scoreContinuations(prefix: ArrayLike<number>, continuations: readonly ArrayLike<number>[], options: ScoreOptions = {}): Promise<ScoredContinuation[]> {
    return (await this.scoreBatch([{ prefix, continuations }], options))[0]!;
  }

  /** Many (prefix, continuations) groups in one batched pass. */
  async scoreBatch(items: readonly ScoreItem[], options: ScoreOptions = {}): Promise<ScoredContinuation[][]> {
    const paths: ScorePath[] = [];
    const names: [string, string][] = [];
    items.forEach((item, i) => {
      if (item.prefix.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `items[${i}].prefix is empty: the first continuation token needs a context`);
      item.continuations.forEach((c, j) => {
        paths.push({ segments: [item.prefix, c], scoreLast: c.length });
        names.push([`items[${i}].prefix`, `items[${i}].continuations[${j}]`]);
      });
    });
    const scores = await this.scorePaths(paths, options, (i, j) => names[i]![j]!);
    let at = 0;
    return items.map((item) =>
      item.continuations.map(() => {
        const logprobs = scores[at++]!;
        let sum = 0;
        for (const v of logprobs) sum += v;
        return { logprobs, mean: logprobs.length ? sum / logprobs.length : NaN };
      }),
    );
  }

  /**
   * The general form: each path is a list of token segments, its last `scoreLast` tokens scored.
   * With `prefixCache` (default), equal leading segments — up to two levels, e.g. trajectory then
   * documents — are computed once and shared through the KV cache.
   */
  async scorePaths(
    paths: readonly ScorePath[],
    options: ScoreOptions = {},
    name: (path: number, segment: number) => string = (i, j) => `paths[${i}].segments[${j}]`,
  ): Promise<Float32Array[]> {
    const plan = new ScorePlan();
    const share = options.prefixCache ?? true;
    const slots = paths.map((path, i) => {
      let length = 0;
      path.segments.forEach((segment, j) => {
        this.checkTokens(segment, name(i, j), length);
        length += segment.length;
      });
      return plan.add(path, share);
    });
    const scores = await this.run(plan, options.adapters);
    return slots.map((s) => (s.length ? scores.slice(s[0]!, s[0]! + s.length) : new Float32Array(0)));
  }

  /** @internal The GPU-side pieces the backward pass (model/backward.ts) works on. */
  internals(): ModelInternals {
    if (this.freed) throw new IgSearchError('INVALID_ARGUMENT', 'this model was freed');
    return { embed: this.embed, head: this.head, layers: this.layers, blocks: this.blocks, finalNorm: this.finalNorm, lmHead: this.lmHead, kernels: this.kernels, options: this.options, ropeTable: (positions: number) => (this.ensureRope(positions), this.ropeTable!) };
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    const pool = this.gpu.pool;
    const shards = new Set([...this.embed, ...this.head].map((s) => s.buffer));
    for (const b of shards) pool.release(b);
    for (const l of this.layers) for (const b of Object.values(l)) pool.release(b);
    pool.release(this.finalNorm);
    if (this.ropeTable) pool.release(this.ropeTable);
  }

  private checkTokens(tokens: ArrayLike<number>, what: string, offset = 0): void {
    const { vocabSize, maxPositions } = this.config;
    if (this.freed) throw new IgSearchError('INVALID_ARGUMENT', 'this model was freed');
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new IgSearchError('OUT_OF_RANGE', `${what}[${i}] = ${t} is not a token id (vocab_size ${vocabSize})`);
    }
    if (offset + tokens.length > maxPositions) {
      throw new IgSearchError('OUT_OF_RANGE', `${what}: ${offset + tokens.length} positions exceed max_position_embeddings ${maxPositions}`);
    }
  }

  /** A KV cache of `rows` slots per layer, for `forwardRows` (generation keeps one across steps). */
  createKvCache(rows: number): KvCache {
    const c = this.config;
    const bytes = rows * c.numKvHeads * c.headDim * 4;
    const limit = this.gpu.bindingLimit;
    if (!Number.isSafeInteger(rows) || rows < 1) throw new IgSearchError('INVALID_ARGUMENT', `KV cache rows must be a positive integer, got ${rows}`);
    if (bytes > limit) {
      throw new IgSearchError('LIMIT_EXCEEDED', `${rows} rows need a ${bytes}-byte KV cache per layer, over this device's ${limit}-byte binding limit`, {
        hint: 'use fewer or shorter sequences per call',
      });
    }
    const alloc = (kind: string) => this.layers.map((_, i) => this.gpu.allocate(bytes, `layers.${i}.${kind}_cache`));
    return new KvCache(this.gpu, rows, alloc('k'), alloc('v'));
  }

  /** Runs a plan; returns the log-prob of every selection, indexed by slot. */
  private async run(plan: ScorePlan, adapters: LoraAdapters | undefined): Promise<Float32Array> {
    if (plan.slots === 0) return new Float32Array(0);
    const selections = plan.sortedSelections();
    const cache = this.createKvCache(plan.rows);
    try {
      this.ensureRope(plan.maxPosition + 1);
      const { logprobs } = await this.forwardRows(plan.rowInfo(), cache, { selections, adapters });
      const bySlot = new Float32Array(plan.slots);
      selections.forEach((sel, i) => (bySlot[sel.slot] = logprobs[i]!));
      return bySlot;
    } finally {
      cache.free();
    }
  }

  /**
   * The engine under scoring and generation: runs packed rows (`ROW_FIELDS` u32 each: token,
   * position, KV slot, context range, own-segment start, second context range) through every
   * layer, writing their keys and values into `cache`. Returns log p(target) for each selection
   * (sorted by row; a row may appear several times) and the full logits of `logitsRows`
   * (ascending row indices), `[logitsRows.length, vocab]`.
   */
  async forwardRows(
    info: Uint32Array,
    cache: KvCache,
    want: { selections?: readonly { row: number; target: number }[]; logitsRows?: readonly number[]; hiddenRows?: readonly number[]; adapters?: LoraAdapters } = {},
  ): Promise<{ logprobs: Float32Array; logits: Float32Array; hidden: Float32Array }> {
    const lora = want.adapters;
    const gpu = this.gpu;
    const c = this.config;
    const rowCount = info.length / ROW_FIELDS;
    const selections = want.selections ?? [];
    const logitsRows = want.logitsRows ?? [];
    const V = c.vocabSize;
    if (!Number.isInteger(rowCount)) throw new IgSearchError('SHAPE_MISMATCH', `row info holds ${info.length} u32, not a multiple of ${ROW_FIELDS}`);
    let maxPos = 0;
    for (let r = 0; r < rowCount; r++) {
      const kvRow = info[r * ROW_FIELDS + 2]!;
      if (kvRow >= cache.rows) throw new IgSearchError('OUT_OF_RANGE', `row ${r}: KV slot ${kvRow} is outside the ${cache.rows}-row cache`);
      if (info[r * ROW_FIELDS]! >= V) throw new IgSearchError('OUT_OF_RANGE', `row ${r}: token ${info[r * ROW_FIELDS]} is not below vocab_size ${V}`);
      maxPos = Math.max(maxPos, info[r * ROW_FIELDS + 1]!);
    }
    if (maxPos >= c.maxPositions) throw new IgSearchError('OUT_OF_RANGE', `position ${maxPos} is not below max_position_embeddings ${c.maxPositions}`);
    this.ensureRope(maxPos + 1);
    if (cache.freed) throw new IgSearchError('INVALID_ARGUMENT', 'this KV cache was freed');
    this.rowsForwarded += rowCount;
    const H = c.hiddenSize;
    const d = c.headDim;
    const qkvWidth = qkvWidthOf(c);
    const limit = gpu.bindingLimit;
    const widest = Math.max(H, qkvWidth, 2 * c.intermediateSize);
    const chunkRows = Math.max(1, Math.min(this.options.maxChunkRows, Math.floor(limit / (4 * widest))));

    const pool = gpu.pool;
    const held: GPUBuffer[] = [];
    const alloc = (bytes: number, label: string) => {
      const b = gpu.allocate(Math.max(bytes, 4), label);
      held.push(b);
      return b;
    };
    const T = Math.max(1, Math.min(chunkRows, rowCount));
    const x = alloc(T * H * 4, 'hidden');
    const a = alloc(T * H * 4, 'normed');
    const qkv = alloc(T * qkvWidth * 4, 'qkv');
    const q = alloc(T * c.numHeads * d * 4, 'q');
    const attn = alloc(T * c.numHeads * d * 4, 'attention');
    const gateUp = alloc(T * 2 * c.intermediateSize * 4, 'gate_up');
    const act = alloc(T * c.intermediateSize * 4, 'swiglu');
    const meta = alloc(T * ROW_FIELDS * 4, 'rows');
    const loraU = lora ? alloc(T * lora.config.rank * 4, 'lora_u') : undefined;
    const loraD = lora ? alloc(T * Math.max(H, qkvWidth, c.intermediateSize) * 4, 'lora_delta') : undefined;
    // A row can be selected several times (its children's first tokens), so selections per chunk
    // can exceed its rows: the head runs over them in groups of at most T.
    const index = alloc(T * 4, 'scored_rows');
    const targets = alloc(T * 4, 'targets');
    const state = alloc(T * 16, 'logsoftmax_state');
    const vocabChunk = Math.max(64, Math.min(this.options.maxVocabChunk, Math.floor(limit / (4 * T) / 64) * 64));
    const logitsChunk = alloc(T * Math.min(vocabChunk, V) * 4, 'logits_chunk');
    const results = alloc(selections.length * 4, 'logprobs');
    // Full logits: groups of rows small enough for one [rows, V] binding.
    const logitsGroup = Math.max(1, Math.min(T, Math.floor(limit / (4 * V))));
    const logitsOut = logitsRows.length ? alloc(logitsGroup * V * 4, 'logits') : undefined;
    const logits = new Float32Array(logitsRows.length * V);
    const hiddenRows = want.hiddenRows ?? [];
    const hidden = new Float32Array(hiddenRows.length * H);
    try {
      let nextHidden = 0;
      let outBase = 0;
      let next = 0; // next selection
      let nextLogits = 0;
      const queue = gpu.device.queue;
      for (let start = 0; start < rowCount; start += T) {
        const n = Math.min(T, rowCount - start);
        const rows = info.subarray(start * ROW_FIELDS, (start + n) * ROW_FIELDS);
        queue.writeBuffer(meta, 0, rows);
        const batch = gpu.batch('model.forward');
        this.encodeLayers(batch, n, rows, { x, a, qkv, q, attn, gateUp, act, meta, kCache: cache.k, vCache: cache.v, adapters: lora, loraU, loraD });
        let upto = next;
        while (upto < selections.length && selections[upto]!.row < start + n) upto++;
        // Each group of selections reuses the index/target buffers, so each goes in its own submit.
        let current = batch;
        for (let from = next; from < upto; from += T) {
          if (from !== next) current = gpu.batch('model.head');
          const group = selections.slice(from, Math.min(upto, from + T));
          queue.writeBuffer(index, 0, Uint32Array.from(group, (sel) => sel.row - start));
          queue.writeBuffer(targets, 0, Uint32Array.from(group, (sel) => sel.target));
          this.lmHead.encodeScores(current, group.length, { x, index, targets, state, logits: logitsChunk, results }, vocabChunk, outBase);
          outBase += group.length;
          current.submit();
        }
        if (upto === next) batch.submit();
        next = upto;
        let lastLogits = nextLogits;
        while (lastLogits < logitsRows.length && logitsRows[lastLogits]! < start + n) lastLogits++;
        for (let from = nextLogits; from < lastLogits; from += logitsGroup) {
          const group = logitsRows.slice(from, Math.min(lastLogits, from + logitsGroup));
          queue.writeBuffer(index, 0, Uint32Array.from(group, (row) => row - start));
          const head = gpu.batch('model.logits');
          this.lmHead.encodeLogits(head, group.length, { x, index, out: logitsOut! });
          head.submit();
          logits.set(new Float32Array(await gpu.read(logitsOut!, group.length * V * 4)), from * V);
        }
        nextLogits = lastLogits;
        nextHidden = await this.readHidden(x, a, meta, start, n, hiddenRows, nextHidden, hidden);
      }
      const logprobs = selections.length ? new Float32Array(await gpu.read(results, selections.length * 4)) : new Float32Array(0);
      return { logprobs, logits, hidden };
    } finally {
      for (const b of held) pool.release(b);
    }
  }

  /** The final-normed hidden states of `rows` (ascending) that fall in chunk [start, start + n), from `next` on; returns the next one to read. */
  private async readHidden(x: GPUBuffer, normed: GPUBuffer, meta: GPUBuffer, start: number, n: number, rows: readonly number[], next: number, out: Float32Array): Promise<number> {
    let last = next;
    while (last < rows.length && rows[last]! < start + n) last++;
    if (last === next) return next;
    const H = this.config.hiddenSize;
    const batch = this.gpu.batch('model.final_norm');
    this.kernels.rmsnorm.encode(batch, { x, weight: this.finalNorm, index: meta, out: normed }, { T: n, H, eps: this.config.rmsNormEps });
    batch.submit();
    const chunk = new Float32Array(await this.gpu.read(normed, n * H * 4));
    for (let i = next; i < last; i++) out.set(chunk.subarray((rows[i]! - start) * H, (rows[i]! - start + 1) * H), i * H);
    return last;
  }

  /**
   * Decoder embeddings (Qwen3-Embedding's recipe): the final-normed hidden state of each sequence's
   * last token, L2-normalised unless told otherwise, `hiddenSize` floats each. The instruction
   * before a query and the end-of-text token after each text are the caller's, as that model card
   * gives them.
   */
  async embedLastToken(sequences: readonly ArrayLike<number>[], options: { normalize?: boolean } = {}): Promise<Float32Array[]> {
    const plan = new ScorePlan();
    const last: number[] = [];
    sequences.forEach((s, i) => {
      if (s.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `sequences[${i}] is empty`);
      this.checkTokens(s, `sequences[${i}]`);
      plan.add({ segments: [s], scoreLast: 0 }, false);
      last.push(plan.rows - 1);
    });
    if (sequences.length === 0) return [];
    const cache = this.createKvCache(plan.rows);
    try {
      this.ensureRope(plan.maxPosition + 1);
      const { hidden } = await this.forwardRows(plan.rowInfo(), cache, { hiddenRows: last });
      const H = this.config.hiddenSize;
      return last.map((_, i) => {
        const v = hidden.slice(i * H, (i + 1) * H);
        if (options.normalize === false) return v;
        const norm = Math.max(Math.hypot(...v), 1e-12);
        return v.map((x) => x / norm);
      });
    } finally {
      cache.free();
    }
  }

  /** The layers over packed rows `rows` (the host copy of `b.meta`), which decide how attention runs. */
  private encodeLayers(
    batch: DispatchBatch,
    T: number,
    rows: Uint32Array,
    b: { x: GPUBuffer; a: GPUBuffer; qkv: GPUBuffer; q: GPUBuffer; attn: GPUBuffer; gateUp: GPUBuffer; act: GPUBuffer; meta: GPUBuffer; kCache: GPUBuffer[]; vCache: GPUBuffer[]; adapters: LoraAdapters | undefined; loraU?: GPUBuffer; loraD?: GPUBuffer },
  ): void {
    const k = this.kernels;
    const H = this.config.hiddenSize;
    for (const shard of this.embed) k.embedding.encode(batch, { table: shard.buffer, rows: b.meta, out: b.x }, { T, H, rowStart: shard.rowStart, rows: shard.rows });
    // A decode step's rows read no key another row writes: the fused decode kernel; else by layout.
    const attention = attendsOnlyToCache(rows, ROW_FIELDS) ? 'decode' : k.attention.variantFor(rows, ROW_FIELDS);
    for (const block of this.blocks) block.encodeForward(batch, T, { ...b, k: b.kCache[block.index]!, v: b.vCache[block.index]! }, { attention });
  }

  private ensureRope(positions: number): void {
    if (positions <= this.ropePositions) return;
    const size = Math.min(this.config.maxPositions, Math.max(positions, 2 * this.ropePositions, 256));
    if (this.ropeTable) this.gpu.pool.release(this.ropeTable);
    this.ropeTable = this.gpu.upload(ropeTable(size, this.config.headDim, this.config.ropeTheta, this.config.ropeScaling), 'rope_table');
    this.ropePositions = size;
  }
}

/** Per-layer key and value buffers; slots are the `kvRow` of the rows written into them. */
export class KvCache {
  freed = false;

  constructor(
    private readonly gpu: Gpu,
    readonly rows: number,
    readonly k: GPUBuffer[],
    readonly v: GPUBuffer[],
  ) {}

  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const b of [...this.k, ...this.v]) this.gpu.pool.release(b);
  }
}

/** Row ranges of the vocabulary tables: as many rows per buffer as one binding holds (a multiple of 64, so LM-head chunks start at 256-byte-aligned offsets). */
function vocabShards(gpu: Gpu, config: ModelConfig, weights: WeightDtype): { rowStart: number; rows: number }[] {
  const H = config.hiddenSize;
  const bytes = storageBytes(weights);
  const limit = gpu.bindingLimit;
  const perShard = Math.max(64, Math.floor(limit / (H * bytes) / 64) * 64);
  const shards: { rowStart: number; rows: number }[] = [];
  for (let rowStart = 0; rowStart < config.vocabSize; rowStart += perShard) shards.push({ rowStart, rows: Math.min(perShard, config.vocabSize - rowStart) });
  return shards;
}

/** Values per piece a tensor is read, checked and written in (8 MiB as f32): the host holds one piece at a time. */
const UPLOAD_PIECE = 1 << 21;

/**
 * Elements [from, from + count) of tensor `name` into `buffer` at element `at`, a piece at a time,
 * stored as `dtype`. A non-finite value is a NON_FINITE error naming the tensor and index.
 */
async function writeTensor(gpu: Gpu, source: TensorSource, name: string, from: number, count: number, buffer: GPUBuffer, at: number, dtype: WeightDtype): Promise<void> {
  const bytes = storageBytes(dtype);
  if (bytes === 2 && (at % 2 !== 0 || from % 2 !== 0)) throw new IgSearchError('INVALID_ARGUMENT', `tensor "${name}": ${dtype} weights need even tensor offsets (writes are 4-byte aligned); load with weights "f32"`);
  for (let a = 0; a < count; a += UPLOAD_PIECE) {
    const b = Math.min(count, a + UPLOAD_PIECE);
    const values = await source.read(name, from + a, from + b);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) throw new IgSearchError('NON_FINITE', `tensor "${name}" holds ${values[i]} at index ${from + a + i}`, { hint: 'the checkpoint is corrupt or training diverged; load an earlier one' });
    }
    let data: ArrayBufferView = dtype === 'f16' ? f32ToF16(values) : dtype === 'bf16' ? f32ToBf16(values) : values;
    if (data.byteLength % 4 !== 0) {
      // An odd count of halves: pad to 4 bytes (the buffer is sized for it; a following tensor overwrites the pad).
      const padded = new Uint16Array(values.length + 1);
      padded.set(data as Uint16Array);
      data = padded;
    }
    gpu.device.queue.writeBuffer(buffer, (at + a) * bytes, data.buffer, data.byteOffset, data.byteLength);
  }
}

/**
 * BERT-family text encoders (BERT, e5, bge, all-MiniLM) as published on the Hub (`model_type`
 * "bert"): learned absolute positions and token types, post-LayerNorm blocks with an erf-GELU MLP,
 * bidirectional attention. Sequences are packed, not padded: each row attends to the rows of its own
 * sequence, so a batch of mixed lengths costs its real tokens. Inference only; sentence embeddings
 * are pooled and L2-normalised on the GPU (`embed`), so encoding a corpus reads back one vector per
 * passage, never its hidden states.
 */
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { ENCODER_MAX_HEAD_DIM, EncoderKernels, type Pooling } from '../kernels/encoder/encoder.js';
import { Matmul } from '../kernels/matmul/matmul.js';
import { checkedSource, openModelDirectory, type TensorSource } from './hf_checkpoint.js';

export type { Pooling } from '../kernels/encoder/encoder.js';

export interface EncoderConfig {
  modelType: 'bert';
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
}

/** Reads a BERT-family `config.json`; errors name the file and field. */
export function readEncoderConfig(text: string, path = 'config.json'): EncoderConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `${path}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new IgSearchError('INVALID_ARGUMENT', `${path}: expected a JSON object`);
  const fail = (field: string, what: string): never => {
    throw new IgSearchError('INVALID_ARGUMENT', `${path}: field "${field}" ${what}, found ${JSON.stringify(json[field])}`);
  };
  if (json['model_type'] !== 'bert') fail('model_type', 'must be "bert" (BERT, e5, bge, all-MiniLM)');
  const int = (field: string, fallback?: number) => {
    const v = json[field] ?? fallback;
    if (!Number.isInteger(v) || (v as number) < 1) fail(field, 'must be a positive integer');
    return v as number;
  };
  const act = json['hidden_act'] ?? 'gelu';
  if (act !== 'gelu') fail('hidden_act', 'must be "gelu" (the erf GELU BERT models use)');
  const positions = json['position_embedding_type'] ?? 'absolute';
  if (positions !== 'absolute') fail('position_embedding_type', 'must be "absolute"');
  const eps = json['layer_norm_eps'] ?? 1e-12;
  if (typeof eps !== 'number' || !(eps > 0)) fail('layer_norm_eps', 'must be a positive number');
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  if (hiddenSize % numHeads !== 0) fail('num_attention_heads', `must divide hidden_size ${hiddenSize}`);
  if (hiddenSize / numHeads > ENCODER_MAX_HEAD_DIM) fail('num_attention_heads', `leaves a head dimension over ${ENCODER_MAX_HEAD_DIM}`);
  return {
    modelType: 'bert',
    vocabSize: int('vocab_size'),
    hiddenSize,
    numLayers: int('num_hidden_layers'),
    numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize: int('intermediate_size'),
    maxPositions: int('max_position_embeddings'),
    typeVocabSize: int('type_vocab_size', 2),
    layerNormEps: eps as number,
  };
}

/** Every tensor the encoder reads, by its `BertModel` name, with its shape. */
export function encoderTensorShapes(c: EncoderConfig): Map<string, number[]> {
  const { hiddenSize: H, intermediateSize: I } = c;
  const shapes = new Map<string, number[]>([
    ['embeddings.word_embeddings.weight', [c.vocabSize, H]],
    ['embeddings.position_embeddings.weight', [c.maxPositions, H]],
    ['embeddings.token_type_embeddings.weight', [c.typeVocabSize, H]],
    ['embeddings.LayerNorm.weight', [H]],
    ['embeddings.LayerNorm.bias', [H]],
  ]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `encoder.layer.${i}.`;
    for (const n of ['query', 'key', 'value']) {
      shapes.set(`${p}attention.self.${n}.weight`, [H, H]);
      shapes.set(`${p}attention.self.${n}.bias`, [H]);
    }
    for (const [name, shape] of [['attention.output.dense.weight', [H, H]], ['attention.output.dense.bias', [H]], ['attention.output.LayerNorm.weight', [H]], ['attention.output.LayerNorm.bias', [H]], ['intermediate.dense.weight', [I, H]], ['intermediate.dense.bias', [I]], ['output.dense.weight', [H, I]], ['output.dense.bias', [H]], ['output.LayerNorm.weight', [H]], ['output.LayerNorm.bias', [H]]] as const) {
      shapes.set(p + name, [...shape]);
    }
  }
  return shapes;
}

interface EncoderLayer {
  wQkv: GPUBuffer;
  bQkv: GPUBuffer;
  wO: GPUBuffer;
  bO: GPUBuffer;
  ln1: [GPUBuffer, GPUBuffer];
  wI: GPUBuffer;
  bI: GPUBuffer;
  wOut: GPUBuffer;
  bOut: GPUBuffer;
  ln2: [GPUBuffer, GPUBuffer];
}

export interface EmbedOptions {
  /** How a sequence's rows become one vector (default 'mean': sentence-transformers' e5 / MiniLM; bge uses 'cls'). */
  pooling?: Pooling;
  /** L2-normalise each vector (default true). */
  normalize?: boolean;
}

export interface EncoderOptions {
  /** Rows (tokens) run through the layers together (default 8192): longer inputs go in several passes. */
  maxRows?: number;
}

export class BertEncoder {
  private freed = false;

  private constructor(
    private readonly gpu: Gpu,
    readonly config: EncoderConfig,
    private readonly embeddings: Record<'word' | 'position' | 'tokenType' | 'gamma' | 'beta', GPUBuffer>,
    private readonly layers: EncoderLayer[],
    private readonly kernels: EncoderKernels,
    private readonly matmul: Matmul,
    private readonly maxRows: number,
  ) {}

  /** A `BertModel` directory (config.json + safetensors, f32 / bf16 / f16, names with or without "bert."). */
  static async load(gpu: Gpu, dir: string, options: EncoderOptions = {}): Promise<BertEncoder> {
    const checkpoint = await openModelDirectory(dir, (text, path) => {
      const config = readEncoderConfig(text, path);
      return { config, shapes: encoderTensorShapes(config) };
    }, (name) => [`bert.${name}`]);
    try {
      return await BertEncoder.create(gpu, checkpoint.config, checkpoint.source, options);
    } finally {
      await checkpoint.close();
    }
  }

  /** From host tensors with `BertModel` names (checked against `config`), or a source that reads them. */
  static async create(gpu: Gpu, config: EncoderConfig, tensors: ReadonlyMap<string, Float32Array> | TensorSource, options: EncoderOptions = {}): Promise<BertEncoder> {
    const maxRows = options.maxRows ?? 8192;
    if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > 65535) throw new IgSearchError('INVALID_ARGUMENT', `maxRows must be an integer in [1, 65535], got ${options.maxRows}`);
    const shapes = encoderTensorShapes(config);
    const source = checkedSource(tensors, shapes);
    const read = (name: string) => source.read(name, 0, shapes.get(name)!.reduce((a, b) => a * b, 1));
    const upload = async (name: string) => gpu.upload(await read(name), name);
    const concat = async (names: string[], label: string) => {
      const parts = await Promise.all(names.map(read));
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return gpu.upload(out, label);
    };
    const embeddings = {
      word: await upload('embeddings.word_embeddings.weight'),
      position: await upload('embeddings.position_embeddings.weight'),
      tokenType: await upload('embeddings.token_type_embeddings.weight'),
      gamma: await upload('embeddings.LayerNorm.weight'),
      beta: await upload('embeddings.LayerNorm.bias'),
    };
    const layers: EncoderLayer[] = [];
    for (let i = 0; i < config.numLayers; i++) {
      const p = `encoder.layer.${i}.`;
      const qkv = ['query', 'key', 'value'].map((n) => `${p}attention.self.${n}`);
      layers.push({
        wQkv: await concat(qkv.map((n) => `${n}.weight`), `${p}attention.self.qkv.weight`),
        bQkv: await concat(qkv.map((n) => `${n}.bias`), `${p}attention.self.qkv.bias`),
        wO: await upload(`${p}attention.output.dense.weight`),
        bO: await upload(`${p}attention.output.dense.bias`),
        ln1: [await upload(`${p}attention.output.LayerNorm.weight`), await upload(`${p}attention.output.LayerNorm.bias`)],
        wI: await upload(`${p}intermediate.dense.weight`),
        bI: await upload(`${p}intermediate.dense.bias`),
        wOut: await upload(`${p}output.dense.weight`),
        bOut: await upload(`${p}output.dense.bias`),
        ln2: [await upload(`${p}output.LayerNorm.weight`), await upload(`${p}output.LayerNorm.bias`)],
      });
    }
    const [kernels, matmul] = await Promise.all([EncoderKernels.create(gpu), Matmul.create(gpu, { transposeB: true })]);
    return new BertEncoder(gpu, config, embeddings, layers, kernels, matmul, maxRows);
  }

  /** The last hidden state of each sequence, [length · hiddenSize] row-major. */
  async hiddenStates(sequences: readonly ArrayLike<number>[]): Promise<Float32Array[]> {
    const H = this.config.hiddenSize;
    const out: Float32Array[] = [];
    for (const part of this.parts(sequences)) {
      const T = part.reduce((n, s) => n + s.length, 0);
      const x = await this.run(part, async (x) => new Float32Array(await this.gpu.read(x, T * H * 4)));
      let at = 0;
      for (const s of part) {
        out.push(x.slice(at * H, (at + s.length) * H));
        at += s.length;
      }
    }
    return out;
  }

  /** One vector per sequence (`hiddenSize` floats): pooled on the GPU, L2-normalised unless told otherwise. */
  async embed(sequences: readonly ArrayLike<number>[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    const pooling = options.pooling ?? 'mean';
    if (pooling !== 'mean' && pooling !== 'cls' && pooling !== 'last') throw new IgSearchError('INVALID_ARGUMENT', `pooling must be "mean", "cls" or "last", got ${JSON.stringify(pooling)}`);
    const H = this.config.hiddenSize;
    const out: Float32Array[] = [];
    for (const part of this.parts(sequences)) {
      const B = part.length;
      const bounds = new Uint32Array(2 * B);
      let at = 0;
      part.forEach((s, i) => {
        bounds[2 * i] = at;
        bounds[2 * i + 1] = at += s.length;
      });
      const pooled = await this.run(part, async (x) => {
        const boundsBuf = this.gpu.upload(bounds, 'encoder.pool.bounds');
        const target = this.gpu.allocate(B * H * 4, 'encoder.pooled');
        try {
          const batch = this.gpu.batch('encoder.pool');
          this.kernels.pool(batch, { x, bounds: boundsBuf, out: target }, { B, H, pooling, normalize: options.normalize ?? true });
          batch.submit();
          return new Float32Array(await this.gpu.read(target, B * H * 4));
        } finally {
          this.gpu.pool.release(boundsBuf);
          this.gpu.pool.release(target);
        }
      });
      for (let i = 0; i < B; i++) out.push(pooled.slice(i * H, (i + 1) * H));
    }
    return out;
  }

  /** Consecutive groups of sequences of at most `maxRows` rows, each sequence checked. */
  private parts(sequences: readonly ArrayLike<number>[]): ArrayLike<number>[][] {
    this.live();
    const { vocabSize, maxPositions } = this.config;
    const parts: ArrayLike<number>[][] = [];
    let current: ArrayLike<number>[] = [];
    let rows = 0;
    sequences.forEach((s, i) => {
      if (s.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `sequences[${i}] is empty`);
      if (s.length > maxPositions) throw new IgSearchError('OUT_OF_RANGE', `sequences[${i}]: ${s.length} tokens exceed max_position_embeddings ${maxPositions}`, { hint: 'truncate it (the tokenizer keeps [CLS] … [SEP])' });
      if (s.length > this.maxRows) throw new IgSearchError('OUT_OF_RANGE', `sequences[${i}]: ${s.length} tokens exceed maxRows ${this.maxRows}`);
      for (let t = 0; t < s.length; t++) {
        const id = s[t]!;
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new IgSearchError('OUT_OF_RANGE', `sequences[${i}][${t}] = ${id} is not a token id of this model (vocabulary ${vocabSize})`);
      }
      if (rows + s.length > this.maxRows) {
        parts.push(current);
        current = [];
        rows = 0;
      }
      current.push(s);
      rows += s.length;
    });
    if (current.length) parts.push(current);
    return parts;
  }

  /** The layers on one packed group; `use` reads the final hidden states before the buffers go back. */
  private async run<T>(part: readonly ArrayLike<number>[], use: (x: GPUBuffer) => Promise<T>): Promise<T> {
    const { gpu, config: c, kernels: k, matmul } = this;
    const { hiddenSize: H, intermediateSize: I, layerNormEps: eps } = c;
    const T = part.reduce((n, s) => n + s.length, 0);
    const ids = new Uint32Array(T);
    const positions = new Uint32Array(T);
    const bounds = new Uint32Array(2 * T);
    let at = 0;
    for (const s of part) {
      for (let t = 0; t < s.length; t++) {
        ids[at + t] = s[t]!;
        positions[at + t] = t;
        bounds[2 * (at + t)] = at;
        bounds[2 * (at + t) + 1] = at + s.length;
      }
      at += s.length;
    }
    const inputs = { ids: gpu.upload(ids, 'encoder.ids'), positions: gpu.upload(positions, 'encoder.positions'), bounds: gpu.upload(bounds, 'encoder.bounds') };
    const x = gpu.allocate(T * H * 4, 'encoder.x');
    const qkv = gpu.allocate(T * 3 * H * 4, 'encoder.qkv');
    const attn = gpu.allocate(T * H * 4, 'encoder.attn');
    const y = gpu.allocate(T * H * 4, 'encoder.y');
    const inner = gpu.allocate(T * I * 4, 'encoder.intermediate');
    try {
      const batch = gpu.batch('encoder');
      const e = this.embeddings;
      k.embedNorm(batch, { ids: inputs.ids, positions: inputs.positions, word: e.word, position: e.position, tokenType: e.tokenType, gamma: e.gamma, beta: e.beta, out: x }, { T, H, eps });
      for (const l of this.layers) {
        matmul.encode(batch, x, l.wQkv, qkv, { M: T, N: 3 * H, K: H, transposeB: true });
        k.attention(batch, { qkv, bias: l.bQkv, bounds: inputs.bounds, out: attn }, { T, heads: c.numHeads, headDim: c.headDim });
        matmul.encode(batch, attn, l.wO, y, { M: T, N: H, K: H, transposeB: true });
        k.addNorm(batch, { y, bias: l.bO, gamma: l.ln1[0], beta: l.ln1[1], x }, { T, H, eps });
        matmul.encode(batch, x, l.wI, inner, { M: T, N: I, K: H, transposeB: true });
        k.biasGelu(batch, { bias: l.bI, h: inner }, { T, N: I });
        matmul.encode(batch, inner, l.wOut, y, { M: T, N: H, K: I, transposeB: true });
        k.addNorm(batch, { y, bias: l.bOut, gamma: l.ln2[0], beta: l.ln2[1], x }, { T, H, eps });
      }
      batch.submit();
      return await use(x);
    } finally {
      for (const b of [inputs.ids, inputs.positions, inputs.bounds, x, qkv, attn, y, inner]) gpu.pool.release(b);
    }
  }

  private live(): void {
    if (this.freed) throw new IgSearchError('INVALID_ARGUMENT', 'this encoder was freed; load it again');
  }

  /** Returns the weights to the pool. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const b of Object.values(this.embeddings)) this.gpu.pool.release(b);
    for (const l of this.layers) for (const b of [l.wQkv, l.bQkv, l.wO, l.bO, ...l.ln1, l.wI, l.bI, l.wOut, l.bOut, ...l.ln2]) this.gpu.pool.release(b);
  }
}

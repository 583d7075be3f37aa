/**
 * Dense and hybrid retrieval behind the rollout's `Retriever` interface. A `SentenceEncoder` turns
 * texts into unit vectors (tokenizer → `BertEncoder` → pooling, or a decoder embedder's last token
 * through `CausalLM`, with the model's query / passage prefixes, truncated to its length); a
 * `DenseRetriever` searches a `DenseIndex` of the corpus with
 * it; a `HybridRetriever` fuses several retrievers' rankings by reciprocal rank (Cormack et al.,
 * 2009: Σ 1 / (k₀ + rank), k₀ = 60).
 */
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { CausalLM } from '../model/causal_lm.js';
import { BertEncoder, type Pooling } from '../model/encoder.js';
import { readFileIfExists } from '../platform/platform.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { WasmCore } from '../wasm/core.js';
import type { Passage } from './corpus.js';
import { DenseIndex, type IndexDtype, type IndexEncoding } from './dense_index.js';
import { localDocument, type RetrievedDocument, type Retriever } from './retriever.js';

export interface SentenceEncoderOptions {
  /** Default: from the model's sentence-transformers `1_Pooling/config.json`, else 'mean' ('last', the only one, for a decoder). */
  pooling?: Pooling;
  /** Put before every query / passage (e5: "query: " and "passage: "; bge: an instruction before queries). */
  queryPrefix?: string;
  passagePrefix?: string;
  /** Tokens kept per text, the template's tokens included (default: max_position_embeddings, at most 512). */
  maxLength?: number;
  /** Names the model in index headers (default: the directory). */
  model?: string;
}

/** sentence-transformers' pooling file: which of its modes is on. */
function poolingFromConfig(json: Record<string, unknown>, path: string): Pooling {
  if (json['pooling_mode_cls_token'] === true) return 'cls';
  if (json['pooling_mode_lasttoken'] === true) return 'last';
  if (json['pooling_mode_mean_tokens'] === true) return 'mean';
  throw new IgSearchError('INVALID_ARGUMENT', `${path}: none of pooling_mode_mean_tokens, pooling_mode_cls_token, pooling_mode_lasttoken is true (other poolings are not supported)`);
}

/**
 * Texts to unit vectors. The model is a BERT-family encoder, or a decoder embedder (Qwen3-Embedding:
 * a `CausalLM` whose last token's final-normed hidden state is the embedding; its tokenizer's
 * template appends the end-of-text token, and queries take an instruction as their prefix).
 */
export class SentenceEncoder {
  readonly pooling: Pooling;
  readonly maxLength: number;
  readonly model: string;

  constructor(
    readonly encoder: BertEncoder | CausalLM,
    readonly tokenizer: Tokenizer,
    private readonly options: SentenceEncoderOptions = {},
  ) {
    const decoder = encoder instanceof CausalLM;
    this.pooling = options.pooling ?? (decoder ? 'last' : 'mean');
    if (decoder && this.pooling !== 'last') throw new IgSearchError('INVALID_ARGUMENT', `a decoder embedder pools its last token; pooling "${this.pooling}" does not apply`);
    this.maxLength = options.maxLength ?? Math.min(encoder.config.maxPositions, 512);
    const kept = tokenizer.template.prefix.length + tokenizer.template.suffix.length + 1;
    if (!Number.isInteger(this.maxLength) || this.maxLength < kept || this.maxLength > encoder.config.maxPositions) {
      throw new IgSearchError('INVALID_ARGUMENT', `maxLength must be an integer in [${kept}, ${encoder.config.maxPositions}] (max_position_embeddings), got ${options.maxLength}`);
    }
    this.model = options.model ?? '';
    if (tokenizer.vocabSize > encoder.config.vocabSize) throw new IgSearchError('SHAPE_MISMATCH', `the tokenizer has ${tokenizer.vocabSize} tokens, the ${decoder ? 'decoder' : 'encoder'}'s vocabulary ${encoder.config.vocabSize}`);
  }

  /**
   * A sentence-transformers / BERT directory (config.json, safetensors, tokenizer.json, and
   * 1_Pooling/config.json when present), or a decoder embedder's (model_type qwen2 / qwen3 / llama).
   */
  static async load(gpu: Gpu, core: WasmCore, dir: string, options: SentenceEncoderOptions = {}): Promise<SentenceEncoder> {
    const base = dir.replace(/\/$/, '');
    const tokenizerBytes = await readFileIfExists(`${base}/tokenizer.json`);
    if (!tokenizerBytes) throw new IgSearchError('INVALID_ARGUMENT', `${base}/tokenizer.json: not found (an encoder directory holds config.json, *.safetensors and tokenizer.json)`);
    const configBytes = await readFileIfExists(`${base}/config.json`);
    if (!configBytes) throw new IgSearchError('INVALID_ARGUMENT', `${base}/config.json: not found (an encoder directory holds config.json, *.safetensors and tokenizer.json)`);
    let modelType: unknown;
    try {
      modelType = (JSON.parse(new TextDecoder().decode(configBytes)) as { model_type?: unknown }).model_type;
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `${base}/config.json: not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    // Decoder embedders are the CausalLM architectures; anything else is read (and checked) as BERT.
    const decoder = modelType === 'qwen2' || modelType === 'qwen3' || modelType === 'llama';
    let pooling = options.pooling;
    const poolingPath = `${base}/1_Pooling/config.json`;
    const poolingBytes = pooling ? undefined : await readFileIfExists(poolingPath);
    if (poolingBytes) {
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(new TextDecoder().decode(poolingBytes)) as Record<string, unknown>;
      } catch (e) {
        throw new IgSearchError('INVALID_ARGUMENT', `${poolingPath}: not valid JSON: ${(e as Error).message}`, { cause: e });
      }
      pooling = poolingFromConfig(json, poolingPath);
    }
    const tokenizer = Tokenizer.fromJSON(core, tokenizerBytes);
    try {
      const encoder = decoder ? await CausalLM.load(gpu, base) : await BertEncoder.load(gpu, base);
      try {
        return new SentenceEncoder(encoder, tokenizer, { model: base, ...options, pooling });
      } catch (e) {
        encoder.free();
        throw e;
      }
    } catch (e) {
      tokenizer.free();
      throw e;
    }
  }

  get dims(): number {
    return this.encoder.config.hiddenSize;
  }

  /** What an index header records so that queries are encoded like its passages. */
  get encoding(): IndexEncoding {
    return { pooling: this.pooling, queryPrefix: this.options.queryPrefix ?? '', passagePrefix: this.options.passagePrefix ?? '', maxLength: this.maxLength };
  }

  /** Token ids of `text` with its role's prefix and the tokenizer's template ([CLS] … [SEP]), cut to maxLength with the template's closing tokens kept. */
  ids(text: string, role: 'query' | 'passage'): Uint32Array {
    const prefix = (role === 'query' ? this.options.queryPrefix : this.options.passagePrefix) ?? '';
    const ids = this.tokenizer.encode(prefix + text);
    if (ids.length <= this.maxLength) return ids;
    const { suffix } = this.tokenizer.template;
    const cut = ids.slice(0, this.maxLength);
    cut.set(suffix, this.maxLength - suffix.length);
    return cut;
  }

  /** One unit vector per text. */
  embed(texts: readonly string[], role: 'query' | 'passage'): Promise<Float32Array[]> {
    const ids = texts.map((t) => this.ids(t, role));
    if (this.encoder instanceof CausalLM) return this.encoder.embedLastToken(ids, { normalize: true });
    return this.encoder.embed(ids, { pooling: this.pooling, normalize: true });
  }

  free(): void {
    this.encoder.free();
    this.tokenizer.free();
  }
}

export interface BuildIndexOptions {
  dtype?: IndexDtype;
  /** Passages encoded per call (default 64). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Embeds every passage (`contents`, title line included) and indexes them in corpus order. */
export async function buildDenseIndex(gpu: Gpu, encoder: SentenceEncoder, passages: readonly Passage[], options: BuildIndexOptions = {}): Promise<DenseIndex> {
  const batch = options.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1) throw new IgSearchError('INVALID_ARGUMENT', `batch must be a positive integer, got ${options.batch}`);
  const dims = encoder.dims;
  const all = new Float32Array(passages.length * dims);
  for (let from = 0; from < passages.length; from += batch) {
    const vectors = await encoder.embed(passages.slice(from, from + batch).map((p) => p.contents), 'passage');
    vectors.forEach((v, i) => all.set(v, (from + i) * dims));
    options.onProgress?.(Math.min(from + batch, passages.length), passages.length);
  }
  return DenseIndex.create(gpu, all, dims, { dtype: options.dtype, model: encoder.model, encoding: encoder.encoding });
}

export class DenseRetriever implements Retriever {
  constructor(
    readonly encoder: SentenceEncoder,
    readonly index: DenseIndex,
    readonly passages: readonly Passage[],
  ) {
    if (index.count !== passages.length) throw new IgSearchError('SHAPE_MISMATCH', `the dense index holds ${index.count} passages, the corpus ${passages.length}: build the index from this corpus`);
    if (index.dims !== encoder.dims) throw new IgSearchError('SHAPE_MISMATCH', `the dense index holds ${index.dims}-dimensional vectors, the encoder makes ${encoder.dims}`);
    const e = index.header.encoding;
    if (e && (e.pooling !== encoder.pooling || e.queryPrefix !== encoder.encoding.queryPrefix)) {
      throw new IgSearchError('INVALID_ARGUMENT', `the dense index was built with ${e.pooling} pooling and query prefix ${JSON.stringify(e.queryPrefix)}; this encoder uses ${encoder.pooling} and ${JSON.stringify(encoder.encoding.queryPrefix)}`, { hint: 'load the encoder with the index header\'s encoding (SentenceEncoder options)' });
    }
  }

  async search(queries: readonly string[], k: number): Promise<RetrievedDocument[][]> {
    if (queries.length === 0) return [];
    const vectors = await this.encoder.embed(queries, 'query');
    const flat = new Float32Array(vectors.length * this.encoder.dims);
    vectors.forEach((v, i) => flat.set(v, i * this.encoder.dims));
    const hits = await this.index.search(flat, k);
    return hits.map((h) => h.ids.map((doc, r) => localDocument(this.passages[doc]!.id, this.passages[doc]!.contents, h.scores[r]!, doc)));
  }
}

export interface HybridOptions {
  /** Reciprocal-rank constant (default 60). */
  k0?: number;
  /** Depth each retriever is asked for before fusing (default max(k, 20)). */
  depth?: number;
}

/** Reciprocal-rank fusion of several retrievers (documents matched by id; ties keep the first-seen order). */
export class HybridRetriever implements Retriever {
  private readonly k0: number;

  constructor(
    readonly retrievers: readonly Retriever[],
    private readonly options: HybridOptions = {},
  ) {
    if (retrievers.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'HybridRetriever needs at least one retriever');
    this.k0 = options.k0 ?? 60;
    if (!(this.k0 >= 0)) throw new IgSearchError('INVALID_ARGUMENT', `k0 must be ≥ 0, got ${options.k0}`);
  }

  async search(queries: readonly string[], k: number): Promise<RetrievedDocument[][]> {
    const depth = this.options.depth ?? Math.max(k, 20);
    const lists = await Promise.all(this.retrievers.map((r) => r.search(queries, depth)));
    return queries.map((_, q) => {
      const fused = new Map<string, { doc: RetrievedDocument; score: number; order: number }>();
      for (const list of lists) {
        list[q]!.forEach((doc, rank) => {
          const entry = fused.get(doc.id) ?? { doc, score: 0, order: fused.size };
          entry.score += 1 / (this.k0 + rank + 1);
          fused.set(doc.id, entry);
        });
      }
      return [...fused.values()].sort((a, b) => b.score - a.score || a.order - b.order).slice(0, k).map((e) => ({ ...e.doc, score: e.score }));
    });
  }
}

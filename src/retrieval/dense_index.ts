/**
 * An exact dense index on the GPU: passage embeddings [count, dims] stored as f32, f16 or bf16 in
 * shards that each fit one binding; a batch of queries is scored by one matmul per shard
 * (Q · Eᵀ, inner product — cosine for normalised embeddings) and the top k selected on the GPU
 * (kernels/topk), so a search reads back B·k pairs, never a row of N scores. Ties go to the lower
 * passage id. Saved as one file: a checked header (format, model id, dims, count, dtype) and the
 * stored values, written atomically.
 *
 * File layout: "IGSINDEX" · u32 version (1) · u32 header bytes · header JSON · zero padding to a
 * multiple of 8 · count·dims values, little-endian, row-major.
 */
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Matmul, storageBytes, type StorageDtype } from '../kernels/matmul/matmul.js';
import { TopK, TOPK_CHUNK, TOPK_MAX_K } from '../kernels/topk/topk.js';
import { f32ToBf16, f32ToF16 } from '../model/safetensors.js';
import { currentPlatform } from '../platform/platform.js';

export type IndexDtype = StorageDtype;

export interface DenseIndexHeader {
  format: 'ig-search-dense-index';
  version: 1;
  /** The encoder that made the embeddings (a Hub id or a directory), as given; '' when unknown. */
  model: string;
  dims: number;
  count: number;
  dtype: IndexDtype;
  /** How the passages were encoded, so queries are encoded alike (written by `buildDenseIndex` and `ig-search index`). */
  encoding?: IndexEncoding;
}

export interface IndexEncoding {
  pooling: 'mean' | 'cls' | 'last';
  queryPrefix: string;
  passagePrefix: string;
  maxLength: number;
}

export interface DenseIndexOptions {
  dtype?: IndexDtype;
  model?: string;
  encoding?: IndexEncoding;
  /** Rows per shard (default: as many as one binding of this device holds, at most 262,144). */
  shardRows?: number;
}

export interface DenseHit {
  /** Passage ids (row numbers), best first. */
  ids: number[];
  scores: number[];
}

const MAGIC = 'IGSINDEX';
const VERSION = 1;
const DTYPES: readonly IndexDtype[] = ['f32', 'f16', 'bf16'];

/** Bytes a dense index of `count` passages × `dims` takes on the GPU (and in its file, less the header). */
export function denseIndexBytes(count: number, dims: number, dtype: IndexDtype): number {
  return count * dims * storageBytes(dtype);
}

interface Shard {
  buffer: GPUBuffer;
  rows: number;
  first: number;
}

export class DenseIndex {
  private freed = false;

  private constructor(
    private readonly gpu: Gpu,
    readonly header: DenseIndexHeader,
    private readonly shards: Shard[],
    private readonly matmul: Matmul,
    private readonly topk: TopK,
  ) {}

  get count(): number {
    return this.header.count;
  }

  get dims(): number {
    return this.header.dims;
  }

  /** GPU bytes the stored embeddings take. */
  get bytes(): number {
    return denseIndexBytes(this.header.count, this.header.dims, this.header.dtype);
  }

  /** From embeddings [count · dims] (f32, row-major), rounded to `dtype` for storage. */
  static async create(gpu: Gpu, embeddings: Float32Array, dims: number, options: DenseIndexOptions = {}): Promise<DenseIndex> {
    const dtype = options.dtype ?? 'f32';
    if (!DTYPES.includes(dtype)) throw new IgSearchError('INVALID_ARGUMENT', `dense index dtype must be one of ${DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
    if (!Number.isInteger(dims) || dims < 1) throw new IgSearchError('INVALID_ARGUMENT', `dense index: dims must be a positive integer, got ${dims}`);
    if (embeddings.length % dims !== 0) throw new IgSearchError('SHAPE_MISMATCH', `dense index: ${embeddings.length} values are not a whole number of ${dims}-dimensional rows`);
    const stored = dtype === 'f32' ? embeddings : dtype === 'bf16' ? f32ToBf16(embeddings) : f32ToF16(embeddings);
    const header: DenseIndexHeader = { format: 'ig-search-dense-index', version: VERSION, model: options.model ?? '', dims, count: embeddings.length / dims, dtype };
    if (options.encoding) header.encoding = { ...options.encoding };
    return DenseIndex.fromStored(gpu, header, stored, options.shardRows);
  }

  private static async fromStored(gpu: Gpu, header: DenseIndexHeader, stored: Float32Array | Uint16Array, shardRows?: number): Promise<DenseIndex> {
    const { dims, count, dtype } = header;
    if (dtype === 'f16' && !gpu.hasF16) throw new IgSearchError('UNSUPPORTED_RUNTIME', 'a dense index stored as f16 needs the WebGPU "shader-f16" feature, which this device lacks; build it as bf16 or f32');
    const bytes = storageBytes(dtype);
    // Whole rows per shard, an even number of 16-bit values (a shard starts on a 4-byte boundary).
    const fit = Math.floor(gpu.bindingLimit / (dims * bytes));
    let rows = Math.min(shardRows ?? 262_144, fit);
    if (bytes === 2 && (rows * dims) % 2 === 1) rows -= 1;
    if (!Number.isInteger(rows) || rows < 1) throw new IgSearchError('LIMIT_EXCEEDED', `dense index: one ${dims}-dimensional row does not fit this device's ${gpu.bindingLimit}-byte binding`);
    const shards: Shard[] = [];
    for (let first = 0; first < count; first += rows) {
      const n = Math.min(rows, count - first);
      shards.push({ buffer: gpu.upload(stored.subarray(first * dims, (first + n) * dims), `dense-index.shard${shards.length}`), rows: n, first });
    }
    const [matmul, topk] = await Promise.all([Matmul.create(gpu, { transposeB: true, dtypeB: dtype }), TopK.create(gpu)]);
    return new DenseIndex(gpu, header, shards, matmul, topk);
  }

  /** The k best passages of each query (queries [B · dims], f32); k ≤ 64 and at most the index's count. */
  async search(queries: Float32Array, k: number): Promise<DenseHit[]> {
    this.live();
    const { dims, count } = this.header;
    if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K) throw new IgSearchError('INVALID_ARGUMENT', `dense search: k must be an integer in [1, ${TOPK_MAX_K}], got ${k}`);
    if (queries.length % dims !== 0) throw new IgSearchError('SHAPE_MISMATCH', `dense search: ${queries.length} query values are not a whole number of ${dims}-dimensional rows`);
    const total = queries.length / dims;
    const kk = Math.min(k, count);
    if (total === 0 || kk === 0) return Array.from({ length: total }, () => ({ ids: [], scores: [] }));
    const widest = Math.max(...this.shards.map((s) => s.rows));
    // Queries per pass: their scores against the widest shard fit one binding.
    const perPass = Math.max(1, Math.min(1024, Math.floor(this.gpu.bindingLimit / (widest * 4))));
    const out: DenseHit[] = [];
    for (let from = 0; from < total; from += perPass) out.push(...(await this.searchPass(queries.subarray(from * dims, Math.min(total, from + perPass) * dims), kk, widest)));
    return out;
  }

  /** One pass of at most `perPass` queries; `widest` is the largest shard's row count. */
  private async searchPass(queries: Float32Array, k: number, widest: number): Promise<DenseHit[]> {
    const { gpu } = this;
    const { dims } = this.header;
    const B = queries.length / dims;
    const lists = TopK.lists(this.shards.map((s) => s.rows));
    const q = gpu.upload(queries, 'dense-index.queries');
    const scores = gpu.allocate(B * widest * 4, 'dense-index.scores');
    const pairs = [0, 1].map((i) => ({ score: gpu.allocate(B * lists * k * 4, `dense-index.candidates${i}.score`), id: gpu.allocate(B * lists * k * 4, `dense-index.candidates${i}.id`) }));
    try {
      const batch = gpu.batch('dense-index.search');
      let listBase = 0;
      for (const shard of this.shards) {
        this.matmul.encode(batch, q, shard.buffer, scores, { M: B, N: shard.rows, K: dims, transposeB: true });
        this.topk.encodeScan(batch, { scores, outScore: pairs[0]!.score, outId: pairs[0]!.id }, { B, N: shard.rows, k, lists, listBase, idBase: shard.first });
        listBase += Math.ceil(shard.rows / TOPK_CHUNK);
      }
      const result = this.topk.encodeMerge(batch, pairs[0]!, pairs[1]!, { B, lists, k });
      batch.submit();
      const [s, ids] = await Promise.all([gpu.read(result.score, B * k * 4), gpu.read(result.id, B * k * 4)]);
      const sv = new Float32Array(s);
      const iv = new Uint32Array(ids);
      return Array.from({ length: B }, (_, b) => ({ ids: Array.from(iv.subarray(b * k, (b + 1) * k)), scores: Array.from(sv.subarray(b * k, (b + 1) * k)) }));
    } finally {
      for (const buf of [q, scores, ...pairs.flatMap((p) => [p.score, p.id])]) gpu.pool.release(buf);
    }
  }

  /** The index as its file's bytes. */
  async toBytes(): Promise<Uint8Array> {
    this.live();
    const json = new TextEncoder().encode(JSON.stringify(this.header));
    const start = Math.ceil((16 + json.length) / 8) * 8;
    const out = new Uint8Array(start + this.bytes);
    out.set(new TextEncoder().encode(MAGIC), 0);
    const view = new DataView(out.buffer);
    view.setUint32(8, VERSION, true);
    view.setUint32(12, json.length, true);
    out.set(json, 16);
    const rowBytes = this.header.dims * storageBytes(this.header.dtype);
    for (const shard of this.shards) out.set(new Uint8Array(await this.gpu.read(shard.buffer, shard.rows * rowBytes)), start + shard.first * rowBytes);
    return out;
  }

  /** Writes the index to `path` atomically (a temporary file renamed over it). */
  async save(path: string): Promise<void> {
    const { writeFileAtomic } = await import('../platform/files.js');
    await writeFileAtomic(path, await this.toBytes());
  }

  /** Reads an index file; `source` names it in errors. */
  static async fromBytes(gpu: Gpu, bytes: Uint8Array, source = 'index', options: Pick<DenseIndexOptions, 'shardRows'> = {}): Promise<DenseIndex> {
    const fail = (what: string): never => {
      throw new IgSearchError('INVALID_ARGUMENT', `${source}: ${what}`, { hint: 'build it again with `ig-search index`' });
    };
    if (bytes.length < 16 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) fail('not an ig-search dense index (no IGSINDEX header)');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = view.getUint32(8, true);
    if (version !== VERSION) fail(`format version ${version}; this ig-search reads version ${VERSION}`);
    const length = view.getUint32(12, true);
    if (16 + length > bytes.length) fail(`truncated inside its header (${bytes.length} bytes, the header says ${16 + length})`);
    let header: DenseIndexHeader;
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + length))) as DenseIndexHeader;
    } catch (e) {
      return fail(`its header is not valid JSON: ${(e as Error).message}`);
    }
    if (header?.format !== 'ig-search-dense-index') fail(`header field "format" is ${JSON.stringify(header?.format)}`);
    for (const field of ['dims', 'count'] as const) if (!Number.isSafeInteger(header[field]) || header[field] < (field === 'dims' ? 1 : 0)) fail(`header field "${field}" is ${JSON.stringify(header[field])}`);
    if (!DTYPES.includes(header.dtype)) fail(`header field "dtype" is ${JSON.stringify(header.dtype)} (one of ${DTYPES.join(', ')})`);
    if (typeof header.model !== 'string') fail('header field "model" is not a string');
    const start = Math.ceil((16 + length) / 8) * 8;
    const expected = denseIndexBytes(header.count, header.dims, header.dtype);
    if (bytes.length !== start + expected) fail(`holds ${bytes.length - start} bytes of embeddings; ${header.count} × ${header.dims} ${header.dtype} is ${expected}${bytes.length < start + expected ? ' (truncated)' : ''}`);
    const e = header.encoding as Partial<IndexEncoding> | undefined;
    if (e !== undefined && (typeof e !== 'object' || e === null || !['mean', 'cls', 'last'].includes(e.pooling as string) || typeof e.queryPrefix !== 'string' || typeof e.passagePrefix !== 'string' || !Number.isInteger(e.maxLength))) fail('header field "encoding" is malformed');
    const data = bytes.slice(start).buffer;
    const stored = header.dtype === 'f32' ? new Float32Array(data) : new Uint16Array(data);
    const clean: DenseIndexHeader = { format: header.format, version: VERSION, model: header.model, dims: header.dims, count: header.count, dtype: header.dtype };
    if (e) clean.encoding = { pooling: e.pooling!, queryPrefix: e.queryPrefix!, passagePrefix: e.passagePrefix!, maxLength: e.maxLength! };
    return DenseIndex.fromStored(gpu, clean, stored, options.shardRows);
  }

  static async load(gpu: Gpu, path: string, options: Pick<DenseIndexOptions, 'shardRows'> = {}): Promise<DenseIndex> {
    let bytes: Uint8Array;
    try {
      bytes = await currentPlatform().readFile(path);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `cannot read the dense index ${path}: ${(e as Error).message}`, { cause: e });
    }
    return DenseIndex.fromBytes(gpu, bytes, path, options);
  }

  private live(): void {
    if (this.freed) throw new IgSearchError('INVALID_ARGUMENT', 'this dense index was freed; load it again');
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const s of this.shards) this.gpu.pool.release(s.buffer);
  }
}

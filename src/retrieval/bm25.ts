/**
 * BM25 retrieval over a passage corpus, in the Rust core: build from Search-R1 JSONL or passage
 * objects, top-k search (one query or a batch in one call), serialise/load, and the seeded
 * random-document sampler that IG uses as its counterfactual.
 */
import { IgSearchError } from '../errors.js';
import { checkFiniteOption, checkU32 } from '../wasm/args.js';
import type { WasmCore } from '../wasm/core.js';
import { CoreHandle } from '../wasm/handle.js';
import { SAMPLE_HEADER, STEP_SEARCH_HEADER } from '../wasm/headers.js';
import { parseCorpusJsonl, type JsonlOptions, type Passage } from './corpus.js';

export interface Bm25Options {
  /** Term-frequency saturation (default 0.9, Pyserini's). */
  k1?: number;
  /** Length normalisation in [0, 1] (default 0.4, Pyserini's). */
  b?: number;
}

export interface SearchHit {
  /** Index of the passage in the corpus (0-based, corpus order). */
  doc: number;
  id: string;
  contents: string;
  score: number;
}

export interface SampleOptions {
  /** Seed of the draw (0 ≤ seed < 2^53); the same seed gives the same documents everywhere. */
  seed: number;
  /** Skip passages that contain any of these answers (SQuAD-normalised, whole words). */
  excludeAnswers?: readonly string[];
  /** Skip these passage indices (e.g. the ones actually retrieved). */
  excludeDocs?: ArrayLike<number>;
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // a leading U+FEFF is content, not a BOM

export class Bm25Index {
  private readonly ref: CoreHandle;
  readonly size: number;
  readonly terms: number;
  readonly postings: number;
  readonly averageLength: number;
  readonly k1: number;
  readonly b: number;

  private constructor(
    private readonly core: WasmCore,
    handle: number,
  ) {
    this.ref = new CoreHandle(core, handle, this, (x, h) => x.ig_bm25_free(h), 'BM25 index', 'rebuild or reload it');
    const stats = core.scoped((s) => {
      const out = s.alloc(6 * 8);
      core.call('ig_bm25_stats', (x) => x.ig_bm25_stats(handle, out));
      return s.readF64(out, 6);
    });
    [this.size, this.terms, this.postings, this.averageLength, this.k1, this.b] = Array.from(stats) as [number, number, number, number, number, number];
  }

  /** Indexes `passages` (their `contents`, title included). */
  static build(core: WasmCore, passages: readonly Passage[], options: Bm25Options = {}): Bm25Index {
    const k1 = checkFiniteOption(options.k1 ?? 0.9, 'k1', { min: 0 });
    const b = checkFiniteOption(options.b ?? 0.4, 'b', { min: 0 });
    const ids = passages.map((p, i) => {
      if (typeof p?.id !== 'string') throw new IgSearchError('INVALID_ARGUMENT', `passages[${i}].id must be a string`);
      return p.id;
    });
    const contents = passages.map((p) => p.contents);
    const handle = core.scoped((s) => {
      const idBlob = s.strings(ids, 'passages[].id');
      const contentBlob = s.strings(contents, 'passages[].contents');
      return core.call('ig_bm25_build', (x) =>
        x.ig_bm25_build(idBlob.ptr, idBlob.len, idBlob.offsets, contentBlob.ptr, contentBlob.len, contentBlob.offsets, passages.length, k1, b),
      );
    });
    return new Bm25Index(core, handle);
  }

  /** Parses Search-R1 corpus JSONL (`{id, contents}` per line) and indexes it. */
  static fromJsonl(core: WasmCore, jsonl: string, options: Bm25Options & JsonlOptions = {}): Bm25Index {
    return Bm25Index.build(core, parseCorpusJsonl(jsonl, options).passages, options);
  }

  /** Loads bytes from `serialize()`; a truncated or corrupted file is an INVALID_ARGUMENT. */
  static load(core: WasmCore, bytes: Uint8Array): Bm25Index {
    const handle = core.scoped((s) => {
      const ptr = s.bytes(bytes);
      return core.call('ig_bm25_load', (x) => x.ig_bm25_load(ptr, bytes.length));
    });
    return new Bm25Index(core, handle);
  }

  /** The `k` best passages for `query`, best first (ties: lower index first). */
  search(query: string, k = 3): SearchHit[] {
    return this.searchBatch([query], k)[0]!;
  }

  /** `search` for many queries in one call into the core. */
  searchBatch(queries: readonly string[], k = 3): SearchHit[][] {
    checkU32([k], 'k');
    const h = this.live();
    const n = queries.length;
    const { docs, scores, counts } = this.core.scoped((s) => {
      const q = s.strings(queries, 'queries');
      const outDocs = s.alloc(n * k * 4);
      const outScores = s.alloc(n * k * 8);
      const outCounts = s.alloc(n * 4);
      this.core.call('ig_bm25_search', (x) => x.ig_bm25_search(h, q.ptr, q.len, q.offsets, n, k, outDocs, outScores, outCounts));
      return { docs: s.readU32(outDocs, n * k), scores: s.readF64(outScores, n * k), counts: s.readU32(outCounts, n) };
    });
    const wanted: number[] = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < counts[i]!; j++) wanted.push(docs[i * k + j]!);
    const passages = this.documents(wanted);
    let at = 0;
    return Array.from({ length: n }, (_, i) =>
      Array.from({ length: counts[i]! }, (_, j) => ({ doc: docs[i * k + j]!, score: scores[i * k + j]!, ...passages[at++]! })),
    );
  }

  /** Passages by index. */
  documents(indices: ArrayLike<number>): Passage[] {
    checkU32(indices, 'indices');
    const h = this.live();
    const bytes = this.core.scoped((s) => {
      const ptr = s.u32(indices);
      this.core.call('ig_bm25_documents', (x) => x.ig_bm25_documents(h, ptr, indices.length));
      return this.core.takeOutBytes();
    });
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: Passage[] = [];
    let at = 0;
    const next = () => {
      const len = view.getUint32(at, true);
      const s = decoder.decode(bytes.subarray(at + 4, at + 4 + len));
      at += 4 + len;
      return s;
    };
    for (let i = 0; i < indices.length; i++) out.push({ id: next(), contents: next() });
    return out;
  }

  /**
   * StepSearch's step reward for every search step (rollout after rollout, step after step):
   * G − P, the mean gain over the rollout's gold passages in best TF-IDF cosine (under this
   * corpus's statistics) to any document retrieved so far, minus the share of the step's documents
   * retrieved before. Documents are texts; equal texts are the same document.
   */
  stepSearchRewards(rollouts: readonly { golds: readonly string[]; steps: readonly (readonly string[])[] }[]): Float64Array {
    const h = this.live();
    const ids = new Map<string, number>();
    const id = (text: string) => {
      let i = ids.get(text);
      if (i === undefined) ids.set(text, (i = ids.size));
      return i;
    };
    const goldOffsets = [0];
    const goldIds: number[] = [];
    const stepOffsets = [0];
    const docOffsets = [0];
    const docIds: number[] = [];
    for (const r of rollouts) {
      goldIds.push(...r.golds.map(id));
      goldOffsets.push(goldIds.length);
      for (const docs of r.steps) {
        docIds.push(...docs.map(id));
        docOffsets.push(docIds.length);
      }
      stepOffsets.push(docOffsets.length - 1);
    }
    const steps = docOffsets.length - 1;
    return this.core.scoped((s) => {
      const t = s.strings([...ids.keys()], 'documents');
      const out = s.alloc(steps * 8);
      const header = s.header(STEP_SEARCH_HEADER, {
        index: h, texts: t.ptr, textsLen: t.len, textOffsets: t.offsets, nTexts: ids.size, n: rollouts.length,
        goldOffsets: s.u32(goldOffsets), goldIds: s.u32(goldIds), stepOffsets: s.u32(stepOffsets), docOffsets: s.u32(docOffsets), docIds: s.u32(docIds), out,
      });
      this.core.call('ig_stepsearch_rewards', (x) => x.ig_stepsearch_rewards(header));
      return s.readF64(out, steps);
    });
  }

  /**
   * `count` distinct passage indices drawn uniformly with `seed`, skipping passages containing a
   * gold answer or listed in `excludeDocs`. Fewer only when fewer passages are eligible.
   */
  sampleRandom(count: number, options: SampleOptions): number[] {
    checkU32([count], 'count');
    const seed = options.seed;
    if (!Number.isSafeInteger(seed) || seed < 0) throw new IgSearchError('INVALID_ARGUMENT', `seed must be a non-negative safe integer, got ${seed}`);
    const exclude = options.excludeDocs ?? [];
    checkU32(exclude, 'excludeDocs');
    const h = this.live();
    return this.core.scoped((s) => {
      const golds = s.strings(options.excludeAnswers ?? [], 'excludeAnswers');
      const ex = s.u32(exclude);
      const out = s.alloc(count * 4);
      const header = s.header(SAMPLE_HEADER, {
        index: h, count, seedLo: seed % 2 ** 32, seedHi: Math.floor(seed / 2 ** 32),
        golds: golds.ptr, goldsLen: golds.len, goldOffsets: golds.offsets, nGolds: (options.excludeAnswers ?? []).length, exclude: ex, nExclude: exclude.length, out,
      });
      const got = this.core.call('ig_bm25_sample', (x) => x.ig_bm25_sample(header));
      return Array.from(s.readU32(out, got));
    });
  }

  /** The index as bytes (versioned, little-endian; see rust/src/retrieval/format.rs). */
  serialize(): Uint8Array {
    const h = this.live();
    this.core.call('ig_bm25_serialize', (x) => x.ig_bm25_serialize(h));
    return this.core.takeOutBytes();
  }

  /** Releases the index's memory in the core; later calls throw. */
  free(): void {
    this.ref.free();
  }

  private live(): number {
    return this.ref.live();
  }
}

/** BM25's view of a text: its terms (maximal letter/number runs, lowercased). */
export function bm25Terms(core: WasmCore, text: string): string[] {
  return core.scoped((s) => {
    const { ptr, len } = s.string(text, 'text');
    core.call('ig_bm25_terms', (x) => x.ig_bm25_terms(ptr, len));
    const joined = core.takeOutString();
    return joined === '' ? [] : joined.split(' ');
  });
}

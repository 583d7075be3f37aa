/**
 * `ig-search index`: a dense index of a corpus for `serve --retriever dense|hybrid` and the dense
 * retrievers of the API. The passages are encoded in batches with a progress bar; what is encoded
 * is appended to `OUT.partial` (f32 vectors) with `OUT.partial.json` (what they are and how many),
 * so Ctrl-C keeps it and the same command continues from there. The index is written atomically at
 * the end and the partial files removed.
 */
import { IgSearchError } from '../errors.js';
import { Gpu } from '../gpu/device.js';
import { appendOnly, writeFileAtomic } from '../platform/files.js';
import { readFileIfExists } from '../platform/platform.js';
import type { Bm25Index } from '../retrieval/bm25.js';
import { parseCorpusJsonl, type Passage } from '../retrieval/corpus.js';
import { DenseRetriever, HybridRetriever, SentenceEncoder } from '../retrieval/dense.js';
import { Bm25Retriever, type Retriever } from '../retrieval/retriever.js';
import { DenseIndex, denseIndexBytes, type IndexDtype, type IndexEncoding } from '../retrieval/dense_index.js';
import type { Pooling } from '../model/encoder.js';
import { loadWasmCore, type WasmCore } from '../wasm/core.js';
import { interruptible, numberFlag, parseOptions, readText, resolveModel } from './args.js';
import { ProgressBar } from './progress.js';

export const INDEX_USAGE = `  index --corpus FILE.jsonl --model DIR|ORG/NAME --out FILE [--dtype f32|bf16|f16] [--batch 64] [--pooling mean|cls|last]
        [--query-prefix S] [--passage-prefix S] [--max-length N] [--skip-bad-lines] [--json]
                               dense index of the corpus (BERT-family encoder or a decoder embedder such as Qwen3-Embedding,
                               exact search on the GPU) for serve / train / eval --retriever dense|hybrid;
                               Ctrl-C keeps what is encoded and the same command continues`;

interface PartialState {
  model: string;
  dims: number;
  count: number;
  corpus: string;
  encoding: IndexEncoding;
  done: number;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Qwen3-Embedding's instruction for web-search queries, as its model card gives it (passages take none). */
export const QWEN3_EMBEDDING_QUERY_PREFIX = 'Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:';

/**
 * The prefixes a model's name calls for when the flags give none: e5's "query: " / "passage: ",
 * Qwen3-Embedding's query instruction.
 */
export function defaultPrefixes(model: string): { query: string; passage: string } {
  if (/(^|[/_-])e5([_-]|$)/i.test(model)) return { query: 'query: ', passage: 'passage: ' };
  if (/qwen3-embedding/i.test(model)) return { query: QWEN3_EMBEDDING_QUERY_PREFIX, passage: '' };
  return { query: '', passage: '' };
}

export interface OpenedDense {
  retriever: Retriever;
  index: DenseIndex;
  encoder: SentenceEncoder;
  /** The encoder's model id or directory (the index header's, or the one given). */
  model: string;
  free(): void;
}

/**
 * A dense (or hybrid, fused with `bm25`) retriever over `passages` from a saved dense index and the
 * encoder its header names (or `encoder`), loaded with the encoding the index was built with.
 * `command` names the CLI command in errors.
 */
export async function openDenseRetriever(gpu: Gpu, core: WasmCore, options: { command: string; indexPath: string; passages: readonly Passage[]; encoder?: string; bm25?: Bm25Index }): Promise<OpenedDense> {
  const index = await DenseIndex.load(gpu, options.indexPath);
  try {
    const model = options.encoder ?? index.header.model;
    if (!model) throw new IgSearchError('INVALID_ARGUMENT', `${options.command}: ${options.indexPath} does not name its encoder; give --encoder DIR|ORG/NAME`);
    const e = index.header.encoding;
    const encoder = await SentenceEncoder.load(gpu, core, await resolveModel(model), e ? { pooling: e.pooling, queryPrefix: e.queryPrefix, passagePrefix: e.passagePrefix, maxLength: e.maxLength, model } : { model });
    let dense: DenseRetriever;
    try {
      dense = new DenseRetriever(encoder, index, options.passages);
    } catch (err) {
      encoder.free();
      throw err;
    }
    const retriever = options.bm25 ? new HybridRetriever([new Bm25Retriever(options.bm25), dense]) : dense;
    return { retriever, index, encoder, model, free: () => (encoder.free(), index.free()) };
  } catch (err) {
    index.free();
    throw err;
  }
}

export async function indexCommand(argv: string[]): Promise<number> {
  const values = parseOptions('index', argv, {
    corpus: { type: 'string' },
    model: { type: 'string' },
    out: { type: 'string' },
    dtype: { type: 'string', default: 'f32' },
    batch: { type: 'string', default: '64' },
    pooling: { type: 'string' },
    'query-prefix': { type: 'string' },
    'passage-prefix': { type: 'string' },
    'max-length': { type: 'string' },
    'skip-bad-lines': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  for (const flag of ['corpus', 'model', 'out'] as const) if (!values[flag]) throw new IgSearchError('INVALID_ARGUMENT', `index: --${flag} is required`);
  const dtype = values.dtype as IndexDtype;
  if (!['f32', 'bf16', 'f16'].includes(dtype)) throw new IgSearchError('INVALID_ARGUMENT', `index: --dtype must be f32, bf16 or f16, got ${values.dtype}`);
  if (values.pooling !== undefined && !['mean', 'cls', 'last'].includes(values.pooling)) throw new IgSearchError('INVALID_ARGUMENT', `index: --pooling must be mean, cls or last, got ${values.pooling}`);
  const batch = numberFlag(values.batch, '--batch', { positive: true });
  const out = values.out!;
  const log = values.json ? () => {} : (line: string) => console.error(line);
  const started = performance.now();

  const { passages } = parseCorpusJsonl(await readText(values.corpus!), { source: values.corpus, skipBadLines: values['skip-bad-lines'] });
  if (passages.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `index: ${values.corpus} holds no passages`);
  const core = await loadWasmCore();
  const gpu = await Gpu.request();
  const prefixes = defaultPrefixes(values.model!);
  const encoder = await SentenceEncoder.load(gpu, core, await resolveModel(values.model!), {
    pooling: values.pooling as Pooling | undefined,
    queryPrefix: values['query-prefix'] ?? prefixes.query,
    passagePrefix: values['passage-prefix'] ?? prefixes.passage,
    maxLength: values['max-length'] === undefined ? undefined : numberFlag(values['max-length'], '--max-length', { positive: true }),
    model: values.model,
  });
  const dims = encoder.dims;
  const partialPath = `${out}.partial`;
  const statePath = `${out}.partial.json`;
  const state: PartialState = { model: values.model!, dims, count: passages.length, corpus: await sha256(JSON.stringify(passages)), encoding: encoder.encoding, done: 0 };
  const vectors = new Float32Array(passages.length * dims);

  // Resume only what was encoded for this corpus with this model and encoding.
  const previous = await readFileIfExists(statePath);
  if (previous) {
    let saved: PartialState | undefined;
    try {
      saved = JSON.parse(new TextDecoder().decode(previous)) as PartialState;
    } catch {
      saved = undefined;
    }
    const same = saved && JSON.stringify({ ...saved, done: 0 }) === JSON.stringify(state);
    const bytes = same ? await readFileIfExists(partialPath) : undefined;
    if (same && bytes && bytes.length >= saved!.done * dims * 4) {
      state.done = saved!.done;
      vectors.set(new Float32Array(bytes.slice(0, state.done * dims * 4).buffer));
      log(`index: continuing after ${state.done} of ${passages.length} passages (${partialPath})`);
    } else {
      log(`index: ${statePath} is for another corpus, model or encoding; starting over`);
    }
  }
  // The partial file holds exactly `done` vectors before appending (a crash may have left more).
  await writeFileAtomic(partialPath, new Uint8Array(vectors.buffer, 0, state.done * dims * 4));
  const appender = await appendOnly(partialPath);
  const { signal, dispose } = interruptible(`keeping the encoded passages in ${partialPath}`);
  const bar = values.json ? undefined : new ProgressBar(passages.length);
  const first = state.done;
  try {
    while (state.done < passages.length) {
      if (signal.aborted) {
        bar?.done();
        log(`index: stopped after ${state.done} of ${passages.length} passages; run the same command to continue`);
        return 130;
      }
      const part = passages.slice(state.done, state.done + batch);
      const encoded = await encoder.embed(part.map((p) => p.contents), 'passage');
      const flat = new Float32Array(encoded.length * dims);
      encoded.forEach((v, i) => flat.set(v, i * dims));
      vectors.set(flat, state.done * dims);
      await appender.appendBytes(new Uint8Array(flat.buffer));
      state.done += part.length;
      await writeFileAtomic(statePath, JSON.stringify(state));
      const rate = (state.done - first) / ((performance.now() - started) / 1000);
      bar?.update(state.done, 'encoding', `${rate.toFixed(1)} passages/s`);
    }
  } finally {
    await appender.close();
    dispose();
  }
  bar?.done();
  const index = await DenseIndex.create(gpu, vectors, dims, { dtype, model: values.model, encoding: encoder.encoding });
  await index.save(out);
  const { unlink } = await import('node:fs/promises');
  await Promise.all([unlink(partialPath), unlink(statePath)]).catch(() => {});
  const seconds = (performance.now() - started) / 1000;
  const summary = { out, passages: passages.length, dims, dtype, bytes: denseIndexBytes(passages.length, dims, dtype), seconds, encoding: encoder.encoding };
  if (values.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${out}: ${passages.length} passages × ${dims} ${dtype} (${(summary.bytes / 2 ** 20).toFixed(1)} MiB) in ${seconds.toFixed(1)} s`);
  index.free();
  encoder.free();
  gpu.destroy();
  return 0;
}

/**
 * `ig-search serve`: the Search-R1 retrieval API (`POST /retrieve`, `GET /health`) over a BM25
 * index built from a corpus JSONL or loaded from a file `--save-index` wrote, or (`--retriever
 * dense|hybrid`) over a dense index `ig-search index` wrote, searched on the GPU. Ctrl-C / SIGTERM
 * stop it gracefully (requests in flight are answered).
 */
import { IgSearchError } from '../errors.js';
import { Bm25Index } from '../retrieval/bm25.js';
import { serveRetrieval, sourceOfRetriever, SERVER_DEFAULTS } from '../retrieval/server.js';
import { parseCorpusJsonl } from '../retrieval/corpus.js';
import { Gpu } from '../gpu/device.js';
import { currentPlatform } from '../platform/platform.js';
import { loadWasmCore } from '../wasm/core.js';
import { numberFlag, parseOptions, readText, writeAtomic } from './args.js';
import { openDenseRetriever } from './dense_index.js';

export const SERVE_USAGE = `  serve (--corpus FILE.jsonl | --index FILE) [--save-index FILE] [--host ${SERVER_DEFAULTS.host}] [--port ${SERVER_DEFAULTS.port}] [--topk ${SERVER_DEFAULTS.topk}]
        [--max-queries ${SERVER_DEFAULTS.maxQueries}] [--max-body-bytes ${SERVER_DEFAULTS.maxBodyBytes}] [--max-response-bytes ${SERVER_DEFAULTS.maxResponseBytes}]
        [--max-connections ${SERVER_DEFAULTS.maxConnections}] [--k1 0.9] [--b 0.4] [--skip-bad-lines] [--quiet]
        [--retriever bm25|dense|hybrid] [--encoder DIR|ORG/NAME] (dense and hybrid: --corpus FILE.jsonl --index FILE from ig-search index)
                               Search-R1 retrieval server (POST /retrieve, GET /health) over BM25 in Wasm, or dense / hybrid search on the GPU`;

export async function serve(argv: string[]): Promise<number> {
  const values = parseOptions('serve', argv, {
    corpus: { type: 'string' },
    index: { type: 'string' },
    'save-index': { type: 'string' },
    host: { type: 'string', default: SERVER_DEFAULTS.host },
    port: { type: 'string', default: String(SERVER_DEFAULTS.port) },
    topk: { type: 'string', default: String(SERVER_DEFAULTS.topk) },
    'max-queries': { type: 'string', default: String(SERVER_DEFAULTS.maxQueries) },
    'max-body-bytes': { type: 'string', default: String(SERVER_DEFAULTS.maxBodyBytes) },
    'max-response-bytes': { type: 'string', default: String(SERVER_DEFAULTS.maxResponseBytes) },
    'max-connections': { type: 'string', default: String(SERVER_DEFAULTS.maxConnections) },
    k1: { type: 'string' },
    b: { type: 'string' },
    'skip-bad-lines': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    retriever: { type: 'string', default: 'bm25' },
    encoder: { type: 'string' },
  });
  if (!['bm25', 'dense', 'hybrid'].includes(values.retriever)) throw new IgSearchError('INVALID_ARGUMENT', `serve: --retriever must be bm25, dense or hybrid, got ${values.retriever}`);
  if (values.retriever !== 'bm25') return serveDense(values as typeof values & { retriever: 'dense' | 'hybrid' });
  if (values.encoder !== undefined) throw new IgSearchError('INVALID_ARGUMENT', 'serve: --encoder applies to --retriever dense or hybrid');
  if (!values.corpus === !values.index) throw new IgSearchError('INVALID_ARGUMENT', 'serve: give exactly one of --corpus FILE.jsonl or --index FILE');
  if (values.index && (values.k1 !== undefined || values.b !== undefined)) throw new IgSearchError('INVALID_ARGUMENT', 'serve: --k1/--b apply when building from --corpus; a saved --index keeps its own');
  const log = values.quiet ? () => {} : (line: string) => console.error(line);
  const core = await loadWasmCore();
  const started = performance.now();
  let index: Bm25Index;
  if (values.corpus) {
    const options = { source: values.corpus, skipBadLines: values['skip-bad-lines'], k1: values.k1 === undefined ? undefined : numberFlag(values.k1, '--k1', { integer: false }), b: values.b === undefined ? undefined : numberFlag(values.b, '--b', { integer: false }) };
    index = Bm25Index.fromJsonl(core, await readText(values.corpus), options);
  } else {
    let bytes: Uint8Array;
    try {
      bytes = await currentPlatform().readFile(values.index!);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `serve: cannot read --index ${values.index}: ${(e as Error).message}`, { cause: e });
    }
    try {
      index = Bm25Index.load(core, bytes);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `serve: --index ${values.index} is not a saved BM25 index (${(e as Error).message.split('\n')[0]})`, { cause: e, hint: 'write one with ig-search serve --corpus FILE.jsonl --save-index FILE' });
    }
  }
  log(`index: ${index.size} passages, ${index.terms} terms (${values.corpus ? 'built' : 'loaded'} in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  if (values['save-index']) {
    await writeAtomic(values['save-index'], index.serialize());
    log(`saved the index to ${values['save-index']}`);
  }
  await listen(index, index.size, values, log);
  index.free();
  return 0;
}

type ServeValues = Record<'host' | 'port' | 'topk' | 'max-queries' | 'max-body-bytes' | 'max-response-bytes' | 'max-connections', string>;

/** Serves `source` until SIGINT / SIGTERM, then reports the counters. */
async function listen(source: Parameters<typeof serveRetrieval>[0], passages: number, values: ServeValues, log: (line: string) => void): Promise<void> {
  const server = await serveRetrieval(source, {
    host: values.host,
    port: numberFlag(values.port, '--port'),
    topk: numberFlag(values.topk, '--topk', { positive: true }),
    maxQueries: numberFlag(values['max-queries'], '--max-queries', { positive: true }),
    maxBodyBytes: numberFlag(values['max-body-bytes'], '--max-body-bytes', { positive: true }),
    maxResponseBytes: numberFlag(values['max-response-bytes'], '--max-response-bytes', { positive: true }),
    maxConnections: numberFlag(values['max-connections'], '--max-connections', { positive: true }),
    log,
  });
  if (!/^(127\.|::1$|localhost$)/.test(server.host)) log(`warning: listening on ${server.host}, reachable from other machines; the server has no authentication`);
  // The one line on stdout: scripts (and the bench) read the URL from it.
  console.log(`serving ${passages} passages at ${server.url}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      log(`${signal}: finishing requests in flight, then stopping`);
      void server.close().then(resolve);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  const stats = server.stats();
  log(`stopped after ${stats.uptimeS.toFixed(0)} s: ${stats.requests} requests, ${stats.queries} queries, ${stats.rejected} refused`);
}

/** `--retriever dense|hybrid`: the corpus, its dense index and the encoder it names (or `--encoder`), on the GPU. */
async function serveDense(values: ServeValues & { retriever: 'dense' | 'hybrid'; corpus?: string; index?: string; encoder?: string; 'save-index'?: string; k1?: string; b?: string; 'skip-bad-lines'?: boolean; quiet?: boolean }): Promise<number> {
  if (!values.corpus || !values.index) throw new IgSearchError('INVALID_ARGUMENT', `serve --retriever ${values.retriever}: give --corpus FILE.jsonl (the passages) and --index FILE (their dense index, from ig-search index)`);
  if (values['save-index']) throw new IgSearchError('INVALID_ARGUMENT', 'serve: --save-index saves a BM25 index; it applies to --retriever bm25');
  const log = values.quiet ? () => {} : (line: string) => console.error(line);
  const started = performance.now();
  const core = await loadWasmCore();
  const gpu = await Gpu.request();
  const corpusText = await readText(values.corpus);
  const { passages } = parseCorpusJsonl(corpusText, { source: values.corpus, skipBadLines: values['skip-bad-lines'] });
  let bm25: Bm25Index | undefined;
  if (values.retriever === 'hybrid') {
    const options = { source: values.corpus, skipBadLines: values['skip-bad-lines'], k1: values.k1 === undefined ? undefined : numberFlag(values.k1, '--k1', { integer: false }), b: values.b === undefined ? undefined : numberFlag(values.b, '--b', { integer: false }) };
    bm25 = Bm25Index.fromJsonl(core, corpusText, options);
  }
  const { retriever, index, model, free } = await openDenseRetriever(gpu, core, { command: 'serve', indexPath: values.index, passages, encoder: values.encoder, bm25 });
  log(`${values.retriever} retrieval: ${passages.length} passages, ${index.dims}-dimensional ${index.header.dtype} index, encoder ${model} (ready in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  await listen(sourceOfRetriever(retriever, passages, { retriever: values.retriever, model, dims: index.dims }), passages.length, values, log);
  bm25?.free();
  free();
  gpu.destroy();
  return 0;
}

/**
 * `ig-search serve`: the Search-R1 retrieval API (`POST /retrieve`, `GET /health`) over a BM25
 * index built from a corpus JSONL or loaded from a file `--save-index` wrote. Ctrl-C / SIGTERM
 * stop it gracefully (requests in flight are answered).
 */
import { IgSearchError } from '../errors.js';
import { Bm25Index } from '../retrieval/bm25.js';
import { serveRetrieval, SERVER_DEFAULTS } from '../retrieval/server.js';
import { currentPlatform } from '../platform/platform.js';
import { loadWasmCore } from '../wasm/core.js';
import { numberFlag, parseOptions, readText, writeAtomic } from './args.js';

export const SERVE_USAGE = `  serve (--corpus FILE.jsonl | --index FILE) [--save-index FILE] [--host ${SERVER_DEFAULTS.host}] [--port ${SERVER_DEFAULTS.port}] [--topk ${SERVER_DEFAULTS.topk}]
        [--max-queries ${SERVER_DEFAULTS.maxQueries}] [--max-body-bytes ${SERVER_DEFAULTS.maxBodyBytes}] [--max-response-bytes ${SERVER_DEFAULTS.maxResponseBytes}]
        [--max-connections ${SERVER_DEFAULTS.maxConnections}] [--k1 0.9] [--b 0.4] [--skip-bad-lines] [--quiet]
                               Search-R1 retrieval server (POST /retrieve, GET /health) over BM25 in Wasm`;

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
  });
  if (!values.corpus === !values.index) throw new IgSearchError('INVALID_ARGUMENT', 'serve: give exactly one of --corpus FILE.jsonl or --index FILE');
  if (values.index && (values.k1 !== undefined || values.b !== undefined)) throw new IgSearchError('INVALID_ARGUMENT', 'serve: --k1/--b apply when building from --corpus; a saved --index keeps its own');
  const port = numberFlag(values.port, '--port');
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
  const server = await serveRetrieval(index, {
    host: values.host,
    port,
    topk: numberFlag(values.topk, '--topk', { positive: true }),
    maxQueries: numberFlag(values['max-queries'], '--max-queries', { positive: true }),
    maxBodyBytes: numberFlag(values['max-body-bytes'], '--max-body-bytes', { positive: true }),
    maxResponseBytes: numberFlag(values['max-response-bytes'], '--max-response-bytes', { positive: true }),
    maxConnections: numberFlag(values['max-connections'], '--max-connections', { positive: true }),
    log,
  });
  if (!/^(127\.|::1$|localhost$)/.test(server.host)) log(`warning: listening on ${server.host}, reachable from other machines; the server has no authentication`);
  // The one line on stdout: scripts (and the bench) read the URL from it.
  console.log(`serving ${index.size} passages at ${server.url}`);
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
  index.free();
  return 0;
}

/**
 * A Search-R1-compatible retrieval server (Node and Deno, `node:http`) over the Wasm BM25 index or
 * any `RetrievalSource` — the dense and hybrid retrievers (`sourceOfRetriever`).
 *
 * `POST /retrieve` takes `{queries: [str], topk?: int, return_scores?: bool}` and answers
 * `{result: [[{document: {id, contents}, score}]]}` — or, without `return_scores`, the bare
 * documents `{result: [[{id, contents}]]}` — which is what Search-R1's training loop and verl's
 * `SearchTool` send and read. `GET /health` reports the index and the counters.
 *
 * Loopback by default. What one client can take is bounded: the body, the queries per request, the
 * query length, `topk`, the bytes of an answer and the open connections are capped (a client past a
 * cap gets 413, 422 or 503 with the reason — as `{"detail": …}`, FastAPI's shape, which upstream
 * clients read — never a stalled or crashed server). The defaults serve Search-R1's and verl's
 * published recipes (Search-R1's `train_grpo.sh` sends 512 prompts × 5 rollouts = 2,560 queries in
 * one POST). The search runs in the Wasm core in slices of SLICE_QUERIES queries with the event loop
 * free between them, so one large request cannot hold `/health` or other clients for seconds; an
 * answer is written as the client reads it (a client that stops reading stalls only itself, and is
 * dropped after `requestTimeoutMs`). `close()` stops accepting, lets requests in flight finish and
 * then drops idle keep-alive connections.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IgSearchError, isIgSearchError } from '../errors.js';
import type { Bm25Index } from './bm25.js';
import type { Passage } from './corpus.js';
import type { Retriever } from './retriever.js';

/** What the server searches: its passages' count, what `/health` adds about it, and a batch search. */
export interface RetrievalSource {
  passages: number;
  health: Record<string, unknown>;
  search(queries: string[], topk: number): Promise<{ id: string; contents: string; score: number }[][]> | { id: string; contents: string; score: number }[][];
}

/** A local retriever (its documents carry their corpus index) over `passages`, as a server source. */
export function sourceOfRetriever(retriever: Retriever, passages: readonly Passage[], health: Record<string, unknown> = {}): RetrievalSource {
  return {
    passages: passages.length,
    health,
    search: async (queries, topk) =>
      (await retriever.search(queries, topk)).map((docs) =>
        docs.map((d) => {
          if (d.doc === undefined) throw new IgSearchError('INVALID_ARGUMENT', `retrieval server: document ${d.id} has no corpus index (a local retriever is needed)`);
          return { id: d.id, contents: passages[d.doc]!.contents, score: d.score };
        }),
      ),
  };
}

function bm25Source(index: Bm25Index): RetrievalSource {
  return { passages: index.size, health: { terms: index.terms }, search: (queries, topk) => index.searchBatch(queries, topk) };
}

export interface RetrievalServerOptions {
  /** Interface to listen on (default 127.0.0.1: this machine only). */
  host?: string;
  /** Port (default 8000; 0 picks a free one, read it from `port`). */
  port?: number;
  /** Documents per query when a request gives no `topk` (default 3, Search-R1's). */
  topk?: number;
  /** Largest `topk` a request may ask (default 100). */
  maxTopk?: number;
  /** Most queries in one request (default 16,384). */
  maxQueries?: number;
  /** Longest query, in UTF-16 code units (default 4096). */
  maxQueryChars?: number;
  /** Largest request body, in bytes (default 4 MiB). */
  maxBodyBytes?: number;
  /** Largest answer, in bytes: a request whose results would pass it gets 413 (default 32 MiB). */
  maxResponseBytes?: number;
  /** Open connections at most; more are closed on arrival (default 64). */
  maxConnections?: number;
  /** A request whose body has not fully arrived after this many ms is answered 408 (default 30 s). */
  requestTimeoutMs?: number;
  /** One line per failed request (4xx/5xx), for a log. */
  log?: (line: string) => void;
}

export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  topk: 3,
  maxTopk: 100,
  maxQueries: 16_384,
  maxQueryChars: 4096,
  maxBodyBytes: 4 * 2 ** 20,
  maxResponseBytes: 32 * 2 ** 20,
  maxConnections: 64,
  requestTimeoutMs: 30_000,
} as const;

/** Queries searched in one synchronous call into the core before the event loop gets a turn. */
const SLICE_QUERIES = 32;
/** Bytes written to a socket at a time (the next slice waits for the client to read). */
const WRITE_BYTES = 64 * 1024;

export interface RetrievalServerStats {
  requests: number;
  queries: number;
  /** Requests answered with a 4xx or 5xx status. */
  rejected: number;
  /** Seconds since the server started listening. */
  uptimeS: number;
}

export interface RetrievalServer {
  /** The retrieve endpoint, e.g. `http://127.0.0.1:8000/retrieve`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  stats(): RetrievalServerStats;
  /** Stops accepting connections, waits for requests in flight (at most `graceMs`, default 10 s), then closes the rest. */
  close(graceMs?: number): Promise<void>;
}

/** A request the server refuses, with the HTTP status it answers. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface RetrieveRequest {
  queries: string[];
  topk: number;
  returnScores: boolean;
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new IgSearchError('INVALID_ARGUMENT', `retrieval server: ${name} must be a positive integer, got ${value}`);
  return v;
}

/** Starts the server; resolves once it listens (a taken port or a bad host is a typed error). */
export async function serveRetrieval(index: Bm25Index | RetrievalSource, options: RetrievalServerOptions = {}): Promise<RetrievalServer> {
  const source = 'health' in index ? index : bm25Source(index);
  const host = options.host ?? SERVER_DEFAULTS.host;
  const port = options.port ?? SERVER_DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new IgSearchError('INVALID_ARGUMENT', `retrieval server: port must be an integer from 0 to 65535, got ${port}`);
  const maxTopk = positiveInteger(options.maxTopk, SERVER_DEFAULTS.maxTopk, 'maxTopk');
  const topk = positiveInteger(options.topk, SERVER_DEFAULTS.topk, 'topk');
  if (topk > maxTopk) throw new IgSearchError('INVALID_ARGUMENT', `retrieval server: topk ${topk} exceeds maxTopk ${maxTopk}`);
  const limits = {
    topk,
    maxTopk,
    maxQueries: positiveInteger(options.maxQueries, SERVER_DEFAULTS.maxQueries, 'maxQueries'),
    maxQueryChars: positiveInteger(options.maxQueryChars, SERVER_DEFAULTS.maxQueryChars, 'maxQueryChars'),
    maxBodyBytes: positiveInteger(options.maxBodyBytes, SERVER_DEFAULTS.maxBodyBytes, 'maxBodyBytes'),
    maxResponseBytes: positiveInteger(options.maxResponseBytes, SERVER_DEFAULTS.maxResponseBytes, 'maxResponseBytes'),
  };
  const maxConnections = positiveInteger(options.maxConnections, SERVER_DEFAULTS.maxConnections, 'maxConnections');
  const requestTimeoutMs = positiveInteger(options.requestTimeoutMs, SERVER_DEFAULTS.requestTimeoutMs, 'requestTimeoutMs');
  const counters = { requests: 0, queries: 0, rejected: 0 };
  let closing: Promise<void> | undefined;
  let started = performance.now();
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counters.requests++;
    inFlight++;
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/health') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new Refusal(405, `${req.method} /health: use GET`);
        const { uptimeS, ...counts } = statsOf();
        send(res, 200, { status: 'ok', passages: source.passages, ...source.health, ...counts, uptime_s: uptimeS });
        return;
      }
      if (path !== '/retrieve') throw new Refusal(404, `no route ${path}: the endpoints are POST /retrieve and GET /health`);
      if (req.method !== 'POST') throw new Refusal(405, `${req.method} /retrieve: use POST with a JSON body`);
      const request = parseRequest(await readRequestBody(req, limits.maxBodyBytes), limits);
      const body = await answer(request, limits.maxResponseBytes, () => res.destroyed || (res.socket?.destroyed ?? true));
      counters.queries += request.queries.length;
      await sendStreamed(res, body, requestTimeoutMs);
    } catch (e) {
      counters.rejected++;
      const status = e instanceof Refusal ? e.status : isIgSearchError(e, 'INVALID_ARGUMENT') ? 422 : 500;
      const message = (e as Error).message.split('\n')[0]!;
      options.log?.(`${req.method} ${req.url} → ${status}: ${message}`);
      // `detail` is FastAPI's field (what Search-R1's server answers and its clients print); `error` as before.
      if (!res.headersSent) send(res, status, { detail: message, error: message });
      else res.destroy();
    } finally {
      if (--inFlight === 0) idle?.();
    }
  };

  /** The `{result: …}` answer as byte slices, searched a slice of queries at a time with the event loop free between; 413 past `maxBytes`. */
  const answer = async (request: RetrieveRequest, maxBytes: number, gone: () => boolean): Promise<Buffer[]> => {
    const parts: Buffer[] = [Buffer.from('{"result":[')];
    let bytes = parts[0]!.byteLength + 2;
    for (let at = 0; at < request.queries.length; at += SLICE_QUERIES) {
      if (at > 0) await new Promise((r) => setImmediate(r));
      if (gone()) throw new Refusal(499, 'the client went away');
      const hits = await source.search(request.queries.slice(at, at + SLICE_QUERIES), request.topk);
      const text = hits.map((list) => JSON.stringify(list.map((h) => (request.returnScores ? { document: { id: h.id, contents: h.contents }, score: h.score } : { id: h.id, contents: h.contents })))).join(',');
      const part = Buffer.from(at > 0 ? `,${text}` : text);
      bytes += part.byteLength;
      if (bytes > maxBytes) throw new Refusal(413, `the answer to ${request.queries.length} queries × topk ${request.topk} would pass the ${maxBytes}-byte limit; send fewer queries per request or a smaller topk`);
      parts.push(part);
    }
    parts.push(Buffer.from(']}'));
    return parts;
  };

  const statsOf = (): RetrievalServerStats => ({ ...counters, uptimeS: (performance.now() - started) / 1000 });
  const server: Server = createServer((req, res) => void handle(req, res));
  server.maxConnections = maxConnections;
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = Math.min(requestTimeoutMs, 60_000);
  await new Promise<void>((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException) => {
      const reason = e.code === 'EADDRINUSE' ? `port ${port} is in use` : e.code === 'EACCES' ? `no permission to listen on port ${port}` : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? `${host} is not an address of this machine` : e.message;
      reject(new IgSearchError('INVALID_ARGUMENT', `retrieval server: cannot listen on ${host}:${port}: ${reason}`, { cause: e, hint: 'give another --port (0 picks a free one) or --host' }));
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  started = performance.now();
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/retrieve`,
    host: address.address,
    port: address.port,
    stats: statsOf,
    close(graceMs = 10_000) {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        const drained = inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => (idle = r));
        const deadline = new Promise<void>((r) => setTimeout(r, graceMs).unref());
        void Promise.race([drained, deadline]).then(() => server.closeAllConnections());
      });
      return closing;
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.byteLength });
  res.end(bytes);
}

/**
 * Writes the answer in WRITE_BYTES pieces, each after the client has read the last (backpressure):
 * nothing more is produced for a client that stops reading, and one that stalls for `timeoutMs` is dropped.
 */
async function sendStreamed(res: ServerResponse, parts: Buffer[], timeoutMs: number): Promise<void> {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': total });
  for (const part of parts) {
    for (let at = 0; at < part.byteLength; at += WRITE_BYTES) {
      if (res.destroyed) return;
      if (!res.write(part.subarray(at, at + WRITE_BYTES))) {
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), timeoutMs);
          const done = (ok: boolean) => () => {
            clearTimeout(timer);
            res.off('drain', onDrain);
            res.off('close', onClose);
            resolve(ok);
          };
          const onDrain = done(true);
          const onClose = done(false);
          res.once('drain', onDrain);
          res.once('close', onClose);
        });
        if (!drained) return void res.destroy();
      }
    }
  }
  res.end();
}

async function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw new Refusal(413, `request body of ${req.headers['content-length']} bytes exceeds the ${maxBytes}-byte limit`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Refusal(413, `request body exceeds the ${maxBytes}-byte limit`);
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Validates a `/retrieve` body as Search-R1's `QueryRequest` (queries, optional topk, return_scores). */
function parseRequest(text: string, limits: { topk: number; maxTopk: number; maxQueries: number; maxQueryChars: number }): RetrieveRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new Refusal(400, `body is not JSON (${(e as Error).message})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Refusal(422, 'body must be a JSON object {"queries": [...], "topk": 3, "return_scores": true}');
  const { queries, topk, return_scores: returnScores } = body as Record<string, unknown>;
  if (!Array.isArray(queries)) throw new Refusal(422, `field "queries" must be a list of strings, got ${queries === undefined ? 'nothing' : typeof queries}`);
  if (queries.length > limits.maxQueries) throw new Refusal(422, `${queries.length} queries exceed the limit of ${limits.maxQueries} per request`);
  queries.forEach((q, i) => {
    if (typeof q !== 'string') throw new Refusal(422, `queries[${i}] must be a string, got ${q === null ? 'null' : typeof q}`);
    if (q.length > limits.maxQueryChars) throw new Refusal(422, `queries[${i}] has ${q.length} characters, more than the limit of ${limits.maxQueryChars}`);
  });
  // Search-R1 treats a missing, null or 0 topk as "the server's default".
  if (topk !== undefined && topk !== null && topk !== 0 && !(Number.isInteger(topk) && (topk as number) >= 1 && (topk as number) <= limits.maxTopk)) {
    throw new Refusal(422, `field "topk" must be an integer from 1 to ${limits.maxTopk}, got ${JSON.stringify(topk)}`);
  }
  if (returnScores !== undefined && returnScores !== null && typeof returnScores !== 'boolean') throw new Refusal(422, `field "return_scores" must be true or false, got ${JSON.stringify(returnScores)}`);
  return { queries: queries as string[], topk: (topk as number | null | undefined) || limits.topk, returnScores: returnScores === true };
}

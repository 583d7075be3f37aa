/**
 * Retrievers behind one interface: the in-process BM25 index (Wasm) and a client for the
 * Search-R1 retrieval server (`POST /retrieve` with `{ queries, topk, return_scores }`, answering
 * `{ result: [[{ document: { id, contents }, score }]] }`). Both give documents with a title
 * (the first line of a Search-R1 `contents`, quotes removed) and the text after it.
 */
import { IgSearchError } from '../errors.js';
import { BodyTooLarge, readBody } from '../platform/platform.js';
import type { Bm25Index } from './bm25.js';
import { passageTitle } from './corpus.js';

export interface RetrievedDocument {
  id: string;
  title: string;
  /** The passage without its title line. */
  text: string;
  score: number;
  /** Index in the local corpus, when the retriever is local (the IG sampler excludes these). */
  doc?: number;
}

export interface Retriever {
  /** Top `k` documents for every query, in query order. */
  search(queries: readonly string[], k: number): Promise<RetrievedDocument[][]>;
}

function split(contents: string): { title: string; text: string } {
  const newline = contents.indexOf('\n');
  return { title: passageTitle(contents), text: newline < 0 ? '' : contents.slice(newline + 1).trim() };
}

/** A local corpus passage as a retrieved document (its title line split off, its corpus index kept). */
export function localDocument(id: string, contents: string, score: number, doc: number): RetrievedDocument {
  return { id, ...split(contents), score, doc };
}

export class Bm25Retriever implements Retriever {
  constructor(readonly index: Bm25Index) {}

  async search(queries: readonly string[], k: number): Promise<RetrievedDocument[][]> {
    return this.index.searchBatch(queries, k).map((hits) => hits.map((h) => localDocument(h.id, h.contents, h.score, h.doc)));
  }
}

export interface HttpRetrieverOptions {
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** Retries after a timeout, network error or 5xx answer (default 2); 4xx and bad JSON are not retried. */
  retries?: number;
  /** First retry delay, doubled each time (default 200 ms). */
  backoffMs?: number;
  /** Largest answer read, in bytes (default 16 MiB); a longer one fails the call, unretried. */
  maxResponseBytes?: number;
  fetch?: typeof fetch;
}

/** Client for the Search-R1 retriever server (e.g. `http://127.0.0.1:8000/retrieve`). */
export class HttpRetriever implements Retriever {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxResponseBytes: number;
  private readonly fetcher: typeof fetch;

  constructor(
    readonly url: string,
    options: HttpRetrieverOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 2;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxResponseBytes = options.maxResponseBytes ?? 16 * 2 ** 20;
    if (!(this.maxResponseBytes > 0)) throw new IgSearchError('INVALID_ARGUMENT', `HttpRetriever: maxResponseBytes must be > 0, got ${options.maxResponseBytes}`);
    try {
      new URL(url);
    } catch {
      throw new IgSearchError('INVALID_ARGUMENT', `retriever URL ${JSON.stringify(url)} is not a URL`, { hint: 'e.g. http://127.0.0.1:8000/retrieve' });
    }
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async search(queries: readonly string[], k: number): Promise<RetrievedDocument[][]> {
    if (queries.length === 0) return [];
    const body = JSON.stringify({ queries, topk: k, return_scores: true });
    let lastError = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.timeoutMs);
      let response: Response;
      let text: string;
      try {
        response = await this.fetcher(this.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: controller.signal });
        text = new TextDecoder().decode(await readBody(response, { maxBytes: this.maxResponseBytes }));
      } catch (e) {
        if (e instanceof BodyTooLarge) {
          controller.abort();
          throw this.fail(`answer exceeds maxResponseBytes (${this.maxResponseBytes} bytes)`, attempt);
        }
        lastError = controller.signal.aborted ? `no answer within ${this.timeoutMs} ms` : (e as Error).message;
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (response.status >= 500) {
        lastError = `HTTP ${response.status}: ${text.slice(0, 200)}`;
        continue;
      }
      if (!response.ok) throw this.fail(`HTTP ${response.status}: ${text.slice(0, 200)}`, attempt);
      return this.parse(text, queries.length, k, attempt);
    }
    throw this.fail(lastError, this.retries);
  }

  private fail(reason: string, attempt: number): IgSearchError {
    return new IgSearchError('RETRIEVAL_FAILED', `retriever ${this.url}: ${reason} (after ${attempt + 1} attempt${attempt ? 's' : ''})`, {
      hint: "is a retrieval server running there? (ig-search serve --corpus FILE.jsonl, or Search-R1's retrieval_server.py: POST /retrieve)",
    });
  }

  private parse(text: string, count: number, k: number, attempt: number): RetrievedDocument[][] {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw this.fail(`answer is not JSON: ${JSON.stringify(text.slice(0, 80))}`, attempt);
    }
    const result = (json as { result?: unknown })?.result;
    if (!Array.isArray(result) || result.length !== count) throw this.fail(`expected { result: [...] } with ${count} lists, got ${text.slice(0, 120)}`, attempt);
    return result.map((hits, q) => {
      if (!Array.isArray(hits)) throw this.fail(`result[${q}] is not a list`, attempt);
      // A server may answer more than asked: the first `k` are kept.
      return hits.slice(0, k).map((hit, i) => {
        const h = hit as { document?: { id?: unknown; contents?: unknown }; score?: unknown; contents?: unknown; id?: unknown };
        const doc = h.document ?? h;
        if (typeof doc.contents !== 'string') throw this.fail(`result[${q}][${i}] has no document.contents`, attempt);
        return { id: String(doc.id ?? `${q}:${i}`), ...split(doc.contents), score: typeof h.score === 'number' ? h.score : NaN };
      });
    });
  }
}

/**
 * Search-R1's observation text for retrieved documents: `Doc i(Title: …) text` lines inside
 * `<information>` (with the blank lines Search-R1 puts around it).
 */
export function formatInformation(docs: readonly RetrievedDocument[]): string {
  const lines = docs.map((d, i) => `Doc ${i + 1}(Title: ${d.title}) ${d.text}`).join('\n');
  return `\n\n<information>${lines}</information>\n\n`;
}

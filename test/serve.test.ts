import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index, Bm25Retriever, HttpRetriever, loadWasmCore, type WasmCore } from '../src/entry/node.js';
import { serveRetrieval, SERVER_DEFAULTS, type RetrievalServer } from '../src/entry/server.js';

const root = new URL('../', import.meta.url).pathname;
const corpusPath = `${root}assets/demo-policy/corpus.jsonl`;
/** A name the corpus holds (its first passage's title, a country every city of it names): queries that hit. */
const NAME = (JSON.parse(readFileSync(corpusPath, 'utf8').split('\n')[0]!) as { contents: string }).contents.split('\n')[0]!.replace(/"/g, '');

let core: WasmCore;
let index: Bm25Index;
let server: RetrievalServer;
beforeAll(async () => {
  core = await loadWasmCore();
  index = Bm25Index.fromJsonl(core, readFileSync(corpusPath, 'utf8'));
  server = await serveRetrieval(index, { port: 0, maxQueries: 64, maxBodyBytes: 4096 });
});
afterAll(async () => {
  await server?.close();
  index?.free();
});

async function post(url: string, body: string): Promise<{ status: number; json: any }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: response.status, json: await response.json() };
}

const QUERIES = ['who founded the company', `${NAME} city country`, 'film directed by', 'zzzz unknown words'];

describe('ig-search serve: the Search-R1 retrieval API over Wasm BM25', () => {
  it('HttpRetriever against the server returns exactly what the in-process index returns', async () => {
    const remote = await new HttpRetriever(server.url).search(QUERIES, 3);
    const local = await new Bm25Retriever(index).search(QUERIES, 3);
    expect(remote.map((hits) => hits.map((h) => [h.id, h.title, h.text, h.score]))).toEqual(local.map((hits) => hits.map((h) => [h.id, h.title, h.text, h.score])));
    expect(remote[0]!.length).toBe(3);
    expect(remote[3]).toEqual([]); // no term of the query is in the corpus
  });

  it("answers Search-R1's shapes: scored documents, bare documents without return_scores, the server's topk by default", async () => {
    const scored = await post(server.url, JSON.stringify({ queries: [NAME], topk: 2, return_scores: true }));
    const hit = index.search(NAME, 2);
    expect(scored.status).toBe(200);
    expect(scored.json).toEqual({ result: [hit.map((h) => ({ document: { id: h.id, contents: h.contents }, score: h.score }))] });
    const bare = await post(server.url, JSON.stringify({ queries: [NAME, 'company'] }));
    expect(bare.json.result.map((list: unknown[]) => list.length)).toEqual([3, 3]); // default topk 3
    expect(bare.json.result[0]).toEqual(index.search(NAME, 3).map((h) => ({ id: h.id, contents: h.contents })));
    expect((await post(server.url, JSON.stringify({ queries: [], topk: null }))).json).toEqual({ result: [] });
  });

  it('refuses bad requests with a status and a reason, and keeps serving', async () => {
    const cases: [string, number, RegExp][] = [
      ['{not json', 400, /not JSON/],
      ['[1, 2]', 422, /JSON object/],
      ['{"queries": "one"}', 422, /"queries" must be a list/],
      ['{"queries": ["a", 3]}', 422, /queries\[1\] must be a string/],
      ['{"queries": ["a"], "topk": 101}', 422, /"topk" must be an integer from 1 to 100/],
      ['{"queries": ["a"], "topk": 1.5}', 422, /"topk"/],
      ['{"queries": ["a"], "return_scores": "yes"}', 422, /return_scores/],
      [JSON.stringify({ queries: Array(65).fill('a') }), 422, /65 queries exceed the limit of 64/],
      [JSON.stringify({ queries: ['a'.repeat(5000)] }), 413, /exceeds the 4096-byte limit/],
      [JSON.stringify({ queries: ['\ud800 lone'] }), 422, /surrogate|UTF/i],
    ];
    for (const [body, status, reason] of cases) {
      const answer = await post(server.url, body);
      expect([body.slice(0, 30), answer.status]).toEqual([body.slice(0, 30), status]);
      expect(answer.json.error).toMatch(reason);
    }
    const base = server.url.replace(/\/retrieve$/, '');
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
    expect((await fetch(server.url)).status).toBe(405);
    const health = await (await fetch(`${base}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', passages: index.size, terms: index.terms });
    expect(health.rejected).toBeGreaterThanOrEqual(cases.length);
    expect((await new HttpRetriever(server.url).search([NAME], 1))[0]![0]!.id).toBe(index.search(NAME, 1)[0]!.id);
  });

  it('answers 40 concurrent requests, each with its own results', async () => {
    const words = ['company', 'city', 'film', 'country', 'founded', 'director', 'born', 'headquarters'];
    const batches = Array.from({ length: 40 }, (_, i) => [words[i % words.length]!, `${words[(i * 3) % words.length]} ${words[(i + 1) % words.length]}`]);
    const answers = await Promise.all(batches.map((queries) => post(server.url, JSON.stringify({ queries, topk: 2, return_scores: true }))));
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.json.result.map((l: { document: { id: string } }[]) => l.map((h) => h.document.id))).toEqual(index.searchBatch(batches[i]!, 2).map((l) => l.map((h) => h.id)));
    });
  });

  it('a plain Python urllib client gets the documents and scores', async () => {
    const script = [
      'import json, sys, urllib.request',
      `body = json.dumps({"queries": ["${NAME}", "company founded"], "topk": 2, "return_scores": True}).encode()`,
      'req = urllib.request.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})',
      'result = json.load(urllib.request.urlopen(req, timeout=10))["result"]',
      'print(json.dumps([[[d["document"]["id"], d["score"]] for d in q] for q in result]))',
    ].join('\n');
    // Not spawnSync: the server answers on this process's event loop.
    const run = await promisify(execFile)('/usr/bin/python3', ['-c', script, server.url], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual(index.searchBatch([NAME, 'company founded'], 2).map((l) => l.map((h) => [h.id, h.score])));
  });

  it('close() answers the request in flight, then refuses new connections', async () => {
    const own = await serveRetrieval(index, { port: 0 });
    // A request whose body arrives slowly is in flight when close() is called.
    const pending = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(own.url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.write(`{"queries": ["${NAME.slice(0, 3)}`);
      setTimeout(() => req.end(`${NAME.slice(3)}"], "topk": 1}`), 300);
    });
    await new Promise((r) => setTimeout(r, 100));
    const closed = own.close();
    const answer = await pending;
    await closed;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).result[0][0].id).toBe(index.search(NAME, 1)[0]!.id);
    await expect(fetch(own.url, { method: 'POST', body: '{"queries": []}' })).rejects.toThrow();
  });

  it('refuses a taken port and bad options with typed errors', async () => {
    await expect(serveRetrieval(index, { port: server.port })).rejects.toThrow(/port \d+ is in use/);
    await expect(serveRetrieval(index, { port: 70000 })).rejects.toThrow(/port must be an integer from 0 to 65535/);
    await expect(serveRetrieval(index, { port: 0, topk: 5, maxTopk: 4 })).rejects.toThrow(/topk 5 exceeds maxTopk 4/);
  });
});

describe('ig-search serve under load: upstream recipes, large answers, clients that do not read', () => {
  // 2,000 passages of ~2 KB: answers large enough to fill socket buffers, searches long enough to time.
  const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'common'];
  let big: Bm25Index;
  beforeAll(() => {
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ id: `d${i}`, contents: `"Doc ${i}"\n${Array.from({ length: 300 }, (_, j) => `${WORDS[(i * 7 + j) % 5]}${j % 13}`).join(' ')}` }));
    big = Bm25Index.fromJsonl(core, lines.join('\n'));
  });
  afterAll(() => big?.free());
  /** POST /retrieve on a connection of its own (`connection: close`, no client pool): the status, or 0 when the server closed it unanswered. */
  const rawPost = (port: number, body: string) =>
    new Promise<number>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (c) => (text += c));
      socket.on('error', () => {});
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)));
      socket.write(`POST /retrieve HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  const manyQueries = (n: number) => Array.from({ length: n }, (_, i) => `common${i % 13} alpha${i % 7} beta${i % 5}`);

  it("serves Search-R1's default recipe (512 prompts × 5 rollouts = 2,560 queries in one POST) with the default limits", async () => {
    const own = await serveRetrieval(index, { port: 0 });
    try {
      const queries = Array.from({ length: 2560 }, (_, i) => QUERIES[i % QUERIES.length]!);
      const answer = await post(own.url, JSON.stringify({ queries, topk: 3, return_scores: true }));
      expect(answer.status).toBe(200);
      expect(answer.json.result.length).toBe(2560);
      expect(answer.json.result[2561 % 4]!.map((h: { document: { id: string } }) => h.document.id)).toEqual(index.search(QUERIES[2561 % 4]!, 3).map((h) => h.id));
      // Errors carry FastAPI's `detail`, which Search-R1's and verl's clients print.
      const refused = await post(own.url, JSON.stringify({ queries: 'one' }));
      expect(refused).toMatchObject({ status: 422, json: { detail: expect.stringMatching(/"queries" must be a list/) } });
    } finally {
      await own.close();
    }
  });

  it('an answer past maxResponseBytes is 413 naming the limit (default 32 MiB), before it is built whole', async () => {
    expect(SERVER_DEFAULTS.maxResponseBytes).toBe(32 * 2 ** 20);
    const own = await serveRetrieval(big, { port: 0, maxResponseBytes: 2 ** 20 });
    try {
      const answer = await post(own.url, JSON.stringify({ queries: Array(1024).fill('common1'), topk: 100 }));
      expect(answer.status).toBe(413);
      expect(answer.json.detail).toMatch(/answer to 1024 queries × topk 100 would pass the 1048576-byte limit/);
      expect((await post(own.url, JSON.stringify({ queries: ['common1'], topk: 2 }))).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  it('one large search leaves the event loop free: /health sent after it started is answered before it', async () => {
    const own = await serveRetrieval(big, { port: 0, maxQueries: 10_000 });
    try {
      const order: string[] = [];
      let sent!: () => void;
      const flushed = new Promise<void>((r) => (sent = r));
      const heavy = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(own.url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          order.push('search'); // its status line: the search is done
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ queries: manyQueries(8000), topk: 1 }), () => sent());
      });
      await flushed;
      await new Promise((r) => setTimeout(r, 200)); // the body is in and the search under way
      const health = fetch(own.url.replace(/\/retrieve$/, '/health')).then((r) => (order.push('health'), r.json()));
      const [h, a] = await Promise.all([health, heavy]);
      expect(a.status).toBe(200);
      expect(h.status).toBe('ok');
      expect(order).toEqual(['health', 'search']);
    } finally {
      await own.close();
    }
  });

  it('a client that stops reading is dropped after requestTimeoutMs, and others are served meanwhile; connections past maxConnections are closed', async () => {
    const own = await serveRetrieval(big, { port: 0, maxResponseBytes: 2 ** 26, requestTimeoutMs: 1000, maxConnections: 3 });
    try {
      const body = JSON.stringify({ queries: manyQueries(200), topk: 100 }); // ~44 MB of answer
      const stuck = connect(own.port, '127.0.0.1');
      const closed = new Promise<void>((resolve) => stuck.on('close', () => resolve()));
      stuck.on('error', () => {});
      stuck.write(`POST /retrieve HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      stuck.pause(); // never reads
      await new Promise((r) => setTimeout(r, 300));
      expect(await rawPost(own.port, JSON.stringify({ queries: ['common1'], topk: 1 }))).toBe(200);
      // Past the timeout the server has dropped it: reading now gets what was in flight, then the end — not the whole answer.
      await new Promise((r) => setTimeout(r, 3000));
      stuck.resume();
      await closed;
      expect(stuck.bytesRead).toBeLessThan(40 * 2 ** 20); // before backpressure, the whole ~44 MB answer

      // The connection cap: three idle sockets fill it, a fourth is closed unanswered, freeing one lets requests in again.
      const idle = await Promise.all(Array.from({ length: 3 }, () => new Promise<import('node:net').Socket>((resolve) => { const s = connect(own.port, '127.0.0.1', () => resolve(s)); s.on('error', () => {}); })));
      await new Promise((r) => setTimeout(r, 100));
      expect(await rawPost(own.port, '{"queries": []}')).toBe(0);
      idle[0]!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      expect(await rawPost(own.port, '{"queries": []}')).toBe(200);
      for (const s of idle) s.destroy();
    } finally {
      await own.close(100);
    }
  }, 60_000);
});

describe('ig-search serve (CLI)', () => {
  /** Starts the built CLI; resolves with the URL it prints and the child. */
  function start(args: string[]): Promise<{ url: string; stop(): Promise<{ code: number | null; stderr: string }> }> {
    const child = spawn(process.execPath, [`${root}bin/ig-search.js`, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    return new Promise((resolve, reject) => {
      child.stdout.on('data', (c) => {
        stdout += c;
        const url = /serving \d+ passages at (\S+)/.exec(stdout)?.[1];
        if (url) resolve({ url, stop: async () => (child.kill('SIGTERM'), { code: await exited, stderr }) });
      });
      void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
  }

  it('builds from a corpus, saves the index, serves it again from the file without the corpus, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(`${tmpdir()}/ig-serve-`);
    const first = await start(['--corpus', corpusPath, '--save-index', `${dir}/corpus.bm25`]);
    const built = await new HttpRetriever(first.url).search(QUERIES, 3);
    const stopped = await first.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toMatch(/stopped after .*1 requests, 4 queries, 0 refused/);
    const second = await start(['--index', `${dir}/corpus.bm25`]);
    expect(await new HttpRetriever(second.url).search(QUERIES, 3)).toEqual(built);
    expect((await second.stop()).code).toBe(0);
  });

  it('a file that is not an index is a typed error, not a crash', () => {
    const run = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'serve', '--index', corpusPath, '--port', '0'], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--index .*corpus\.jsonl is not a saved BM25 index/);
  });
});

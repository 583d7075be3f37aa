import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index, Bm25Retriever, HttpRetriever, IgSearchError, loadWasmCore, CausalLM, rolloutSearchAgent, Tokenizer, type Retriever, type WasmCore } from '../src/entry/node.js';
import { INVALID_SEARCH_NOTE } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';

const TAGS = ['<think>', '</think>', '<search>', '</search>', '<information>', '</information>', '<answer>', '</answer>'];
const PASSAGES = [
  { id: 'p1', contents: '"Paris"\nParis is the capital of France and its largest city.' },
  { id: 'p2', contents: '"Berlin"\nBerlin is the capital of Germany.' },
  { id: 'p3', contents: '"Mont Blanc"\nMont Blanc is the highest mountain of the Alps.' },
];

const env = withGpu();
let core: WasmCore;
let model: CausalLM;
let tokenizer: Tokenizer;
let index: Bm25Index;
beforeAll(async () => {
  core = await loadWasmCore();
  model = await CausalLM.load(env.gpu, 'test/fixtures/qwen2/tiny-f32');
  // A 512-token vocabulary (the fixture model's) trained here, with the protocol tags as specials.
  const texts = [...PASSAGES.map((p) => p.contents), 'capital of France? the answer is Paris', INVALID_SEARCH_NOTE, 'Doc 1(Title: x) y z'];
  tokenizer = Tokenizer.train(core, texts, { vocabSize: 512, specialTokens: TAGS }).tokenizer;
  index = Bm25Index.build(core, PASSAGES);
});
afterAll(() => {
  model?.free();
});

/** Sequence s emits turns[s][turn] (then keeps repeating `filler` if the script runs out). */
function script(turns: string[][], filler = 'z'): (s: number, turn: number, position: number) => number | undefined {
  const ids = turns.map((t) => t.map((text) => Array.from(tokenizer.encode(text, { addSpecialTokens: false }))));
  const fill = tokenizer.encode(filler, { addSpecialTokens: false })[0]!;
  return (s, turn, position) => ids[s]?.[turn]?.[position] ?? fill;
}

describe('Search-R1 tool loop (fixture model, scripted policy tokens)', () => {
  it('search → information → answer; empty query; runaway; unclosed tag; max turns — each ends cleanly with the right masks', async () => {
    const prompt = Array.from(tokenizer.encode('capital of France?', { addSpecialTokens: false }));
    const turns = [
      ['<think>need it</think><search> capital of France </search>', '<answer> Paris </answer>'],
      ['<search> </search>', '<answer> x </answer>'],
      [],
      ['<search> never closed'],
      ['<search> Berlin </search>', '<search> Alps </search>'],
    ];
    const out = await rolloutSearchAgent(model, turns.map(() => prompt), { tokenizer, retriever: new Bm25Retriever(index), script: script(turns), maxTurns: 1, maxTokens: 120, docsPerSearch: 2, seed: 1 });

    const [answered, empty, runaway, unclosed, turnsOut] = out;
    expect(answered!.finish).toBe('answer');
    expect(answered!.answer).toBe('Paris');
    expect(answered!.searches.map((s) => s.query)).toEqual(['capital of France']);
    expect(answered!.searches[0]!.documents[0]!.title).toBe('Paris');
    expect(answered!.text).toContain('<information>Doc 1(Title: Paris) Paris is the capital of France');
    const [a, b] = answered!.searches[0]!.span;
    expect(tokenizer.decode(answered!.tokens.subarray(a, b)).trim()).toBe('capital of France');
    // Appended tokens: exactly the information block, mask 0 and log-prob 0; policy tokens finite < 0.
    const appended = answered!.tokens.filter((_, i) => answered!.policyMask[i] === 0);
    const [i0, i1] = answered!.searches[0]!.information;
    expect(Array.from(answered!.tokens.subarray(i0, i1))).toEqual(Array.from(appended));
    expect(tokenizer.decode(appended)).toBe(answered!.text.slice(answered!.text.indexOf('\n\n<information>'), answered!.text.indexOf('</information>\n\n') + '</information>\n\n'.length));
    answered!.logprobs.forEach((lp, i) => (answered!.policyMask[i] ? expect(lp).toBeLessThan(0) : expect(lp).toBe(0)));

    expect(empty!.finish).toBe('answer');
    expect(empty!.searches).toEqual([]);
    expect(empty!.text).toContain(INVALID_SEARCH_NOTE);

    expect(runaway!.finish).toBe('length');
    expect(runaway!.tokens.length).toBe(120); // maxTokens
    expect(runaway!.policyMask.every((m) => m === 1)).toBe(true);

    expect(unclosed!.finish).toBe('length');
    expect(unclosed!.searches).toEqual([]);

    expect(turnsOut!.finish).toBe('max_turns');
    expect(turnsOut!.searches.map((s) => s.query)).toEqual(['Berlin']);
  });

  it('other sequences keep decoding while one waits for a slow retriever', async () => {
    const prompt = Array.from(tokenizer.encode('q', { addSpecialTokens: false }));
    const turns = [['<search> capital of France </search>', '<answer> Paris </answer>'], ['hello there, how are you? I am fine. hello there, how are you? <answer> ok </answer>']];
    const calls: number[] = [];
    const inner = script(turns);
    let window: [number, number] = [0, 0];
    const slow: Retriever = {
      search: async (queries, k) => {
        const start = calls.length;
        await new Promise((r) => setTimeout(r, 150));
        window = [start, calls.length];
        return new Bm25Retriever(index).search(queries, k);
      },
    };
    const out = await rolloutSearchAgent(model, [prompt, prompt], {
      tokenizer,
      retriever: slow,
      maxTokens: 120,
      docsPerSearch: 1,
      script: (s, turn, position) => (calls.push(s), inner(s, turn, position)),
    });
    expect(out[0]!.finish, out[0]!.text).toBe('answer');
    expect(out[0]!.answer).toBe('Paris');
    expect(out[1]!.answer).toBe('ok');
    const during = calls.slice(window[0], window[1]);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((s) => s === 1)).toBe(true); // only the other sequence moved while sequence 0 waited
  });

  it('a failing retriever ends that trajectory with the error; the others go on', async () => {
    const prompt = Array.from(tokenizer.encode('q', { addSpecialTokens: false }));
    const turns = [['<search> boom </search>'], ['<answer> fine </answer>']];
    const failing: Retriever = { search: async (queries) => (queries.includes('boom') ? Promise.reject(new IgSearchError('RETRIEVAL_FAILED', 'server down')) : []) };
    const out = await rolloutSearchAgent(model, [prompt, prompt], { tokenizer, retriever: failing, script: script(turns), maxTokens: 60 });
    expect(out[0]!.finish).toBe('retrieval_failed');
    expect(out[0]!.error).toMatch(/server down/);
    expect(out[1]!.finish).toBe('answer');
    expect(out[1]!.answer).toBe('fine');
  });
});

describe('HTTP retriever (Search-R1 /retrieve API) against a local server', () => {
  let server: Server;
  let url: string;
  let mode: 'ok' | 'fail-once' | 'slow' | 'garbage' | 'missing' | 'huge' | 'flood' = 'ok';
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        requests++;
        const { queries, topk } = JSON.parse(body) as { queries: string[]; topk: number };
        if (mode === 'fail-once' && requests === 1) return void res.writeHead(500).end('boom');
        if (mode === 'slow') return void setTimeout(() => res.end('{}'), 500);
        if (mode === 'garbage') return void res.end('<html>not json');
        if (mode === 'missing') return void res.writeHead(404).end('no such route');
        if (mode === 'huge') {
          // 40 MB streamed in chunks with no content-length: the client must stop reading at its cap.
          res.setHeader('content-type', 'application/json');
          res.write('{"result": [[');
          let sent = 0;
          const chunk = `{"document": {"id": "x", "contents": "${'y'.repeat(65_000)}"}, "score": 1},`;
          const more = () => {
            while (sent < 40e6) {
              sent += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', more);
            }
            res.end('{}]]}');
          };
          res.on('error', () => {});
          return more();
        }
        if (mode === 'flood') {
          const result = queries.map((q) => Array.from({ length: 5000 }, (_, i) => ({ document: { id: `${q}-${i}`, contents: `"T${i}"\nabout ${q}` }, score: 5000 - i })));
          return void res.end(JSON.stringify({ result }));
        }
        const result = queries.map((q) => Array.from({ length: topk }, (_, i) => ({ document: { id: `${q}-${i}`, contents: `"T${i}"\nabout ${q}` }, score: 10 - i })));
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ result }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/retrieve`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const run = async (m: typeof mode, options = {}) => {
    mode = m;
    requests = 0;
    return new HttpRetriever(url, { timeoutMs: 100, retries: 2, backoffMs: 5, ...options }).search(['alpha', 'beta'], 2);
  };

  it('parses documents, titles and scores', async () => {
    const docs = await run('ok');
    expect(docs.map((d) => d.map((x) => [x.id, x.title, x.text, x.score]))).toEqual([
      [['alpha-0', 'T0', 'about alpha', 10], ['alpha-1', 'T1', 'about alpha', 9]],
      [['beta-0', 'T0', 'about beta', 10], ['beta-1', 'T1', 'about beta', 9]],
    ]);
  });

  it('retries a 500, gives up after bounded retries on timeouts, and names the failure', async () => {
    expect((await run('fail-once')).length).toBe(2);
    expect(requests).toBe(2);
    await expect(run('slow')).rejects.toThrow(/no answer within 100 ms \(after 3 attempts\)/);
    expect(requests).toBe(3);
    const garbage = await run('garbage').catch((e) => e);
    expect(garbage).toBeInstanceOf(IgSearchError);
    expect(garbage.code).toBe('RETRIEVAL_FAILED');
    expect(garbage.message).toMatch(/answer is not JSON/);
    expect(requests).toBe(1);
    await expect(run('missing')).rejects.toThrow(/HTTP 404/);
    expect(requests).toBe(1);
  });

  it('bounds what an answer can cost: at most topk documents per query, and an oversize answer fails unretried', async () => {
    const flooded = await run('flood');
    expect(flooded.map((d) => d.length)).toEqual([2, 2]); // 5,000 answered, 2 asked
    expect(flooded[0]!.map((d) => d.id)).toEqual(['alpha-0', 'alpha-1']);
    const huge = await run('huge', { maxResponseBytes: 1_000_000, timeoutMs: 10_000 }).catch((e) => e);
    expect(huge).toBeInstanceOf(IgSearchError);
    expect(huge.code).toBe('RETRIEVAL_FAILED');
    expect(huge.message).toMatch(/exceeds maxResponseBytes \(1000000 bytes\)/);
    expect(requests).toBe(1);
    expect(() => new HttpRetriever('not a url')).toThrow(/is not a URL/);
  });
});

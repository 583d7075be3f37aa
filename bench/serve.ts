/**
 * `ig-search serve` under load, on loopback: a 100k-passage synthetic corpus, requests of 16
 * queries at top-3 with scores (what a Search-R1 / verl rollout worker sends), from CONCURRENCY
 * clients at once for DURATION seconds after a warm-up. The server is the built CLI in its own
 * process (as users run it); the clients share this one. Beside it, in the same run, the same
 * batches through the index in-process (no HTTP), to show what the HTTP layer costs.
 *
 *   npm run bench -- serve [--seconds 20] [--concurrency 8]   # writes bench/results/serve.json
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { Bm25Index, loadWasmCore } from 'ig-search';
import { printTable, rng, syntheticCorpus, writeResults } from './_lib.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, concurrency: { type: 'string', default: '8' } } });
const DURATION = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const PASSAGES = 100_000;
const BATCH = 16;
const TOPK = 3;

const random = rng(11);
const { passages, queries } = syntheticCorpus(random, PASSAGES, 4096);
const dir = mkdtempSync(`${tmpdir()}/ig-serve-bench-`);
const corpusPath = `${dir}/corpus.jsonl`;
writeFileSync(corpusPath, passages.map((p) => JSON.stringify(p)).join('\n'));

// ---- the server: built from the JSONL, saved, then served from the saved index ------------------
function startServer(args: string[]): Promise<{ url: string; seconds: number; stop(): Promise<void> }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['bin/ig-search.js', 'serve', '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      const url = /serving \d+ passages at (\S+)/.exec(out)?.[1];
      if (url) resolve({ url, seconds: (performance.now() - started) / 1000, stop: () => new Promise((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))) });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code} before listening`)));
  });
}

const built = await startServer(['--corpus', corpusPath, '--save-index', `${dir}/corpus.bm25`]);
await built.stop();
const server = await startServer(['--index', `${dir}/corpus.bm25`]);
console.log(`index: ${PASSAGES.toLocaleString()} passages; build + save ${built.seconds.toFixed(1)} s, load from the saved index ${server.seconds.toFixed(1)} s (process start included)`);

// ---- load: CONCURRENCY clients, each sending the next batch when its answer arrives ------------
let next = 0;
const batch = () => {
  const start = (next++ * BATCH) % queries.length;
  return queries.slice(start, start + BATCH);
};
async function client(until: number, latencies: number[] | undefined): Promise<number> {
  let answered = 0;
  while (performance.now() < until) {
    const body = JSON.stringify({ queries: batch(), topk: TOPK, return_scores: true });
    const t0 = performance.now();
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = (await response.json()) as { result: unknown[][] };
    if (response.status !== 200 || json.result.length !== BATCH) throw new Error(`bad answer: HTTP ${response.status}`);
    latencies?.push(performance.now() - t0);
    answered += BATCH;
  }
  return answered;
}
await Promise.all(Array.from({ length: CONCURRENCY }, () => client(performance.now() + 2000, undefined))); // warm-up
const latencies: number[] = [];
const t0 = performance.now();
const counts = await Promise.all(Array.from({ length: CONCURRENCY }, () => client(t0 + DURATION * 1000, latencies)));
const elapsed = (performance.now() - t0) / 1000;
await server.stop();
const served = counts.reduce((a, b) => a + b, 0);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;

// ---- the same batches in-process, no HTTP -------------------------------------------------------
const core = await loadWasmCore();
const index = Bm25Index.build(core, passages);
let inProcessQueries = 0;
const t1 = performance.now();
while (performance.now() - t1 < 5000) {
  index.searchBatch(batch(), TOPK);
  inProcessQueries += BATCH;
}
const inProcessQps = inProcessQueries / ((performance.now() - t1) / 1000);
index.free();
rmSync(dir, { recursive: true, force: true });

const qps = served / elapsed;
printTable(
  ['', 'queries/s', 'requests/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
  [
    [`HTTP, ${CONCURRENCY} clients`, qps, latencies.length / elapsed, pct(50), pct(90), pct(99), latencies.at(-1)!],
    ['in-process searchBatch', inProcessQps, inProcessQps / BATCH, NaN, NaN, NaN, NaN],
  ],
);
const ratios = { queries_per_s: qps, p99_ms: pct(99), http_vs_in_process: qps / inProcessQps };
console.log('\nratios:', ratios);
const path = writeResults('serve', {
  workload: { passages: PASSAGES, batch: BATCH, topk: TOPK, concurrency: CONCURRENCY, seconds: DURATION, requests: latencies.length },
  seconds: { buildAndSave: built.seconds, loadSaved: server.seconds },
  latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: latencies.at(-1) },
  inProcessQueriesPerS: inProcessQps,
  ratios,
});
console.log(`wrote ${path}`);

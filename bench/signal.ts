/**
 * Does each step signal rank the warm start's search queries by quality? The demo policy rolls out
 * the demo world's questions (G = 4, no update); every search is labelled precise / redundant /
 * vague from the questions' supporting passages, and each signal — raw IG, shaped IG̃ (what
 * ig-search and mr-search credit), IGPO's p_t − p_{t−1}, StepSearch's TF-IDF G − P — is scored by
 * its AUC of precise vs vague and precise vs redundant, overall, by hop count and by search position.
 *
 * It reads the **validation** split (questions about entities the warm start never saw in SFT);
 * `--split train` measures the questions it was trained on instead. The test split is never read:
 * it is kept for the pre-registered comparison. IG-Search-γ's forward credit is measured at every γ
 * of `--gammas`, the grid its default γ is chosen from.
 *
 * `--policy DIR` measures another warm start (an `ig-search sft` directory) on its own world's split.
 *
 *   npm run bench -- signal [--policy assets/demo-policy] [--split validation|train] [--questions N] [--group G] [--gammas 0.5,0.9,1]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Bm25Index, CausalLM, DEMO_DEFAULTS, Gpu, IgSearchTrainer, formatSignalTable, loadTokenizer, loadWasmCore, measureSignals, parseQuestionsJsonl } from 'ig-search';
import { printTable, writeResults } from './_lib.js';

const { values } = parseArgs({ options: { policy: { type: 'string', default: 'assets/demo-policy' }, split: { type: 'string', default: 'validation' }, questions: { type: 'string' }, group: { type: 'string', default: '4' }, gammas: { type: 'string', default: '0.5,0.9,1' } } });
if (values.split !== 'validation' && values.split !== 'train') throw new Error(`--split: validation or train (the test split is for the pre-registered comparison), got ${values.split}`);
const gammas = values.gammas.split(',').map(Number);
const POLICY = values.policy;
const core = await loadWasmCore();
const gpu = await Gpu.request();
const tokenizer = await loadTokenizer(core, POLICY);
const model = await CausalLM.load(gpu, POLICY);
const index = Bm25Index.fromJsonl(core, readFileSync(`${POLICY}/corpus.jsonl`, 'utf8'));
const all = parseQuestionsJsonl(readFileSync(`${POLICY}/${values.split}.jsonl`, 'utf8')).questions;
const questions = values.questions ? all.slice(0, Number(values.questions)) : all;
const groupSize = Number(values.group);
// The rollouts the demo and the comparison train on: their turns, token budget and documents per search.
const { maxTurns, maxTokens, docsPerSearch } = DEMO_DEFAULTS;
const trainer = new IgSearchTrainer(gpu, core, model, tokenizer, index, { algo: 'ig-search', groupSize, maxTurns, maxTokens, docsPerSearch });
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device}; ${questions.length} ${values.split} questions × G = ${groupSize}\n`);
const started = performance.now();
const m = await measureSignals(trainer, questions, { batch: 8, gammas, onProgress: (done, total) => process.stderr.write(`\r${done}/${total} questions`) });
const seconds = (performance.now() - started) / 1000;
process.stderr.write('\n');
console.log(formatSignalTable(m));
console.log();
const f = (v: number | null | undefined) => (v === null || v === undefined ? Number.NaN : v);
printTable(
  ['signal', 'AUC p/v', 'AUC p/r', '1-hop p/v', '2-hop p/v', '3-hop p/v', 'multi #1 p/v', 'multi #2 p/v'],
  m.summaries.map((s) => [s.signal, f(s.preciseVsVague), f(s.preciseVsRedundant), f(s.byHops['1']?.preciseVsVague), f(s.byHops['2']?.preciseVsVague), f(s.byHops['3']?.preciseVsVague), f(s.bySearch['1']?.preciseVsVague), f(s.bySearch['2']?.preciseVsVague)]),
);
const shaped = m.summaries.find((s) => s.signal === 'ig_shaped')!;
// The γ whose forward credit best separates a multi-hop question's first queries (where plain IG is blind).
const firstHop = (signal: string) => f(m.summaries.find((s) => s.signal === signal)?.bySearch['1']?.preciseVsVague);
const bestGamma = gammas.reduce((best, g) => (firstHop(`ig_gamma@${g}`) > firstHop(`ig_gamma@${best}`) ? g : best), gammas[0]!);
const path = writeResults('signal', {
  policy: POLICY,
  split: values.split,
  questions: m.questions,
  groupSize,
  rollout: { maxTurns, maxTokens, docsPerSearch },
  rollouts: m.rollouts,
  searches: m.records.length,
  seconds,
  reward: m.reward,
  firstQueryPrecision: m.firstQueryPrecision,
  allFailShare: m.allFailShare,
  summaries: m.summaries,
  gammas,
  ratios: {
    ig_auc_precise_vs_vague: shaped.preciseVsVague,
    ig_auc_precise_vs_redundant: shaped.preciseVsRedundant,
    ig_auc_multihop_first_search: shaped.bySearch['1']?.preciseVsVague ?? null,
    [`first_query_precision${values.split === 'train' ? '_train' : ''}`]: m.firstQueryPrecision,
    all_fail_share: m.allFailShare,
    best_gamma: bestGamma,
    ig_gamma_auc_multihop_first_search: firstHop(`ig_gamma@${bestGamma}`),
    ig_gamma_auc_precise_vs_vague: f(m.summaries.find((s) => s.signal === `ig_gamma@${bestGamma}`)?.preciseVsVague),
  },
});
console.log(`\n${seconds.toFixed(0)} s; wrote ${path}`);
index.free();
model.free();
gpu.destroy();

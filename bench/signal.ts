/**
 * Does each step signal rank the warm start's search queries by quality? The demo policy rolls out
 * the demo world's questions (G = 4, no update); every search is labelled precise / redundant /
 * vague from the questions' supporting passages, and each signal — raw IG, shaped IG̃ (what
 * ig-search and mr-search credit), IGPO's p_t − p_{t−1}, StepSearch's TF-IDF G − P — is scored by
 * its AUC of precise vs vague and precise vs redundant, overall, by hop count and by search position.
 *
 * It reads the **training** split only: the world has no validation split yet, and the test split is
 * kept for the pre-registered comparison. The warm start has seen these questions in SFT, so its
 * first-query precision here is an upper bound of what it does on unseen questions.
 *
 *   npm run bench -- signal [--questions N] [--group G]    # writes bench/results/signal.json
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Bm25Index, CausalLM, Gpu, IgSearchTrainer, formatSignalTable, loadTokenizer, loadWasmCore, measureSignals, parseQuestionsJsonl } from 'ig-search';
import { printTable, writeResults } from './_lib.js';

const { values } = parseArgs({ options: { questions: { type: 'string' }, group: { type: 'string', default: '4' } } });
const POLICY = 'assets/demo-policy';
const core = await loadWasmCore();
const gpu = await Gpu.request();
const tokenizer = await loadTokenizer(core, POLICY);
const model = await CausalLM.load(gpu, POLICY);
const index = Bm25Index.fromJsonl(core, readFileSync(`${POLICY}/corpus.jsonl`, 'utf8'));
const all = parseQuestionsJsonl(readFileSync(`${POLICY}/train.jsonl`, 'utf8')).questions;
const questions = values.questions ? all.slice(0, Number(values.questions)) : all;
const groupSize = Number(values.group);
const trainer = new IgSearchTrainer(gpu, core, model, tokenizer, index, { algo: 'ig-search', groupSize });
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device}; ${questions.length} training questions × G = ${groupSize}\n`);
const started = performance.now();
const m = await measureSignals(trainer, questions, { batch: 8, onProgress: (done, total) => process.stderr.write(`\r${done}/${total} questions`) });
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
const path = writeResults('signal', {
  split: 'train (no validation split yet; test kept for the pre-registered run)',
  questions: m.questions,
  groupSize,
  rollouts: m.rollouts,
  searches: m.records.length,
  seconds,
  reward: m.reward,
  firstQueryPrecision: m.firstQueryPrecision,
  allFailShare: m.allFailShare,
  summaries: m.summaries,
  ratios: {
    ig_auc_precise_vs_vague: shaped.preciseVsVague,
    ig_auc_precise_vs_redundant: shaped.preciseVsRedundant,
    first_query_precision_train: m.firstQueryPrecision,
  },
});
console.log(`\n${seconds.toFixed(0)} s; wrote ${path}`);
index.free();
model.free();
gpu.destroy();

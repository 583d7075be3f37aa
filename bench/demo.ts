/**
 * The main job, several seeds: `ig-search demo` (GRPO then IG-Search from the committed
 * warm-started policy, same seed, questions and budget per pair) once per seed, reporting final
 * greedy exact match on the validation questions the demo evaluates (single-hop, multi-hop), IG
 * scoring's share of the step time, and the wall time of each demo.
 *
 * IG-Search runs once per λ in `--lambdas` (the first is the demo's default and gives the headline
 * ratios); GRPO is the same for every λ and runs once per seed.
 *
 *   npm run bench -- demo [--seeds 1,2,3] [--steps 30] [--lambdas 1,0.3]   # writes bench/results/demo.json
 */
import { parseArgs } from 'node:util';
import { Gpu, loadWasmCore, pairedBootstrap, runDemo, summarizeRuns, DEMO_DEFAULTS, type RunRecord, type RunSummary } from 'ig-search';
import { differences, hopSubsets } from 'ig-search/internals';
import { printTable, writeResults } from './_lib.js';

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '1,2,3' }, steps: { type: 'string', default: String(DEMO_DEFAULTS.steps) }, lambdas: { type: 'string', default: `${DEMO_DEFAULTS.lambda},${DEMO_DEFAULTS.lambda === 1 ? 0.3 : 1}` } } });
const seeds = values.seeds.split(',').map(Number);
const lambdas = values.lambdas.split(',').map(Number);
const steps = Number(values.steps);
const policy = new URL('../assets/demo-policy', import.meta.url).pathname;

const core = await loadWasmCore();
const gpu = await Gpu.request();
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'}); ${steps} steps per algorithm, seeds ${seeds.join(', ')}\n`);

interface SeedResult {
  seed: number;
  /** Wall time of the demo as `ig-search demo` runs it (GRPO + IG-Search at the default λ). */
  wallSeconds: number;
  grpo: RunSummary;
  /** IG-Search at the default λ. */
  igSearch: RunSummary;
  /** IG-Search at every λ, keyed by λ. */
  byLambda: Record<string, RunSummary>;
  /** Final greedy exact match per validation question: GRPO, IG-Search at the default λ; and each question's hops. */
  correct: { grpo: number[]; igSearch: number[]; hops: number[] };
}
const finalEval = (records: readonly RunRecord[], run: string) => records.filter((r): r is Extract<RunRecord, { type: 'eval' }> => r.type === 'eval' && r.run === run).at(-1)!;
const results: SeedResult[] = [];
for (const seed of seeds) {
  const log = (e: { type: string; run: string; step?: number; em?: number }, tag: string) => {
    if (e.type === 'eval') process.stderr.write(`seed ${seed} ${e.run}${tag} step ${e.step}: EM ${(e.em! * 100).toFixed(1)}%\n`);
  };
  const result = await runDemo(gpu, core, { policy, steps, seed, trainer: { lambda: lambdas[0] }, onEvent: (e) => log(e, ` λ=${lambdas[0]}`) });
  const [grpo, igSearch] = summarizeRuns(result.records);
  const byLambda: Record<string, RunSummary> = { [String(lambdas[0])]: igSearch! };
  for (const lambda of lambdas.slice(1)) {
    const extra = await runDemo(gpu, core, { policy, steps, seed, algos: ['ig-search'], trainer: { lambda }, onEvent: (e) => log(e, ` λ=${lambda}`) });
    byLambda[String(lambda)] = summarizeRuns(extra.records)[0]!;
  }
  const [g, ig] = [finalEval(result.records, 'grpo'), finalEval(result.records, 'ig-search')];
  results.push({ seed, wallSeconds: result.wallMs / 1000, grpo: grpo!, igSearch: igSearch!, byLambda, correct: { grpo: g.correct, igSearch: ig.correct, hops: g.questionHops } });
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
printTable(
  ['seed', 'GRPO EM single / multi', ...lambdas.map((l) => `IG-Search λ=${l} single / multi`), 'multi-hop gain (default λ)', 'IG share of step', 'step s GRPO / IG', 'demo wall s'],
  results.map((r) => [
    String(r.seed),
    `${pct(r.grpo.emSingle)} / ${pct(r.grpo.emMulti)}`,
    ...lambdas.map((l) => `${pct(r.byLambda[String(l)]!.emSingle)} / ${pct(r.byLambda[String(l)]!.emMulti)}`),
    pct(r.igSearch.emMulti - r.grpo.emMulti),
    pct(r.igSearch.igShare),
    `${(r.grpo.stepMs / 1000).toFixed(2)} / ${(r.igSearch.stepMs / 1000).toFixed(2)}`,
    r.wallSeconds.toFixed(0),
  ]),
);
const byLambda = Object.fromEntries(
  lambdas.map((l) => {
    const runs = results.map((r) => r.byLambda[String(l)]!);
    return [String(l), { emSingle: mean(runs.map((x) => x.emSingle)), emMulti: mean(runs.map((x) => x.emMulti)), em: mean(runs.map((x) => x.em)), multihopGain: mean(results.map((r) => r.byLambda[String(l)]!.emMulti - r.grpo.emMulti)) }];
  }),
);
// IG-Search − GRPO over seeds × validation questions, paired (95% bootstrap).
const diffs = differences(
  results.map((r) => r.correct.igSearch),
  results.map((r) => r.correct.grpo),
);
const hops = results[0]!.correct.hops;
const subsets = hopSubsets(hops);
const intervals = { all: pairedBootstrap(diffs), single: pairedBootstrap(diffs, subsets.single), multi: pairedBootstrap(diffs, subsets.multi) };
console.log(`IG-Search − GRPO (95% paired bootstrap over seeds × ${hops.length} questions): multi-hop ${pct(intervals.multi.mean)} [${pct(intervals.multi.low)}, ${pct(intervals.multi.high)}], single-hop ${pct(intervals.single.mean)} [${pct(intervals.single.low)}, ${pct(intervals.single.high)}]`);
const summary = {
  grpo: { emSingle: mean(results.map((r) => r.grpo.emSingle)), emMulti: mean(results.map((r) => r.grpo.emMulti)), em: mean(results.map((r) => r.grpo.em)) },
  igSearch: { emSingle: mean(results.map((r) => r.igSearch.emSingle)), emMulti: mean(results.map((r) => r.igSearch.emMulti)), em: mean(results.map((r) => r.igSearch.em)) },
  startEm: results[0]!.grpo.emStart,
  startEmMulti: results[0]!.grpo.emMultiStart,
  demoWallSeconds: { mean: mean(results.map((r) => r.wallSeconds)), max: Math.max(...results.map((r) => r.wallSeconds)) },
  igStepOverhead: mean(results.map((r) => r.igSearch.stepMs / r.grpo.stepMs - 1)),
  defaultLambda: lambdas[0],
  byLambda,
  intervals,
};
for (const l of lambdas) console.log(`IG-Search λ=${l}: EM ${pct(byLambda[String(l)]!.em)}, single ${pct(byLambda[String(l)]!.emSingle)}, multi ${pct(byLambda[String(l)]!.emMulti)} (gain over GRPO ${pct(byLambda[String(l)]!.multihopGain)})`);
console.log(
  `\nmean over ${seeds.length} seeds: GRPO ${pct(summary.grpo.emSingle)} / ${pct(summary.grpo.emMulti)}, IG-Search ${pct(summary.igSearch.emSingle)} / ${pct(summary.igSearch.emMulti)} (single / multi-hop; start ${pct(summary.startEm)} overall); demo wall ${summary.demoWallSeconds.mean.toFixed(0)} s (max ${summary.demoWallSeconds.max.toFixed(0)} s)`,
);
const path = writeResults('demo', {
  adapter: gpu.adapter,
  steps,
  seeds,
  budget: { ...DEMO_DEFAULTS, steps },
  lambdas,
  results,
  summary,
  ratios: {
    ig_overhead: mean(results.map((r) => r.igSearch.igShare)),
    multihop_em_gain: summary.igSearch.emMulti - summary.grpo.emMulti,
    singlehop_em_gain: summary.igSearch.emSingle - summary.grpo.emSingle,
    multihop_ci_low: intervals.multi.low,
    multihop_ci_high: intervals.multi.high,
    ig_step_time_overhead: summary.igStepOverhead,
    ...Object.fromEntries(lambdas.slice(1).map((l) => [`multihop_em_gain_lambda_${l}`, byLambda[String(l)]!.multihopGain])),
  },
});
console.log(`wrote ${path}`);
gpu.destroy();

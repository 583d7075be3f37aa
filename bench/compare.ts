/**
 * All six algorithms from the committed warm start, paired by seed (`ig-search compare`), with
 * the paper's claim as the headline: IG-Search's multi-hop EM gain over GRPO, the lower end of its
 * 95% paired-bootstrap interval, the single-hop gain, and IG-Search minus the best step-level
 * baseline on multi-hop. Long (not part of CI): ~6 algorithms × 5 seeds × (training + a greedy pass
 * over the test split). The full result (every run, per-question correctness) goes beside it in
 * bench/results/compare/.
 *
 *   npm run bench -- compare [--seeds 5] [--steps 40] [--algos grpo,ig-search,…] [--test N]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ALGORITHMS, COMPARE_DEFAULTS, compareMarkdown, Gpu, loadWasmCore, renderCompareReport, runCompare, type Algorithm } from 'ig-search';
import { printTable, writeResults } from './_lib.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: String(COMPARE_DEFAULTS.seeds) },
    steps: { type: 'string', default: String(COMPARE_DEFAULTS.steps) },
    algos: { type: 'string', default: ALGORITHMS.join(',') },
    test: { type: 'string' },
  },
});
const policy = new URL('../assets/demo-policy', import.meta.url).pathname;
const core = await loadWasmCore();
const gpu = await Gpu.request();
const algos = values.algos.split(',') as Algorithm[];
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'}); ${algos.join(', ')} × ${values.seeds} seeds × ${values.steps} steps\n`);
const result = await runCompare(gpu, core, {
  policy,
  algos,
  seeds: Number(values.seeds),
  steps: Number(values.steps),
  testQuestions: values.test === undefined ? undefined : Number(values.test),
  onEvent: (e) => {
    if (e.type === 'started') process.stderr.write(`warm start: EM ${(e.warmStart.em * 100).toFixed(1)}% on ${e.questions.length} test questions\n`);
    if (e.type === 'run') process.stderr.write(`${e.run.algo} seed ${e.run.seed}: EM ${(e.run.em * 100).toFixed(1)}% (single ${(e.run.emSingle * 100).toFixed(1)}%, multi ${(e.run.emMulti * 100).toFixed(1)}%), ${(e.run.stepMs / 1000).toFixed(2)} s/step, ${(e.run.wallMs / 1000).toFixed(0)} s\n`);
  },
});
mkdirSync('bench/results/compare', { recursive: true });
writeFileSync('bench/results/compare/results.json', `${JSON.stringify(result)}\n`);
writeFileSync('bench/results/compare/results.md', compareMarkdown(result));
writeFileSync('bench/results/compare/report.html', renderCompareReport(result));

const pct = (v: number) => (Number.isFinite(v) ? (v * 100).toFixed(1) : '–');
printTable(
  ['algorithm', 'seeds', 'EM', 'single', 'multi', 'Δ multi vs GRPO [95% CI]', 'Δ single', 's/step', 'all-fail ‖∇‖', 'searches/q'],
  result.summary.map((s) => [
    s.algo,
    s.runs,
    pct(s.em),
    pct(s.emSingle),
    pct(s.emMulti),
    s.vsGrpo ? `${pct(s.vsGrpo.multi.mean)} [${pct(s.vsGrpo.multi.low)}, ${pct(s.vsGrpo.multi.high)}]` : '–',
    s.vsGrpo ? pct(s.vsGrpo.single.mean) : '–',
    (s.stepMs / 1000).toFixed(2),
    Number.isFinite(s.allFailGradNorm) ? s.allFailGradNorm.toFixed(3) : '–',
    s.searchesPerQuestion.toFixed(2),
  ]),
);
const ig = result.summary.find((s) => s.algo === 'ig-search');
const baselines = result.summary.filter((s) => ['gigpo', 'igpo', 'mr-search', 'stepsearch'].includes(s.algo));
const bestBaseline = baselines.reduce<(typeof baselines)[number] | undefined>((best, s) => (!best || s.emMulti > best.emMulti ? s : best), undefined);
const path = writeResults('compare', {
  adapter: gpu.adapter,
  options: result.options,
  questions: { test: result.questions.length, singleHop: result.questions.filter((q) => q.hops === 1).length },
  warmStart: { em: result.warmStart.em, emSingle: result.warmStart.emSingle, emMulti: result.warmStart.emMulti },
  summary: result.summary,
  wallMinutes: result.wallMs / 60000,
  ratios: {
    multihop_em_gain: ig?.vsGrpo?.multi.mean ?? null,
    multihop_ci_low: ig?.vsGrpo?.multi.low ?? null,
    singlehop_em_gain: ig?.vsGrpo?.single.mean ?? null,
    vs_best_step_baseline_multihop: ig && bestBaseline ? ig.emMulti - bestBaseline.emMulti : null,
    best_step_baseline: bestBaseline?.algo ?? null,
    algorithms: result.summary.length,
  },
});
console.log(`\nwrote ${path} and bench/results/compare/ (${(result.wallMs / 60000).toFixed(1)} min)`);
gpu.destroy();

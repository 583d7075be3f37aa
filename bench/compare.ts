/**
 * The comparison the package exists for: algorithms from the committed warm start, paired by seed
 * (`ig-search compare`), with the paper's claim as the headline — IG-Search's multi-hop EM gain over
 * GRPO, the lower end of its 95% paired-bootstrap interval, the single-hop gain, and IG-Search minus
 * the best step-level baseline on multi-hop.
 *
 * With a registration (`bench/preregistered/compare.json`, written by `ig-search compare --register`
 * and committed before any test result existed) it runs exactly that configuration on the **test**
 * split: `ratios.preregistered` is 1 when the run's configuration hashes to the registered one and
 * git shows the registration committed, unmodified, before the results directory's first commit.
 * Without one it runs on the validation split (exploratory: how knobs and budgets are chosen).
 * Beside the comparison it measures the warm start's step signal on the validation split (AUCs,
 * first-query precision) and takes GRPO's validation gain at the registered budget from
 * bench/results/curve.json (`npm run bench -- curve`).
 *
 * Long (hours on a 2-core CPU): `results.json` is rewritten after every finished run and
 * `--resume` continues it, so the bench spans sessions; commit bench/results/compare-preregistered/
 * as it grows.
 *
 *   npm run bench -- compare [--registration bench/preregistered/compare.json] [--resume]
 *   npm run bench -- compare --exploratory [--seeds 3] [--steps 100] [--algos grpo,ig-search]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  ALGORITHMS,
  CausalLM,
  COMPARE_DEFAULTS,
  compareMarkdown,
  DEMO_DEFAULTS,
  Gpu,
  IgSearchTrainer,
  loadDemoPolicy,
  loadWasmCore,
  measureSignals,
  renderCompareReport,
  runCompare,
  splitQuestions,
  type Algorithm,
  type CompareOptions,
  type CompareResult,
  type Preregistration,
} from 'ig-search';
import { printTable, writeResults } from './_lib.js';

const { values } = parseArgs({
  options: {
    registration: { type: 'string', default: 'bench/preregistered/compare.json' },
    exploratory: { type: 'boolean', default: false },
    resume: { type: 'boolean', default: false },
    seeds: { type: 'string', default: String(COMPARE_DEFAULTS.seeds) },
    steps: { type: 'string', default: String(COMPARE_DEFAULTS.steps) },
    algos: { type: 'string', default: ALGORITHMS.join(',') },
    'eval-questions': { type: 'string' },
    'signal-questions': { type: 'string' },
  },
});
const policy = new URL('../assets/demo-policy', import.meta.url).pathname;
const registered = !values.exploratory && existsSync(values.registration);
const registration = registered ? (JSON.parse(readFileSync(values.registration, 'utf8')) as Preregistration) : undefined;
const outDir = registered ? 'bench/results/compare-preregistered' : 'bench/results/compare';
const resultsPath = `${outDir}/results.json`;

// The registered run is the registration's config itself (less the fingerprint, which runCompare recomputes).
const { policy: _fingerprint, ...config } = (registration?.config ?? {}) as Record<string, unknown>;
const options: CompareOptions = registration
  ? { ...(config as Omit<CompareOptions, 'policy'>), policy }
  : {
      policy,
      algos: values.algos.split(',') as Algorithm[],
      seeds: Number(values.seeds),
      steps: Number(values.steps),
      split: 'validation',
      evalQuestions: values['eval-questions'] === undefined ? undefined : Number(values['eval-questions']),
    };

const core = await loadWasmCore();
const gpu = await Gpu.request();
const finished = values.resume && existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as CompareResult).runs : [];
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'}); ${registered ? `registered ${values.registration} (sha256 ${registration!.sha256.slice(0, 12)}…) on the test split` : 'exploratory, validation split'}; ${finished.length} runs kept\n`);

// 1. The warm start's step signal on validation (never test): AUCs and first-query precision.
const demo = await loadDemoPolicy(core, policy);
const validation = splitQuestions(demo.world, 'validation');
const counts = { test: splitQuestions(demo.world, 'test').length, validation: validation.length };
const signalQuestions = values['signal-questions'] === undefined ? validation : validation.slice(0, Number(values['signal-questions']));
const signal = await (async () => {
  const model = await CausalLM.load(gpu, policy);
  const { maxTurns, maxTokens, docsPerSearch } = DEMO_DEFAULTS;
  const trainer = new IgSearchTrainer(gpu, core, model, demo.tokenizer, demo.index, { algo: 'ig-search', groupSize: DEMO_DEFAULTS.groupSize, maxTurns, maxTokens, docsPerSearch });
  try {
    return await measureSignals(trainer, signalQuestions, { onProgress: (done, total) => process.stderr.write(`\rsignal: ${done}/${total} validation questions`) });
  } finally {
    process.stderr.write('\n');
    trainer.free();
    model.free();
    demo.index.free();
  }
})();
const shaped = signal.summaries.find((s) => s.signal === 'ig_shaped')!;

// 2. The comparison, results.json rewritten after every run (atomically) so that --resume continues it.
mkdirSync(outDir, { recursive: true });
const runs = [...finished];
const result = await runCompare(gpu, core, {
  ...options,
  finished,
  preregistration: registration,
  onEvent: (e) => {
    if (e.type === 'started') process.stderr.write(`warm start: ${e.options.split} EM ${(e.warmStart.em * 100).toFixed(1)}% on ${e.questions.length} questions\n`);
    if (e.type === 'run') {
      runs.push(e.run);
      process.stderr.write(`${e.run.algo} seed ${e.run.seed}: EM ${(e.run.em * 100).toFixed(1)}% (single ${(e.run.emSingle * 100).toFixed(1)}%, multi ${(e.run.emMulti * 100).toFixed(1)}%), ${(e.run.stepMs / 1000).toFixed(2)} s/step, ${(e.run.wallMs / 1000).toFixed(0)} s\n`);
      writeFileSync(`${resultsPath}.tmp`, `${JSON.stringify({ runs, aborted: true })}\n`);
      renameSync(`${resultsPath}.tmp`, resultsPath);
    }
  },
});
writeFileSync(`${resultsPath}.tmp`, `${JSON.stringify(result)}\n`);
renameSync(`${resultsPath}.tmp`, resultsPath);
writeFileSync(`${outDir}/results.md`, compareMarkdown(result));
writeFileSync(`${outDir}/report.html`, renderCompareReport(result));

// 3. Was it pre-registered? The hash matched (runCompare refuses otherwise), and git shows the
// registration committed, unchanged since, before anything under the results directory.
const git = (...args: string[]) => spawnSync('git', args, { encoding: 'utf8' });
const firstCommit = (path: string) => git('log', '--diff-filter=A', '--format=%ct %H', '--', path).stdout.trim().split('\n').filter(Boolean).at(-1);
const registeredAt = registered ? firstCommit(values.registration) : undefined;
const resultsAt = firstCommit(outDir);
const clean = registered && git('diff', '--quiet', 'HEAD', '--', values.registration).status === 0;
const preregistered = Boolean(result.preregistered && registeredAt && clean && (!resultsAt || Number(registeredAt.split(' ')[0]) <= Number(resultsAt.split(' ')[0])));

// GRPO's validation gain at the registered budget, from the curve bench (same warm start, same lr).
const curve = existsSync('bench/results/curve.json') ? (JSON.parse(readFileSync('bench/results/curve.json', 'utf8')) as { curves: { lr: number; points: { step: number; em: number }[] }[] }) : undefined;
const grpoCurve = curve?.curves.find((c) => c.lr === result.options.lr);
const atBudget = grpoCurve?.points.find((p) => p.step === result.options.steps);
const grpoValidationGain = atBudget && grpoCurve ? atBudget.em - grpoCurve.points[0]!.em : null;

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
const baselines = result.summary.filter((s) => !['grpo', 'ig-search'].includes(s.algo));
const bestBaseline = baselines.reduce<(typeof baselines)[number] | undefined>((best, s) => (!best || s.emMulti > best.emMulti ? s : best), undefined);
const path = writeResults('compare', {
  adapter: gpu.adapter,
  options: result.options,
  registration: registered ? { file: values.registration, sha256: registration!.sha256, committed: registeredAt ?? null, unmodified: clean } : null,
  questions: { [result.options.split]: result.questions.length, singleHop: result.questions.filter((q) => q.hops === 1).length },
  warmStart: { em: result.warmStart.em, emSingle: result.warmStart.emSingle, emMulti: result.warmStart.emMulti },
  signal: { questions: signal.questions, searches: signal.records.length, firstQueryPrecision: signal.firstQueryPrecision, allFailShare: signal.allFailShare, summaries: signal.summaries },
  summary: result.summary,
  aborted: result.aborted,
  wallMinutes: result.wallMs / 60000,
  ratios: {
    preregistered: preregistered ? 1 : 0,
    test_questions: counts.test,
    validation_questions: counts.validation,
    ig_auc_precise_vs_vague: shaped.preciseVsVague,
    ig_auc_precise_vs_redundant: shaped.preciseVsRedundant,
    first_query_precision: signal.firstQueryPrecision,
    grpo_validation_gain: grpoValidationGain,
    multihop_em_gain: ig?.vsGrpo?.multi.mean ?? null,
    multihop_ci_low: ig?.vsGrpo?.multi.low ?? null,
    singlehop_em_gain: ig?.vsGrpo?.single.mean ?? null,
    vs_best_step_baseline_multihop: ig && bestBaseline ? ig.emMulti - bestBaseline.emMulti : null,
    best_step_baseline: bestBaseline?.algo ?? null,
    algorithms: result.summary.length,
  },
});
console.log(`\nwrote ${path} and ${outDir}/ (${(result.wallMs / 60000).toFixed(1)} min)`);
gpu.destroy();

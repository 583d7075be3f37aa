/**
 * `ig-search compare`: every algorithm from the same warm-started policy, paired by seed — for a
 * given seed every algorithm sees the same questions in the same order and samples with the same
 * seeds — then greedy evaluation of each trained policy on one split, and paired bootstrap
 * intervals of each algorithm's exact match minus GRPO's (overall, single-hop, multi-hop). Runs go
 * seed by seed so that an interrupted comparison still holds complete pairs. Knobs are chosen on
 * the validation split; the test split is read only by a pre-registered configuration
 * (compare/preregister.ts).
 */
import { ALGORITHMS, isAlgorithm, type Algorithm } from '../defaults.js';
import { DEMO_DEFAULTS, demoTrainerConfig, evaluationSplit, loadDemoPolicy, splitQuestions } from '../demo/demo.js';
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { CausalLM } from '../model/causal_lm.js';
import { Bm25Retriever } from '../retrieval/retriever.js';
import { evaluate, trainingRun, type EvalReport } from '../rl/loop.js';
import { IgSearchTrainer, resolveTrainerConfig, type StepSummary, type StepTiming, type TrainerConfig } from '../rl/trainer.js';
import type { WasmCore } from '../wasm/core.js';
import { igValuesByClass } from '../report/report.js';
import type { QueryClass } from '../rl/signal.js';
import { checkPreregistration, policyFingerprint, type Preregistration } from './preregister.js';
import { differences, hopSubsets, pairedBootstrap, type Interval } from './stats.js';

/** A comparison's budget: the demo's per-run settings, 30 steps per run (six algorithms × five seeds must fit an hour on a 2-core CPU). */
export const COMPARE_DEFAULTS = { ...DEMO_DEFAULTS, steps: 30, seeds: 5 } as const;

export interface CompareOptions {
  /** Directory (or URL) of the warm-started policy with tokenizer.json and sft.json (its world). */
  policy: string;
  /** Algorithms, GRPO first when present (the baseline of the intervals). Default: all six. */
  algos?: readonly Algorithm[];
  /** Seeds 1..N, or the list of seeds (default 5). */
  seeds?: number | readonly number[];
  steps?: number;
  questionsPerStep?: number;
  groupSize?: number;
  lr?: number;
  lambda?: number;
  maxTurns?: number;
  maxTokens?: number;
  docsPerSearch?: number;
  weightDecay?: number;
  /** The split evaluated: validation (default) or test, which needs `preregistration`. */
  split?: 'validation' | 'test';
  /** Evaluate on the first N questions of the split (default: all). */
  evalQuestions?: number;
  /** Knobs of one algorithm only (λ for IG-Search, ω for GiGPO…), applied after `trainer`. */
  perAlgorithm?: Partial<Record<Algorithm, Partial<TrainerConfig>>>;
  /** The registration this run must match (required on the test split; checked on any split when given). */
  preregistration?: Preregistration;
  /** Questions decoded together in evaluation (default 64). */
  evalBatch?: number;
  /** Anything else for every trainer (IG shaping, turn credit…). */
  trainer?: Partial<TrainerConfig>;
  /** Runs finished earlier (same options): kept, not rerun. */
  finished?: readonly CompareRun[];
  signal?: AbortSignal;
  onEvent?: (event: CompareEvent) => void;
}

/** One trained policy: an algorithm under one seed. */
export interface CompareRun {
  algo: Algorithm;
  seed: number;
  steps: number;
  em: number;
  emSingle: number;
  emMulti: number;
  /** Exact match per test question, in the order of `CompareResult.questions`. */
  correct: number[];
  searchesPerQuestion: number;
  /** Mean milliseconds per training step, and per phase. */
  stepMs: number;
  phaseMs: StepTiming;
  /** Steps with an all-fail group, and the mean gradient norm those groups contributed there. */
  allFailSteps: number;
  allFailGradNorm: number;
  /** Mean training reward over the run's steps. */
  trainReward: number;
  /** Raw IG of the run's training searches by query class (IG-scoring algorithms, questions with `supporting`), 4 decimals. */
  igByClass?: Record<QueryClass, number[]>;
  wallMs: number;
}

export interface AlgorithmSummary {
  algo: Algorithm;
  runs: number;
  /** Means over seeds. */
  em: number;
  emSingle: number;
  emMulti: number;
  searchesPerQuestion: number;
  stepMs: number;
  /** Step time / GRPO's step time − 1 (NaN without GRPO). */
  stepOverhead: number;
  allFailGradNorm: number;
  /** Paired-bootstrap 95% intervals of this algorithm's EM minus GRPO's, over the seeds both finished. */
  vsGrpo?: { all: Interval; single: Interval; multi: Interval };
}

export interface CompareResult {
  options: Omit<CompareOptions, 'signal' | 'onEvent' | 'finished' | 'trainer' | 'preregistration'> & { seeds: number[]; algos: Algorithm[]; split: 'validation' | 'test'; trainer?: Partial<TrainerConfig> };
  /** SHA-256 of the registered configuration this run matched, when it had one. */
  preregistered?: string;
  questions: { id?: string; hops?: number }[];
  warmStart: Pick<CompareRun, 'em' | 'emSingle' | 'emMulti' | 'correct' | 'searchesPerQuestion'>;
  runs: CompareRun[];
  summary: AlgorithmSummary[];
  aborted: boolean;
  wallMs: number;
}

export type CompareEvent =
  | ({ type: 'started' } & Pick<CompareResult, 'options' | 'questions' | 'warmStart'>)
  | { type: 'progress'; algo: Algorithm | 'warm start'; seed: number; step: number; steps: number; run: number; runs: number; etaMs: number | undefined }
  | { type: 'step'; algo: Algorithm; seed: number; metrics: StepSummary }
  | { type: 'run'; run: CompareRun };

function emByHops(report: Pick<EvalReport, 'byHops' | 'correct'>, hops: readonly (number | undefined)[]): { em: number; emSingle: number; emMulti: number } {
  const mean = (keep: (h: number | undefined) => boolean) => {
    let sum = 0;
    let n = 0;
    report.correct.forEach((c, i) => {
      if (keep(hops[i])) {
        sum += c;
        n++;
      }
    });
    return n ? sum / n : Number.NaN;
  };
  return { em: mean(() => true), emSingle: mean((h) => h === 1), emMulti: mean((h) => h !== undefined && h > 1) };
}

/** Summaries and GRPO-paired intervals from finished runs (usable on a partial comparison). */
export function summarize(runs: readonly CompareRun[], questions: readonly { hops?: number }[], algos: readonly Algorithm[]): AlgorithmSummary[] {
  const { single, multi } = hopSubsets(questions.map((q) => q.hops));
  const of = (algo: Algorithm) => runs.filter((r) => r.algo === algo);
  const avg = (rs: readonly CompareRun[], pick: (r: CompareRun) => number) => (rs.length ? rs.reduce((a, r) => a + pick(r), 0) / rs.length : Number.NaN);
  const grpo = of('grpo');
  const grpoStep = avg(grpo, (r) => r.stepMs);
  return algos
    .filter((algo) => of(algo).length > 0)
    .map((algo) => {
      const rs = of(algo);
      const summary: AlgorithmSummary = {
        algo,
        runs: rs.length,
        em: avg(rs, (r) => r.em),
        emSingle: avg(rs, (r) => r.emSingle),
        emMulti: avg(rs, (r) => r.emMulti),
        searchesPerQuestion: avg(rs, (r) => r.searchesPerQuestion),
        stepMs: avg(rs, (r) => r.stepMs),
        stepOverhead: avg(rs, (r) => r.stepMs) / grpoStep - 1,
        allFailGradNorm: avg(
          rs.filter((r) => r.allFailSteps > 0),
          (r) => r.allFailGradNorm,
        ),
      };
      const paired = rs.flatMap((r) => {
        const g = grpo.find((x) => x.seed === r.seed);
        return g ? [[r.correct, g.correct] as const] : [];
      });
      if (paired.length && algo !== 'grpo') {
        const diffs = differences(
          paired.map((p) => p[0]),
          paired.map((p) => p[1]),
        );
        summary.vsGrpo = { all: pairedBootstrap(diffs), single: pairedBootstrap(diffs, single), multi: pairedBootstrap(diffs, multi) };
      }
      return summary;
    });
}

/** The options a run records (defaults filled in, seeds as a list, JSON-clean): what `--resume` and a registration compare. */
export function compareRecord(options: CompareOptions): CompareResult['options'] {
  const o = { ...COMPARE_DEFAULTS, ...options };
  const seeds = typeof o.seeds === 'number' ? Array.from({ length: o.seeds }, (_, i) => i + 1) : [...o.seeds];
  const { signal: _s, onEvent: _o, finished: _f, preregistration: _p, ...given } = options;
  const record = { ...given, steps: o.steps, questionsPerStep: o.questionsPerStep, groupSize: o.groupSize, lr: o.lr, lambda: o.lambda, maxTurns: o.maxTurns, maxTokens: o.maxTokens, docsPerSearch: o.docsPerSearch, weightDecay: o.weightDecay, evalBatch: o.evalBatch, seeds, algos: [...(options.algos ?? ALGORITHMS)], split: o.split ?? 'validation' };
  return JSON.parse(JSON.stringify(record)) as CompareResult['options'];
}

/**
 * What a registration fixes: every recorded option except where the warm start lies on this
 * machine, which is replaced by the fingerprint of its weights and world.
 */
export async function registeredConfig(options: CompareResult['options']): Promise<Record<string, unknown>> {
  const { policy, ...rest } = options;
  return { ...rest, policy: await policyFingerprint(policy) };
}

export async function runCompare(gpu: Gpu, core: WasmCore, options: CompareOptions): Promise<CompareResult> {
  const o = { ...COMPARE_DEFAULTS, ...options };
  const algos = [...(options.algos ?? ALGORITHMS)];
  const seeds = typeof o.seeds === 'number' ? Array.from({ length: o.seeds }, (_, i) => i + 1) : [...o.seeds];
  if (algos.length === 0 || algos.some((a) => !isAlgorithm(a))) throw new IgSearchError('INVALID_ARGUMENT', `compare: algos must list some of ${ALGORITHMS.join(', ')}, got ${JSON.stringify(algos)}`);
  if (new Set(algos).size !== algos.length) throw new IgSearchError('INVALID_ARGUMENT', `compare: an algorithm is listed twice in ${algos.join(',')}`);
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new IgSearchError('INVALID_ARGUMENT', `compare: seeds must be non-negative integers, got ${JSON.stringify(o.seeds)}`);
  for (const [name, v] of [['steps', o.steps], ['questionsPerStep', o.questionsPerStep], ['evalBatch', o.evalBatch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new IgSearchError('INVALID_ARGUMENT', `compare: ${name} must be a positive integer, got ${String(v)}`);
  }
  if (o.split !== undefined && o.split !== 'validation' && o.split !== 'test') throw new IgSearchError('INVALID_ARGUMENT', `compare: split must be "validation" or "test", got ${JSON.stringify(o.split)}`);
  if (o.evalQuestions !== undefined && (!Number.isInteger(o.evalQuestions) || o.evalQuestions < 1)) throw new IgSearchError('INVALID_ARGUMENT', `compare: evalQuestions must be a positive integer, got ${String(o.evalQuestions)}`);
  for (const a of Object.keys(o.perAlgorithm ?? {})) if (!algos.includes(a as Algorithm)) throw new IgSearchError('INVALID_ARGUMENT', `compare: perAlgorithm names "${a}", which is not among the algorithms compared (${algos.join(', ')})`);
  const trainerConfig = (algo: Algorithm, seed: number): TrainerConfig => ({ ...demoTrainerConfig(o, algo, seed), ...o.perAlgorithm?.[algo] });
  for (const algo of algos) resolveTrainerConfig(trainerConfig(algo, seeds[0]!));
  const recorded = compareRecord(options);
  const { split } = recorded;
  const { preregistration } = options;
  if (split === 'test' && !preregistration) {
    throw new IgSearchError('PREREGISTRATION_MISMATCH', 'compare: the test split is evaluated only by a pre-registered configuration, and none was given', {
      hint: 'choose knobs and budget on split "validation"; then register the configuration (ig-search compare --register FILE), commit it, and run with --preregistered FILE',
    });
  }
  // Before the policy's world is built: a refused run reads nothing of the test split.
  const preregistered = preregistration ? await checkPreregistration(preregistration, await registeredConfig(recorded)) : undefined;
  const started = performance.now();
  const policy = await loadDemoPolicy(core, o.policy);
  const train = splitQuestions(policy.world, 'train');
  const test = splitQuestions(policy.world, split).slice(0, o.evalQuestions);
  if (test.length === 0) {
    policy.index.free();
    throw new IgSearchError('INVALID_ARGUMENT', `compare: ${o.policy}'s world has no ${split} split${evaluationSplit(policy.world) === 'test' ? ' (it was written before v0.3; rebuild it with ig-search sft)' : ''}`);
  }
  const hops = test.map((q) => q.hops);
  const questions = test.map((q) => ({ id: q.id, hops: q.hops }));
  const evalOptions = { maxTurns: o.maxTurns, maxTokens: o.maxTokens, docsPerSearch: o.docsPerSearch, batch: o.evalBatch };
  const runs: CompareRun[] = [...(options.finished ?? [])];
  const plan = seeds.flatMap((seed) => algos.map((algo) => ({ algo, seed }))).filter((p) => !runs.some((r) => r.algo === p.algo && r.seed === p.seed));
  const totalSteps = plan.length * o.steps;
  let doneSteps = 0;
  let trainedMs = 0;
  const eta = () => (doneSteps ? (trainedMs / doneSteps) * (totalSteps - doneSteps) : undefined);
  let aborted = false;
  let warmStart: CompareResult['warmStart'];
  try {
    const retriever = new Bm25Retriever(policy.index);
    {
      o.onEvent?.({ type: 'progress', algo: 'warm start', seed: 0, step: 0, steps: 0, run: 0, runs: plan.length, etaMs: undefined });
      const model = await CausalLM.load(gpu, o.policy);
      try {
        const report = await evaluate(model, core, policy.tokenizer, retriever, test, evalOptions);
        warmStart = { ...emByHops(report, hops), correct: report.correct, searchesPerQuestion: report.searchesPerQuestion };
        o.onEvent?.({ type: 'started', options: recorded, questions, warmStart });
      } finally {
        model.free();
      }
    }
    for (const [k, { algo, seed }] of plan.entries()) {
      if (o.signal?.aborted) {
        aborted = true;
        break;
      }
      const runStarted = performance.now();
      const model = await CausalLM.load(gpu, o.policy);
      const trainer = new IgSearchTrainer(gpu, core, model, policy.tokenizer, policy.index, trainerConfig(algo, seed));
      const steps: StepSummary[] = [];
      const classed: { ig: number[]; searchClasses?: QueryClass[] }[] = [];
      const igClasses = () => {
        const values = igValuesByClass(classed);
        return values.precise.length + values.redundant.length + values.vague.length ? { igByClass: Object.fromEntries(Object.entries(values).map(([c, v]) => [c, v.map((x) => Math.round(x * 1e4) / 1e4)])) as Record<QueryClass, number[]> } : {};
      };
      try {
        let stepStarted = performance.now();
        const result = await trainingRun(trainer, {
          run: `${algo}-seed${seed}`,
          train,
          steps: o.steps,
          questionsPerStep: o.questionsPerStep,
          seed,
          signal: o.signal,
          onEvent: (e) => {
            if (e.type === 'progress') o.onEvent?.({ type: 'progress', algo, seed, step: e.step, steps: o.steps, run: k, runs: plan.length, etaMs: eta() });
            if (e.type !== 'step') return;
            const { type: _t, run: _r, exactMatch: _e, searchClasses, ...metrics } = e;
            steps.push(metrics);
            classed.push({ ig: metrics.ig, searchClasses });
            doneSteps++;
            trainedMs += performance.now() - stepStarted;
            stepStarted = performance.now();
            o.onEvent?.({ type: 'step', algo, seed, metrics });
          },
        });
        if (result.aborted) {
          aborted = true;
          break;
        }
        o.onEvent?.({ type: 'progress', algo, seed, step: o.steps, steps: o.steps, run: k, runs: plan.length, etaMs: eta() });
        const evalStarted = performance.now();
        const report = await evaluate(model, core, policy.tokenizer, retriever, test, evalOptions);
        // Evaluation is part of each run's cost: the ETA counts it as training time.
        trainedMs += performance.now() - evalStarted;
        const failing = steps.filter((m) => m.allFailGroups > 0);
        const phaseMs = Object.fromEntries(Object.keys(steps[0]!.timing).map((key) => [key, steps.reduce((a, m) => a + m.timing[key as keyof StepTiming], 0) / steps.length])) as unknown as StepTiming;
        const run: CompareRun = {
          algo,
          seed,
          steps: steps.length,
          ...emByHops(report, hops),
          correct: report.correct,
          searchesPerQuestion: report.searchesPerQuestion,
          stepMs: Object.values(phaseMs).reduce((a, b) => a + b, 0),
          phaseMs,
          allFailSteps: failing.length,
          allFailGradNorm: failing.length ? failing.reduce((a, m) => a + m.allFailGradNorm, 0) / failing.length : 0,
          trainReward: steps.reduce((a, m) => a + m.reward, 0) / steps.length,
          ...igClasses(),
          wallMs: performance.now() - runStarted,
        };
        runs.push(run);
        o.onEvent?.({ type: 'run', run });
      } finally {
        trainer.free();
        model.free();
      }
    }
  } finally {
    policy.index.free();
  }
  return {
    options: recorded,
    ...(preregistered ? { preregistered } : {}),
    questions,
    warmStart: warmStart!,
    runs,
    summary: summarize(runs, test, algos),
    aborted,
    wallMs: performance.now() - started,
  };
}

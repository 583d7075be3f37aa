/**
 * Does RL learn, and where does it plateau? One algorithm (GRPO by default) from the committed warm
 * start, once per learning rate, with greedy exact match on the **validation** split every
 * `--eval-every` steps: the curve a comparison's budget is chosen from (where GRPO plateaus), never
 * from the test split, which this bench does not read.
 *
 * Long: each configuration's curve is written to bench/results/curve.json after every evaluation,
 * and a configuration whose curve is complete is not rerun, so an interrupted bench continues where
 * it stopped (a configuration cut short restarts from its warm start).
 *
 *   npm run bench -- curve [--algo grpo] [--lrs 3e-4,1e-3] [--lambdas 1] [--trainer JSON] [--steps 200] [--questions 8] [--group 4] [--eval-every 25] [--seed 1] [--name curve]
 *
 * `--name` picks the results file (bench/results/NAME.json), so curves of another budget (a group
 * size, a batch) sit beside the committed ones instead of replacing them. `--lambdas` sweeps λ
 * beside the learning rates (one curve per pair; λ is what IG-Search and StepSearch weigh their step
 * reward by); `--trainer` adds trainer knobs (e.g. '{"igGamma":0.5}') to the budget.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEMO_DEFAULTS, Gpu, loadWasmCore, runDemo, type Algorithm, type DemoOptions } from 'ig-search';
import { printTable, writeResults } from './_lib.js';

const { values } = parseArgs({
  options: {
    algo: { type: 'string', default: 'grpo' },
    lrs: { type: 'string', default: '3e-4,1e-3' },
    lambdas: { type: 'string', default: String(DEMO_DEFAULTS.lambda) },
    trainer: { type: 'string' },
    steps: { type: 'string', default: '200' },
    questions: { type: 'string', default: '8' },
    group: { type: 'string', default: String(DEMO_DEFAULTS.groupSize) },
    'eval-every': { type: 'string', default: '25' },
    'eval-questions': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    name: { type: 'string', default: 'curve' },
  },
});
const policy = new URL('../assets/demo-policy', import.meta.url).pathname;
// The rollout budget is part of a curve's identity: curves measured under another one are not kept.
const { maxTurns, maxTokens, docsPerSearch } = DEMO_DEFAULTS;
const trainer = values.trainer === undefined ? undefined : (JSON.parse(values.trainer) as Record<string, unknown>);
const budget = { algo: values.algo as Algorithm, steps: Number(values.steps), questionsPerStep: Number(values.questions), groupSize: Number(values.group), evalEvery: Number(values['eval-every']), evalQuestions: Number(values['eval-questions']), seed: Number(values.seed), maxTurns, maxTokens, docsPerSearch, ...(trainer ? { trainer } : {}) };

interface Point {
  step: number;
  em: number;
  byHops: Record<string, { em: number; n: number }>;
  searchesPerQuestion: number;
  /** Share of questions cut off at maxTokens. */
  truncated?: number;
}
interface Curve {
  lr: number;
  /** λ of the run (absent in curves written before λ was swept: the demo's, 1). */
  lambda?: number;
  points: Point[];
  /** Mean training reward per block of `evalEvery` steps. */
  trainReward: number[];
  /** Share of groups in which every rollout failed, per block of `evalEvery` steps (no GRPO signal there). */
  allFail?: number[];
  complete: boolean;
  wallSeconds: number;
}
const NAME = values.name;
if (!/^[\w-]+$/.test(NAME)) throw new Error(`--name must be letters, digits, _ or -, got ${JSON.stringify(NAME)}`);
const PATH = `bench/results/${NAME}.json`;
const previous = existsSync(PATH) ? (JSON.parse(readFileSync(PATH, 'utf8')) as { budget?: typeof budget; curves?: Curve[] }) : {};
const sameBudget = JSON.stringify(previous.budget) === JSON.stringify(budget);
const curves: Curve[] = sameBudget ? (previous.curves ?? []).filter((c) => c.complete) : [];

const core = await loadWasmCore();
const gpu = await Gpu.request();
const save = () => {
  const done = curves.filter((c) => c.complete && c.points.length > 1);
  const gains = done.map((c) => c.points.at(-1)!.em - c.points[0]!.em);
  const best = done.reduce<Curve | undefined>((b, c) => (!b || Math.max(...c.points.map((p) => p.em)) > Math.max(...b.points.map((p) => p.em)) ? c : b), undefined);
  writeResults(NAME, {
    adapter: gpu.adapter,
    split: 'validation',
    budget,
    curves,
    ratios: {
      best_lr: best?.lr ?? null,
      best_lambda: best ? lambdaOf(best) : null,
      validation_gain_best_lr: best ? Math.max(...best.points.map((p) => p.em)) - best.points[0]!.em : null,
      validation_gain_final: gains.length ? Math.max(...gains) : null,
      warm_start_validation_em: done[0]?.points[0]?.em ?? null,
    },
  });
};

const lambdaOf = (c: Curve) => c.lambda ?? DEMO_DEFAULTS.lambda;
const configs = values.lrs.split(',').map(Number).flatMap((lr) => values.lambdas.split(',').map((lambda) => ({ lr, lambda: Number(lambda) })));
for (const { lr, lambda } of configs) {
  const label = `lr ${lr}${lambda === DEMO_DEFAULTS.lambda ? '' : ` λ ${lambda}`}`;
  if (curves.some((c) => c.lr === lr && lambdaOf(c) === lambda)) {
    console.error(`${label}: complete in ${PATH}, kept`);
    continue;
  }
  const curve: Curve = { lr, ...(lambda === DEMO_DEFAULTS.lambda ? {} : { lambda }), points: [], trainReward: [], allFail: [], complete: false, wallSeconds: 0 };
  curves.push(curve);
  const rewards: number[] = [];
  const allFail: number[] = [];
  const started = performance.now();
  const result = await runDemo(gpu, core, {
    policy,
    algos: [budget.algo],
    steps: budget.steps,
    questionsPerStep: budget.questionsPerStep,
    groupSize: budget.groupSize,
    evalEvery: budget.evalEvery,
    evalQuestions: budget.evalQuestions,
    evalSplit: 'validation',
    seed: budget.seed,
    lr,
    lambda,
    trainer: trainer as DemoOptions['trainer'],
    onEvent: (e) => {
      if (e.type === 'step') {
        rewards.push(e.reward);
        allFail.push(e.allFailGroups / budget.questionsPerStep);
        const block = (xs: number[]) => xs.slice(-budget.evalEvery).reduce((a, b) => a + b, 0) / budget.evalEvery;
        if (rewards.length % budget.evalEvery === 0) {
          curve.trainReward.push(block(rewards));
          curve.allFail!.push(block(allFail));
        }
      }
      if (e.type === 'eval') {
        curve.points.push({ step: e.step, em: e.em, byHops: e.byHops, searchesPerQuestion: e.searchesPerQuestion, truncated: e.truncated });
        curve.wallSeconds = (performance.now() - started) / 1000;
        process.stderr.write(`${label} step ${e.step}: validation EM ${(e.em * 100).toFixed(1)}% (${Object.entries(e.byHops).map(([h, v]) => `${h}-hop ${(v.em * 100).toFixed(1)}%`).join(', ')}), ${curve.wallSeconds.toFixed(0)} s\n`);
        save();
      }
    },
  });
  curve.complete = !result.aborted;
  curve.wallSeconds = result.wallMs / 1000;
  save();
}

const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
printTable(
  ['lr', 'λ', ...curves[0]!.points.map((p) => `step ${p.step}`), 'train reward (first → last block)', 'wall s'],
  curves.map((c) => [String(c.lr), String(lambdaOf(c)), ...c.points.map((p) => pct(p.em)), `${c.trainReward[0]?.toFixed(2) ?? '–'} → ${c.trainReward.at(-1)?.toFixed(2) ?? '–'}`, c.wallSeconds]),
);
console.log(`\nwrote ${PATH}`);
gpu.destroy();

/**
 * The main job, in any runtime: the warm-started demo policy (a model directory written by
 * `ig-search sft` — on disk in Node/Deno, a URL in browsers) → the synthetic world rebuilt from the
 * seed recorded beside it → GRPO and IG-Search from the same weights with the same seeds, questions
 * and budget → metrics records (and, through `renderReport`, the HTML report).
 */
import { ALGORITHMS, IG_ALGORITHMS, isAlgorithm, type Algorithm } from '../defaults.js';
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { CausalLM } from '../model/causal_lm.js';
import { LORA_TARGETS, LoraAdapters } from '../model/lora.js';
import { currentPlatform } from '../platform/platform.js';
import { Bm25Index } from '../retrieval/bm25.js';
import { trainingRun, type EvalReport, type RunEvent, type RunRecord } from '../rl/loop.js';
import type { StepMetrics, TrainerConfig } from '../rl/trainer.js';
import { inspectStep, type InspectedRollout } from '../report/inspect.js';
import type { Passage, Question } from '../retrieval/corpus.js';
import { IgSearchTrainer, resolveTrainerConfig } from '../rl/trainer.js';
import { loadTokenizer, stopTokensOf } from '../tokenizer/load.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { seededRandom } from '../util/random.js';
import type { WasmCore } from '../wasm/core.js';
import { buildWorld, type World, type WorldOptions, type WorldQuestion, type WorldSplit } from '../world/world.js';

/**
 * A user's own data in place of the demo world: BM25 over `corpus`, training questions drawn from
 * `train`, greedy evaluation on `validation`.
 */
export interface DemoData {
  corpus: readonly Passage[];
  train: readonly Question[];
  /** Default: a seeded tenth of `train` (at least one question), held out of training. */
  validation?: readonly Question[];
}

export interface DemoOptions {
  /** Directory (or URL) of the warm-started policy with tokenizer.json and sft.json. */
  policy: string;
  /** Train and evaluate on this instead of the policy's world (the studio's uploads). */
  data?: DemoData;
  /**
   * The model to train instead of the demo policy: a model directory or base URL (e.g. what
   * `fromPretrained` returns for a Hub id), with its own tokenizer and chat template; rollouts stop at
   * its end-of-turn tokens. The world (or `data`) still comes from `policy`.
   */
  model?: string;
  /** Algorithms to train, in order (default GRPO and IG-Search). */
  algos?: readonly Algorithm[];
  /** Optimizer steps per algorithm (default 50). */
  steps?: number;
  questionsPerStep?: number;
  groupSize?: number;
  /** Greedy evaluation every N steps (default 10), plus before the first and after the last. */
  evalEvery?: number;
  /** Questions decoded together in evaluation (default 64). */
  evalBatch?: number;
  lr?: number;
  /** λ on the shaped information gain of query tokens (IG-Search only). */
  lambda?: number;
  seed?: number;
  maxTurns?: number;
  maxTokens?: number;
  docsPerSearch?: number;
  weightDecay?: number;
  /**
   * The split evaluated (default validation; worlds written before v0.3 have none, and use test).
   * The test split is for pre-registered comparisons (`ig-search compare`), not for choosing knobs.
   */
  evalSplit?: 'validation' | 'test';
  /** Evaluate on the first N questions of the split (default 256; 0 = all of them). */
  evalQuestions?: number;
  /** Per-run checkpoint directories: `${checkpointRoot}/${run}` (none by default). */
  checkpointRoot?: string;
  signal?: AbortSignal;
  /** Asked before each step of every run: a promise pauses the run until it settles (`TrainingRunOptions.beforeStep`). */
  beforeStep?: () => Promise<void> | undefined;
  onEvent?: (event: RunEvent) => void;
  /**
   * Every step of a run that credits queries (IG-Search), inspected as it happens — what the
   * studio's inspector shows. Costs a decoding pass over the step's rollouts each step.
   */
  onInspection?: (inspection: NonNullable<DemoResult['inspection']>) => void;
  /**
   * Train LoRA adapters of this rank (alpha 2·rank, every projection, as `ig-search train --lora`)
   * on a frozen base instead of every weight (default: none, full fine-tuning).
   */
  loraRank?: number;
  /**
   * The last run's trained model (and its adapters under `loraRank`), handed over instead of freed
   * (the caller frees them): what the studio's "Try" asks.
   */
  keepModel?: (model: CausalLM, algo: Algorithm, steps: number, adapters?: LoraAdapters) => void;
  /** Anything else for the trainer (λ, IG shaping, clip…), applied to both algorithms. */
  trainer?: Partial<TrainerConfig>;
}

/**
 * Where the demo departs from TRAINER_DEFAULTS / RUN_DEFAULTS, for a 0.4M-parameter policy on a
 * small synthetic world that must finish in minutes on a CPU: a larger learning rate, three
 * searches of two documents each, no weight decay. `maxTokens` fits the world's longest scripted
 * trajectory (a 3-hop question, 356 tokens after the prompt; a test holds it): a shorter budget cuts
 * every multi-hop rollout off before it can answer, so multi-hop EM is 0 whatever the policy learns.
 * Evaluation runs at the start and the end (`evalEvery` 50): at 384 tokens each one of the 256
 * questions takes ~28 s, and the demo stays within ten minutes on a 2-core CPU (`--eval-every 25`
 * adds the midpoint). Everything else is the trainer's default.
 */
export const DEMO_DEFAULTS = { steps: 50, questionsPerStep: 4, groupSize: 4, evalEvery: 50, evalBatch: 64, evalQuestions: 256, lr: 3e-4, seed: 1, maxTurns: 3, maxTokens: 384, docsPerSearch: 2, weightDecay: 0, lambda: 1 } as const;

type Budget = Pick<typeof DEMO_DEFAULTS, 'groupSize' | 'lr' | 'maxTurns' | 'maxTokens' | 'docsPerSearch' | 'weightDecay' | 'lambda'> & { trainer?: Partial<TrainerConfig> };

/** The trainer configuration of one demo (or comparison) run: the budget, then `trainer` overrides. */
export function demoTrainerConfig(o: { [K in keyof Budget]: Budget[K] extends number ? number : Budget[K] }, algo: Algorithm, seed: number): TrainerConfig {
  return { algo, groupSize: o.groupSize, lr: o.lr, seed, maxTurns: o.maxTurns, maxTokens: o.maxTokens, docsPerSearch: o.docsPerSearch, weightDecay: o.weightDecay, lambda: o.lambda, ...o.trainer };
}

export interface DemoPolicy {
  tokenizer: Tokenizer;
  world: World;
  index: Bm25Index;
  sft: { seed: number; steps: number; world: WorldOptions; command?: string };
}

async function readText(path: string): Promise<string> {
  try {
    return new TextDecoder().decode(await currentPlatform().readFile(path));
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `cannot read ${path}: ${(e as Error).message}`, { cause: e, hint: 'the demo policy directory comes from `ig-search sft --out DIR`' });
  }
}

/** The tokenizer, world and BM25 index that belong to a demo policy directory. */
export async function loadDemoPolicy(core: WasmCore, dir: string): Promise<DemoPolicy> {
  const base = dir.replace(/\/$/, '');
  const tokenizer = Tokenizer.fromJSON(core, await readText(`${base}/tokenizer.json`));
  let sft: DemoPolicy['sft'];
  try {
    sft = JSON.parse(await readText(`${base}/sft.json`)) as DemoPolicy['sft'];
  } catch (e) {
    if (e instanceof IgSearchError) throw e;
    throw new IgSearchError('INVALID_ARGUMENT', `${base}/sft.json: ${(e as Error).message}`, { cause: e });
  }
  if (typeof sft?.world !== 'object' || sft.world === null) throw new IgSearchError('INVALID_ARGUMENT', `${base}/sft.json: field "world" (the world's options) is missing`);
  const world = buildWorld(sft.world);
  return { tokenizer, world, index: Bm25Index.build(core, world.passages), sft };
}

/** `DemoOptions.data` checked, with its validation questions (held out of `train` when none are given). */
function ownData(data: DemoData, seed: number): Required<DemoData> {
  if (!Array.isArray(data.corpus) || data.corpus.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'demo: data.corpus has no passages');
  if (!Array.isArray(data.train) || data.train.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'demo: data.train has no questions');
  if (data.validation !== undefined) {
    if (!Array.isArray(data.validation) || data.validation.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'demo: data.validation has no questions');
    return { corpus: data.corpus, train: data.train, validation: data.validation };
  }
  if (data.train.length < 2) throw new IgSearchError('INVALID_ARGUMENT', `demo: data.train has ${data.train.length} question; holding out validation questions needs at least 2 (or give data.validation)`);
  const order = data.train.map((_, i) => i);
  const random = seededRandom(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const held = new Set(order.slice(0, Math.max(1, Math.round(order.length / 10))));
  return { corpus: data.corpus, train: data.train.filter((_, i) => !held.has(i)), validation: data.train.filter((_, i) => held.has(i)) };
}

/** A split of the world's questions as training questions (each hop's supporting passage is its chain's entity). */
export function splitQuestions(world: World, split: WorldSplit): (WorldQuestion & { supporting: string[] })[] {
  return world.questions.filter((q) => q.split === split).map((q) => ({ ...q, supporting: q.chain }));
}

/** Where knobs are chosen: the validation split, or test in worlds written before there was one. */
export function evaluationSplit(world: World): 'validation' | 'test' {
  return world.questions.some((q) => q.split === 'validation') ? 'validation' : 'test';
}

export interface DemoResult {
  records: RunRecord[];
  wallMs: number;
  aborted: boolean;
  /**
   * The last step of the last run that credits queries (IG-Search), token by token, and the group
   * of it most worth looking at (its rewards differ and it searched most); absent without such a run.
   */
  inspection?: { run: string; step: number; group: number; rollouts: InspectedRollout[] };
}

/** The group whose rollouts disagree most in reward, most searches breaking ties (where credit matters). */
export function telltaleGroup(rollouts: readonly InspectedRollout[]): number {
  const groups = new Map<number, InspectedRollout[]>();
  for (const r of rollouts) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  let best = 0;
  let bestKey = [-1, -1];
  for (const [g, rs] of groups) {
    const mean = rs.reduce((a, r) => a + r.reward, 0) / rs.length;
    const key = [rs.reduce((a, r) => a + (r.reward - mean) ** 2, 0), rs.reduce((a, r) => a + r.searches.length, 0)];
    if (key[0]! > bestKey[0]! || (key[0] === bestKey[0] && key[1]! > bestKey[1]!)) [best, bestKey] = [g, key];
  }
  return best;
}

export async function runDemo(gpu: Gpu, core: WasmCore, options: DemoOptions): Promise<DemoResult> {
  const o = { ...DEMO_DEFAULTS, ...options };
  const algos = o.algos ?? ['grpo', 'ig-search'];
  // Checked before the policy is read: the worker API passes options through as given.
  const count = (name: string, v: unknown, min: number) => {
    if (!Number.isInteger(v) || (v as number) < min) throw new IgSearchError('INVALID_ARGUMENT', `demo: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  count('steps', o.steps, 1);
  count('questionsPerStep', o.questionsPerStep, 1);
  count('evalEvery', o.evalEvery, 0);
  count('evalQuestions', o.evalQuestions, 0);
  if (o.loraRank !== undefined) count('loraRank', o.loraRank, 1);
  if (o.evalSplit !== undefined && o.evalSplit !== 'validation' && o.evalSplit !== 'test') throw new IgSearchError('INVALID_ARGUMENT', `demo: evalSplit must be "validation" or "test", got ${JSON.stringify(o.evalSplit)}`);
  if (!Array.isArray(algos) || algos.length === 0 || algos.some((a) => !isAlgorithm(a))) throw new IgSearchError('INVALID_ARGUMENT', `demo: algos must list some of ${ALGORITHMS.join(', ')}, got ${JSON.stringify(algos)}`);
  for (const algo of algos) resolveTrainerConfig(demoTrainerConfig(o, algo, o.seed));
  const started = performance.now();
  const own = o.data ? ownData(o.data, o.seed) : undefined;
  const policy = await loadDemoPolicy(core, o.policy);
  const tokenizer = o.model === undefined ? policy.tokenizer : await loadTokenizer(core, o.model);
  const stopTokens = o.model === undefined ? undefined : stopTokensOf(tokenizer);
  if (own) {
    policy.index.free();
    policy.index = Bm25Index.build(core, own.corpus);
  }
  const train = own?.train ?? splitQuestions(policy.world, 'train');
  const evalSplit = own ? 'validation' : (o.evalSplit ?? evaluationSplit(policy.world));
  const evalQuestions = (own?.validation ?? splitQuestions(policy.world, evalSplit)).slice(0, o.evalQuestions || undefined);
  const records: RunRecord[] = [];
  let aborted = false;
  let inspection: DemoResult['inspection'];
  let lastStep: { metrics: StepMetrics; questions: readonly Question[] } | undefined;
  // Every run starts from the same weights: the first run's step-0 evaluation is each run's.
  let initialEval: EvalReport | undefined;
  try {
    for (const algo of algos) {
      if (o.signal?.aborted) break;
      const model = await CausalLM.load(gpu, o.model ?? o.policy);
      const adapters = o.loraRank ? LoraAdapters.create(model, { rank: o.loraRank, alpha: 2 * o.loraRank, targets: [...LORA_TARGETS], seed: o.seed }) : undefined;
      const trainer = new IgSearchTrainer(gpu, core, model, tokenizer, policy.index, { ...demoTrainerConfig(o, algo, o.seed), ...(stopTokens ? { stopTokens } : {}) }, adapters);
      try {
        const result = await trainingRun(trainer, {
          run: algo,
          train,
          eval: evalQuestions,
          evalSplit,
          steps: o.steps,
          questionsPerStep: o.questionsPerStep,
          evalEvery: o.evalEvery,
          evalOptions: { batch: o.evalBatch },
          initialEval,
          seed: o.seed,
          signal: o.signal,
          beforeStep: o.beforeStep,
          checkpointDir: o.checkpointRoot ? `${o.checkpointRoot}/${algo}` : undefined,
          // Each step of a query-credit run is kept until the next: the last one is inspected.
          onStep: IG_ALGORITHMS.has(algo)
            ? (metrics, questions) => {
                lastStep = { metrics, questions };
                if (o.onInspection) {
                  const rollouts = inspectStep(tokenizer, metrics, questions, trainer.config.groupSize);
                  o.onInspection({ run: algo, step: metrics.step, group: telltaleGroup(rollouts), rollouts });
                }
              }
            : undefined,
          onEvent: (e) => {
            if (e.type === 'eval' && e.step === 0) {
              const { type: _t, run: _r, step: _s, algo: _a, split: _p, ...report } = e;
              initialEval ??= report;
            }
            if (e.type !== 'progress') records.push(e);
            o.onEvent?.(e);
          },
        });
        aborted ||= result.aborted;
        if (lastStep) {
          const rollouts = inspectStep(tokenizer, lastStep.metrics, lastStep.questions, trainer.config.groupSize);
          inspection = { run: algo, step: lastStep.metrics.step, group: telltaleGroup(rollouts), rollouts };
          lastStep = undefined;
        }
      } finally {
        const steps = trainer.steps;
        trainer.free();
        if (o.keepModel && algo === algos[algos.length - 1]) o.keepModel(model, algo, steps, adapters);
        else {
          adapters?.free();
          model.free();
        }
      }
    }
  } finally {
    policy.index.free();
  }
  return { records, wallMs: performance.now() - started, aborted, ...(inspection ? { inspection } : {}) };
}

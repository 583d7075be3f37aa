/**
 * A training run around `IgSearchTrainer`: which questions each step sees (a seeded order that
 * depends only on the step, so a resumed run continues exactly), greedy evaluation split by hops,
 * checkpoints every N steps and at the end, a final checkpoint on abort (Ctrl-C), and a clear
 * error naming the last checkpoint when the GPU device is lost. Progress goes to `onEvent`; the
 * JSON-safe records it receives are what `metrics.jsonl` holds.
 */
import { IgSearchError } from '../errors.js';
import type { CausalLM } from '../model/causal_lm.js';
import type { LoraAdapters } from '../model/lora.js';
import { Bm25Retriever, type Retriever } from '../retrieval/retriever.js';
import { rolloutSearchAgent, searchR1PromptTokens } from '../rollout/search_r1.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { seededRandom } from '../util/random.js';
import type { WasmCore } from '../wasm/core.js';
import { SAMPLING_DEFAULTS } from '../defaults.js';
import { computeRewards } from './reward.js';
import { labelRollouts, type QueryClass } from './signal.js';
import type { Question } from '../retrieval/corpus.js';
import type { IgSearchTrainer, StepMetrics, StepSummary } from './trainer.js';

export interface EvalOptions {
  maxTurns?: number;
  maxTokens?: number;
  docsPerSearch?: number;
  stopTokens?: readonly number[];
  /** Questions decoded together (default 32). */
  batch?: number;
  /** LoRA adapters to decode with (none: the base model). */
  adapters?: LoraAdapters;
}

export interface EvalReport {
  /** Exact match over all questions. */
  em: number;
  /** Exact match and count per number of hops ("1", "2", "3"; questions without `hops` under "?"). */
  byHops: Record<string, { em: number; n: number }>;
  searchesPerQuestion: number;
  /** Share of questions whose greedy trajectory hit `maxTokens` before it answered. */
  truncated: number;
  n: number;
  ms: number;
  /** Exact match of each question, in the order given (what paired comparisons resample). */
  correct: number[];
  /** Hops of each question (0 when unknown). */
  questionHops: number[];
}

/** Greedy search-agent rollouts on `questions`, scored by exact match. */
export async function evaluate(model: CausalLM, core: WasmCore, tokenizer: Tokenizer, retriever: Retriever, questions: readonly Question[], options: EvalOptions = {}): Promise<EvalReport> {
  const started = performance.now();
  const batch = options.batch ?? 32;
  const rewards: number[] = [];
  let searches = 0;
  let truncated = 0;
  for (let from = 0; from < questions.length; from += batch) {
    const part = questions.slice(from, from + batch);
    const prompts = part.map((q) => searchR1PromptTokens(tokenizer, q.question));
    const trajectories = await rolloutSearchAgent(model, prompts, {
      tokenizer,
      retriever,
      temperature: 0,
      maxTurns: options.maxTurns ?? SAMPLING_DEFAULTS.maxTurns,
      maxTokens: options.maxTokens ?? SAMPLING_DEFAULTS.maxTokens,
      docsPerSearch: options.docsPerSearch ?? SAMPLING_DEFAULTS.docsPerSearch,
      stopTokens: options.stopTokens,
      adapters: options.adapters,
    });
    rewards.push(...computeRewards(core, trajectories.map((t) => t.text), part.map((q) => q.golden_answers)));
    searches += trajectories.reduce((n, t) => n + t.searches.length, 0);
    truncated += trajectories.filter((t) => t.finish === 'length').length;
  }
  const byHops: EvalReport['byHops'] = {};
  questions.forEach((q, i) => {
    const key = q.hops === undefined ? '?' : String(q.hops);
    const slot = (byHops[key] ??= { em: 0, n: 0 });
    slot.em += rewards[i]!;
    slot.n++;
  });
  for (const slot of Object.values(byHops)) slot.em /= slot.n;
  return {
    em: questions.length ? rewards.reduce((a, b) => a + b, 0) / questions.length : 0,
    byHops,
    searchesPerQuestion: questions.length ? searches / questions.length : 0,
    truncated: questions.length ? truncated / questions.length : 0,
    n: questions.length,
    ms: performance.now() - started,
    correct: rewards,
    questionHops: questions.map((q) => q.hops ?? 0),
  };
}

/** One line of `metrics.jsonl`. */
export type RunRecord =
  | ({
      type: 'step';
      run: string;
      exactMatch: Record<string, number>;
      /** Each search's class (precise / redundant / vague, see rl/signal.ts), in the order of `ig`; when every question has `supporting`. */
      searchClasses?: QueryClass[];
    } & StepSummary)
  | ({ type: 'eval'; run: string; step: number; algo: string; split?: string } & EvalReport)
  | { type: 'checkpoint'; run: string; step: number; path: string };

/** Progress between records: a step or an evaluation starts, or the run waits at a pause (`beforeStep`). */
export type RunEvent = RunRecord | { type: 'progress'; run: string; step: number; steps: number; phase: 'train' | 'eval' | 'paused' };

export interface TrainingRunOptions {
  /** Name carried by every record (e.g. "grpo", "ig-search-seed1"). */
  run: string;
  train: readonly Question[];
  /** Evaluated greedily before the first step, every `evalEvery` steps and after the last. */
  eval?: readonly Question[];
  /** What `eval` is, carried by the eval records and named in reports ("validation", "test"…). */
  evalSplit?: string;
  /** Total steps (a resumed trainer continues from its own step count up to this). */
  steps: number;
  questionsPerStep: number;
  evalEvery?: number;
  evalOptions?: EvalOptions;
  /**
   * The step-0 evaluation when it is already known — the same weights, `eval` questions and
   * options (greedy decoding gives the same report): recorded as this run's, not decoded again.
   */
  initialEval?: EvalReport;
  /** Where checkpoints go; none are written without it. */
  checkpointDir?: string;
  /** Steps between checkpoints (default: only at the end). */
  checkpointEvery?: number;
  /** Extra files written into every checkpoint (tokenizer.json makes it a loadable model directory). */
  checkpointFiles?: Record<string, string | Uint8Array>;
  /** Seed of the question order. */
  seed?: number;
  /** Each step in full — its rollouts and per-token advantages (`inspectStep` renders them) — before it becomes a record. */
  onStep?: (metrics: StepMetrics, questions: readonly Question[]) => void;
  /**
   * Asked before each step: a promise makes the run wait for it (a pause; a `paused` progress
   * event says so), nothing lets it go on. An abort while paused takes effect once it settles.
   */
  beforeStep?: () => Promise<void> | undefined;
  /** Aborting stops after the current step and writes a final checkpoint. */
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  /** Retriever for evaluation (default: the trainer's). */
  retriever?: Retriever;
}

export interface TrainingRunResult {
  steps: number;
  aborted: boolean;
  lastCheckpoint?: string;
  finalEval?: EvalReport;
}

/** The questions of step `step` (1-based): a seeded permutation per pass over the data. */
export function questionsForStep(train: readonly Question[], step: number, perStep: number, seed: number): Question[] {
  if (train.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'training run: no training questions');
  const out: Question[] = [];
  let order: number[] = [];
  let pass = -1;
  for (let k = (step - 1) * perStep; k < step * perStep; k++) {
    const p = Math.floor(k / train.length);
    if (p !== pass) {
      pass = p;
      const random = seededRandom((seed * 0x9e3779b1 + p * 0x85ebca6b) >>> 0);
      order = train.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    out.push(train[order[k % train.length]!]!);
  }
  return out;
}

/** Exact match per hop count of a step's rollouts ("all", "1", "2", …). */
function stepExactMatch(metrics: Pick<StepMetrics, 'rewards'>, questions: readonly Question[], groupSize: number): Record<string, number> {
  const sums: Record<string, [number, number]> = { all: [0, 0] };
  metrics.rewards.forEach((r, i) => {
    const q = questions[Math.floor(i / groupSize)]!;
    for (const key of ['all', ...(q.hops === undefined ? [] : [String(q.hops)])]) {
      const s = (sums[key] ??= [0, 0]);
      s[0] += r;
      s[1]++;
    }
  });
  return Object.fromEntries(Object.entries(sums).map(([k, [s, n]]) => [k, n ? s / n : 0]));
}

/** Consecutive skipped (non-finite) steps after which a run stops instead of going on unchanged. */
export const MAX_SKIPPED_IN_A_ROW = 3;

export async function trainingRun(trainer: IgSearchTrainer, options: TrainingRunOptions): Promise<TrainingRunResult> {
  const { run, onEvent } = options;
  const evalEvery = options.evalEvery ?? 0;
  const seed = options.seed ?? trainer.config.seed;
  const retriever = options.retriever ?? trainer.config.retriever;
  let lastCheckpoint: string | undefined;
  let finalEval: EvalReport | undefined;
  const evaluation = async (known?: EvalReport) => {
    if (!options.eval?.length) return;
    if (!retriever && !trainer.index) return;
    onEvent?.({ type: 'progress', run, step: trainer.steps, steps: options.steps, phase: 'eval' });
    const report = known ?? await evaluate(trainer.model, trainer.core, trainer.tokenizer, retriever ?? new Bm25Retriever(trainer.index!), options.eval, {
      maxTurns: trainer.config.maxTurns,
      maxTokens: trainer.config.maxTokens,
      docsPerSearch: trainer.config.docsPerSearch,
      stopTokens: trainer.config.stopTokens,
      adapters: trainer.lora,
      ...options.evalOptions,
    });
    finalEval = report;
    onEvent?.({ type: 'eval', run, step: trainer.steps, algo: trainer.config.algo, ...(options.evalSplit === undefined ? {} : { split: options.evalSplit }), ...report });
  };
  const checkpoint = async () => {
    if (!options.checkpointDir) return;
    lastCheckpoint = await trainer.save(options.checkpointDir, { run, seed }, options.checkpointFiles);
    onEvent?.({ type: 'checkpoint', run, step: trainer.steps, path: lastCheckpoint });
  };
  let aborted = false;
  let skippedInARow = 0;
  try {
    if (evalEvery > 0 && trainer.steps === 0) await evaluation(options.initialEval);
    while (trainer.steps < options.steps) {
      const pause = options.beforeStep?.();
      if (pause) {
        onEvent?.({ type: 'progress', run, step: trainer.steps, steps: options.steps, phase: 'paused' });
        await pause;
      }
      if (options.signal?.aborted) {
        aborted = true;
        break;
      }
      const step = trainer.steps + 1;
      onEvent?.({ type: 'progress', run, step: step - 1, steps: options.steps, phase: 'train' });
      const questions = questionsForStep(options.train, step, options.questionsPerStep, seed);
      const full = await trainer.step(questions);
      options.onStep?.(full, questions);
      const { trajectories, tokenAdvantages: _, igCounterfactuals: _c, ...metrics } = full;
      onEvent?.({ type: 'step', run, exactMatch: stepExactMatch(metrics, questions, trainer.config.groupSize), ...metrics, ...searchClassesOf(trajectories, questions, trainer.config.groupSize) });
      // A non-finite gradient skips one update; several in a row mean the weights themselves are gone.
      skippedInARow = metrics.skipped ? skippedInARow + 1 : 0;
      if (skippedInARow >= MAX_SKIPPED_IN_A_ROW) {
        throw new IgSearchError('TRAINING_DIVERGED', `run "${run}": ${skippedInARow} steps in a row had a non-finite gradient norm (last at step ${trainer.steps}); nothing was updated`, {
          hint: lastCheckpoint ? `resume from ${lastCheckpoint} with a smaller --lr` : 'lower the learning rate and start again',
        });
      }
      const done = trainer.steps >= options.steps;
      if (options.checkpointEvery && trainer.steps % options.checkpointEvery === 0 && !done) await checkpoint();
      if (evalEvery > 0 && trainer.steps % evalEvery === 0 && !done) await evaluation();
    }
    await checkpoint();
    if (!aborted && evalEvery > 0) await evaluation();
    onEvent?.({ type: 'progress', run, step: trainer.steps, steps: options.steps, phase: 'train' });
    return { steps: trainer.steps, aborted, lastCheckpoint, finalEval };
  } catch (e) {
    // A destroyed/lost device can first surface as a failed readback: the device's own state decides.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if ((e instanceof IgSearchError && e.code === 'DEVICE_LOST') || trainer.gpu.lostReason !== undefined) {
      const where = lastCheckpoint ?? (options.checkpointDir ? `nothing yet under ${options.checkpointDir}` : 'none (no checkpoint directory)');
      const reason = `the GPU device was lost (${trainer.gpu.lostReason ?? (e as Error).message.split('\n')[0]})`;
      throw new IgSearchError('DEVICE_LOST', `${reason} during step ${trainer.steps + 1} of run "${run}"; last checkpoint: ${where}`, {
        cause: e,
        hint: lastCheckpoint ? 'continue with `ig-search train --resume` (same --out): it starts from the last checkpoint' : 'restart the run; set --checkpoint-every to lose less next time',
      });
    }
    throw e;
  }
}

/** The class of every search of a step (trajectory order, as `StepMetrics.ig`), when every question names its supporting passages. */
function searchClassesOf(trajectories: StepMetrics['trajectories'], questions: readonly Question[], groupSize: number): { searchClasses?: QueryClass[] } {
  if (!questions.every((q) => q.supporting?.length)) return {};
  return { searchClasses: labelRollouts(trajectories, questions, groupSize).flatMap((labels) => labels.map((l) => l.cls)) };
}

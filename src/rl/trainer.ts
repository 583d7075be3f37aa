/**
 * The training step of every algorithm (GRPO, IG-Search and the step-level baselines GiGPO, IGPO,
 * MR-Search, StepSearch), as four calls over one packed batch:
 *
 *   rollout     G Search-R1 trajectories per question (prompts prefilled once) → Batch
 *   score       EM rewards (Wasm); the algorithm's step rewards: information gain of every search
 *               step (ig-search, mr-search), gold-answer probes after each turn (igpo), TF-IDF
 *               gain toward the supporting passages (stepsearch), anchor states (gigpo)
 *   advantages  GRPO Â_i, plus λ·IG̃ on each query's tokens (ig-search), or one value per turn
 *               broadcast to its tokens (the baselines); loss mask and aggregation weights
 *   update      forward + policy loss + backward on the GPU per micro-batch (all-fail groups
 *               first, their gradient norm recorded), then clipped AdamW
 *
 * The update runs exactly one forward and one backward per token: the loss is computed on the GPU
 * from the log-probs of the pass's own forward, on-policy (one update per batch, so π_old = π_θ
 * detached). Only a KL reference adds a forward (the frozen base under LoRA, or `reference`).
 * docs/method.md gives the formulas; every default is in src/defaults.ts.
 */
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { AdamW } from '../kernels/adamw/adamw.js';
import { aggregationWeights, resolveLossOptions, type LossAggregation } from '../kernels/policy_loss/policy_loss.js';
import { microBatches, modelGradients, type Gradients } from '../model/backward.js';
import type { LoraAdapters } from '../model/lora.js';
import type { CausalLM } from '../model/causal_lm.js';
import type { Bm25Index } from '../retrieval/bm25.js';
import { passageTitle } from '../retrieval/corpus.js';
import { Bm25Retriever, formatInformation, type RetrievedDocument, type Retriever } from '../retrieval/retriever.js';
import type { RolloutCache } from '../rollout/generate.js';
import { rolloutSearchAgent, rolloutSearchAgentWithCache, searchR1PromptTokens, type SearchAgentOptions, type SearchTrajectory } from '../rollout/search_r1.js';
import { scoreInformationGainFromCache, type CachedIgStep } from '../scoring/ig.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { WasmCore } from '../wasm/core.js';
import { batchTokens, byPrediction, packBatch, turnValueSpans, type Batch } from './batch.js';
import type { Question } from '../retrieval/corpus.js';
import { readCheckpointState, saveCheckpoint, type TrainerState } from './training_checkpoint.js';
import { ALGORITHM_SPECS, checkAlgorithm, TRAINER_DEFAULTS, type Algorithm } from '../defaults.js';
import { discountedReturns, gigpoAdvantages, grpoAdvantages, igpoAdvantages, informationGain, modulateQueryAdvantages, mrSearchAdvantages, spanAdvantages, type IgShapingOptions, type TurnLayout } from './advantage.js';
import { computeRewards } from './reward.js';

/** @deprecated the same type as `Question`. */
export type { TrainQuestion } from './batch.js';

export interface TurnCreditOptions {
  /** Discount over turns (gigpo 0.95, igpo 1, mr-search 1). */
  gamma?: number;
  /** GiGPO's weight ω of the step advantage (1). */
  omega?: number;
  /** MR-Search's weight α of the outcome advantage (1). */
  alpha?: number;
}

export interface TrainerConfig {
  algo: Algorithm;
  /** Rollouts per question (G). */
  groupSize?: number;
  /** λ on the step reward: the shaped IG of query tokens (ig-search), G − P of a search turn (stepsearch). */
  lambda?: number;
  /** Knobs of the step-level credit (defaults: ALGORITHM_SPECS[algo].knobs). */
  turnCredit?: TurnCreditOptions;
  igShaping?: IgShapingOptions;
  lr?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  klBeta?: number;
  clip?: number;
  lossAggregation?: LossAggregation;
  maxTurns?: number;
  maxTokens?: number;
  docsPerSearch?: number;
  temperature?: number;
  seed?: number;
  stopTokens?: readonly number[];
  /** Most rows per forward+backward pass (see TRAINER_DEFAULTS.microBatchRows). */
  microBatchRows?: number;
  /** Scripted policy tokens (tests, warm-start data): see SearchAgentOptions.script. */
  script?: SearchAgentOptions['script'];
  /**
   * KL reference policy for full fine-tuning (a second, frozen copy of the starting weights). Under
   * LoRA the frozen base is the reference; without either the KL term is off.
   */
  reference?: CausalLM;
  /** Where rollouts search (default: BM25 over the trainer's corpus index). */
  retriever?: Retriever;
}

/** Milliseconds per phase of a step. */
export interface StepTiming {
  rollout: number;
  reward: number;
  /** The algorithm's step rewards: IG scoring, IGPO's probes, StepSearch's TF-IDF. */
  ig: number;
  advantages: number;
  /** Reference log-probs for the KL term (0 when it is off). */
  reference: number;
  update: number;
}

/** The phases in order, with the names reports show. */
export const STEP_PHASES: readonly { key: keyof StepTiming; name: string }[] = [
  { key: 'rollout', name: 'rollout' },
  { key: 'reward', name: 'reward' },
  { key: 'ig', name: 'step rewards' },
  { key: 'advantages', name: 'advantages' },
  { key: 'reference', name: 'KL reference' },
  { key: 'update', name: 'update' },
];

export interface StepMetrics {
  step: number;
  algo: Algorithm;
  /** Mean reward, and each rollout's (questions × G, group by group). */
  reward: number;
  rewards: number[];
  loss: number;
  gradNorm: number;
  skipped: boolean;
  searchesPerRollout: number;
  /**
   * Rollouts cut off at `maxTokens` before they answered. A large share means the budget is too
   * short for the task (a multi-hop trajectory that cannot fit has reward 0 whatever it searched).
   */
  truncated: number;
  /** Groups in which every rollout got reward 0, and the gradient norm of their part of the loss (0 when none). */
  allFailGroups: number;
  allFailGradNorm: number;
  /** Rollouts whose retrieval failed: marked, kept out of the loss, the run goes on. */
  retrievalFailures: number;
  /** Raw IG of every scored search step (nats/token; ig-search and mr-search). */
  ig: number[];
  /** The random documents each of those searches' documents were compared with (beside `ig`; empty when none were scored). */
  igCounterfactuals: DocumentRef[][];
  /** The step rewards the algorithm credited, per scored step: IGPO's p_t − p_{t−1}, StepSearch's G − P (empty otherwise). */
  stepRewards: number[];
  /** Mean |advantage| on query tokens and on all policy tokens. */
  queryAdvantage: number;
  /** Trajectory tokens (policy and appended) in the batch. */
  tokens: number;
  /** Tokens the update trains on: prompt + trajectory of every rollout (the pass computes each prompt once per group). */
  rows: number;
  /**
   * Rows each phase pushed through the model's layers: the rollout (prefill + decode), IG scoring,
   * the KL reference, and the update's own forward — one per trained token, with each group's
   * shared prompt (all but its last token) once: `rows − Σ_groups (G − 1)(P − 1)`.
   */
  forwardRows: { rollout: number; ig: number; reference: number; update: number };
  /** Tokens IG scoring had to add to what the rollout held (random documents, answer probes); `forwardRows.ig` equals it. */
  igTokens: number;
  timing: StepTiming;
  trajectories: SearchTrajectory[];
  /**
   * The advantage of every trajectory token, one array per rollout beside `trajectories[i].tokens`:
   * Â_i (+ λ·IG̃ on query tokens, or the turn's value) on policy tokens, 0 on appended ones.
   */
  tokenAdvantages: Float32Array[];
}

/** A step as runs record it: without the rollouts, their per-token advantages and the counterfactual documents. */
export type StepSummary = Omit<StepMetrics, 'trajectories' | 'tokenAdvantages' | 'igCounterfactuals'>;

/** A passage named by id and title. */
export interface DocumentRef {
  id: string;
  title: string;
}

type Optional = 'script' | 'stopTokens' | 'igShaping' | 'retriever' | 'reference' | 'turnCredit';
export type ResolvedConfig = Required<Omit<TrainerConfig, Optional>> & Pick<TrainerConfig, Optional>;

interface Scores {
  igTokens: number;
  rewards: Float64Array;
  rolloutAdvantages: Float64Array;
  /** Raw and shaped IG per query of `batch.queries` (empty unless IG is scored). */
  rawIg: number[];
  shapedIg: number[];
  /** The random documents each IG-scored query's were compared with (same order as `rawIg`). */
  counterfactuals: DocumentRef[][];
  /** Turn-level algorithms: the advantage of every policy token of each turn of `batch.turns`. */
  turnValues?: Float64Array;
  stepRewards: number[];
}

interface Advantages {
  /** Per trajectory token (flat, rollouts back to back). */
  advantages: Float32Array;
  lossMask: Float32Array;
}

export class IgSearchTrainer {
  private optimizer: AdamW | undefined;
  private gradients: Gradients | undefined;
  private stepCount = 0;
  /** Optimizer moments read from a checkpoint, imported when the optimizer is created. */
  private restoredMoments: Awaited<ReturnType<typeof readCheckpointState>>['optimizer'];
  readonly config: ResolvedConfig;

  constructor(
    readonly gpu: Gpu,
    readonly core: WasmCore,
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    /** The corpus: BM25 retrieval unless `config.retriever` is given, and IG's random documents. */
    readonly index: Bm25Index | undefined,
    config: TrainerConfig,
    readonly lora?: LoraAdapters,
  ) {
    this.config = resolveTrainerConfig(config);
    const needsCorpus = ALGORITHM_SPECS[config.algo].corpus;
    if (!index && (needsCorpus || !config.retriever)) {
      throw new IgSearchError('INVALID_ARGUMENT', `trainer: ${needsCorpus ? `${config.algo} needs the corpus (counterfactual documents, TF-IDF statistics)` : 'no retriever'}: give a corpus index`);
    }
    if (index && index.size === 0 && (needsCorpus || !config.retriever)) {
      throw new IgSearchError('INVALID_ARGUMENT', 'trainer: the corpus index is empty: nothing to retrieve and no counterfactual documents for IG', { hint: 'give a corpus with passages' });
    }
  }

  /** Steps taken so far (restored from a checkpoint by `restore`). */
  get steps(): number {
    return this.stepCount;
  }

  /** Writes a checkpoint of the policy and optimizer under `root` (see saveCheckpoint); returns its directory. */
  async save(root: string, extra: Record<string, unknown> = {}, files?: Record<string, string | Uint8Array>): Promise<string> {
    const { script: _script, retriever: _retriever, reference: _reference, ...config } = this.config;
    return saveCheckpoint(root, this.model, this.optimizer, { ...extra, step: this.stepCount, config }, { files, adapters: this.lora });
  }

  /**
   * Continues from a checkpoint directory: the step count and AdamW moments (the weights are loaded
   * with the model — `CausalLM.load(dir)` or `LoraAdapters.load`). Seeds depend only on the step,
   * so a resumed run draws the same rollouts as one that never stopped.
   */
  async restore(dir: string): Promise<TrainerState> {
    const { state, optimizer } = await readCheckpointState(dir);
    this.stepCount = state.step;
    if (optimizer) {
      if (this.optimizer) this.optimizer.importState(optimizer);
      else this.restoredMoments = optimizer;
    }
    return state;
  }

  /** One optimizer step on `questions` (G rollouts each). */
  async step(questions: readonly Question[]): Promise<StepMetrics> {
    if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'trainer: no questions in this step');
    const step = this.stepCount + 1; // counted once the update has been applied
    const timing: StepTiming = { rollout: 0, reward: 0, ig: 0, advantages: 0, reference: 0, update: 0 };
    const rows = { rollout: 0, ig: 0, reference: 0, update: 0 };
    const phase = async <T>(name: keyof StepTiming, counted: keyof typeof rows | undefined, run: () => T | Promise<T>): Promise<T> => {
      const [t0, r0] = [performance.now(), this.model.rowsForwarded];
      try {
        return await run();
      } finally {
        timing[name] += performance.now() - t0;
        if (counted) rows[counted] += this.model.rowsForwarded - r0;
      }
    };
    const { batch, cache } = await phase('rollout', 'rollout', () => this.rollout(questions, step));
    let scores: Scores;
    try {
      scores = await this.score(batch, cache, step, phase);
    } finally {
      cache?.cache.free();
    }
    const advantages = await phase('advantages', undefined, () => this.advantages(batch, scores));
    const referenceRows = this.config.reference?.rowsForwarded ?? 0;
    const reference = await phase('reference', 'reference', () => this.referenceLogprobs(batch));
    if (this.config.reference && reference) rows.reference = this.config.reference.rowsForwarded - referenceRows;
    const update = await phase('update', 'update', () => this.update(batch, scores.rewards, advantages, reference));
    this.stepCount = step;

    let queryAbs = 0;
    let queryTokens = 0;
    const q = batch.queries;
    for (let k = 0; k < q.rollout.length; k++) {
      for (let j = q.start[k]!; j < q.end[k]!; j++) {
        queryAbs += Math.abs(advantages.advantages[batch.offsets[q.rollout[k]!]! + j]!);
        queryTokens++;
      }
    }
    const rewards = Array.from(scores.rewards);
    return {
      step,
      algo: this.config.algo,
      reward: rewards.reduce((a, b) => a + b, 0) / rewards.length,
      rewards,
      ...update,
      searchesPerRollout: batch.trajectories.reduce((n, t) => n + t.searches.length, 0) / batch.trajectories.length,
      truncated: batch.trajectories.filter((t) => t.finish === 'length').length,
      retrievalFailures: batch.retrievalFailed.filter(Boolean).length,
      ig: scores.rawIg,
      igCounterfactuals: scores.counterfactuals,
      stepRewards: scores.stepRewards,
      queryAdvantage: queryTokens ? queryAbs / queryTokens : 0,
      tokens: batchTokens(batch),
      rows: batch.sequences.reduce((n, s) => n + s.length, 0),
      forwardRows: rows,
      igTokens: scores.igTokens,
      timing,
      trajectories: [...batch.trajectories],
      tokenAdvantages: batch.trajectories.map((_, i) => advantages.advantages.slice(batch.offsets[i]!, batch.offsets[i + 1]!).map((a, j) => a * advantages.lossMask[batch.offsets[i]! + j]!)),
    };
  }

  private prompt(question: string): Uint32Array {
    return searchR1PromptTokens(this.tokenizer, question);
  }

  /**
   * G rollouts per question, prompts prefilled once per question; packed into the step's batch.
   * When step rewards probe the model (ig-search, mr-search, igpo) the rollout's KV cache is kept:
   * scoring continues from it.
   */
  private async rollout(questions: readonly Question[], step: number, keepCache = ALGORITHM_SPECS[this.config.algo].cache): Promise<{ batch: Batch; cache?: RolloutCache }> {
    const c = this.config;
    const prompts = questions.flatMap((q) => {
      const p = this.prompt(q.question);
      return Array.from({ length: c.groupSize }, () => p);
    });
    const options: SearchAgentOptions = {
      tokenizer: this.tokenizer,
      retriever: c.retriever ?? new Bm25Retriever(this.index!),
      docsPerSearch: c.docsPerSearch,
      maxTurns: c.maxTurns,
      maxTokens: c.maxTokens,
      temperature: c.temperature,
      seed: c.seed * 1_000_003 + step,
      stopTokens: c.stopTokens,
      script: c.script,
      adapters: this.lora,
    };
    if (!keepCache) return { batch: packBatch(questions, c.groupSize, prompts, await rolloutSearchAgent(this.model, prompts, options)) };
    const { trajectories, cache } = await rolloutSearchAgentWithCache(this.model, prompts, options);
    return { batch: packBatch(questions, c.groupSize, prompts, trajectories), cache };
  }

  /** EM rewards and GRPO advantages, then the algorithm's step rewards (see the file comment). */
  private async score(batch: Batch, cache: RolloutCache | undefined, step: number, phase: <T>(name: keyof StepTiming, counted: 'ig' | undefined, run: () => T | Promise<T>) => Promise<T>): Promise<Scores> {
    const c = this.config;
    const { rewards, rolloutAdvantages } = await phase('reward', undefined, () => {
      const rewards = computeRewards(this.core, batch.trajectories.map((t) => t.text), batch.golds);
      return { rewards, rolloutAdvantages: grpoAdvantages(this.core, rewards, batch.questions.map(() => c.groupSize)) };
    });
    const base: Scores = { rewards, rolloutAdvantages, rawIg: [], shapedIg: [], counterfactuals: [], igTokens: 0, stepRewards: [] };
    if (c.algo === 'grpo') return base;
    return phase('ig', 'ig', async () => {
      const scores = { ...base };
      if (ALGORITHM_SPECS[c.algo].ig && cache && batch.queries.rollout.length > 0) {
        const forward = c.algo === 'ig-search-gamma';
        const { raw, shaped, forward: credit, newTokens, counterfactuals } = await this.igScores(batch, cache, step, forward ? [this.forwardGamma()] : []);
        Object.assign(scores, { rawIg: raw, shapedIg: forward ? credit[0]! : shaped, igTokens: newTokens, counterfactuals });
      }
      if (ALGORITHM_SPECS[c.algo].credit === 'turn') await this.turnValues(batch, cache, scores);
      return scores;
    });
  }

  /**
   * Raw and shaped IG of every search of the batch (`batch.queries` order), scored from the rollout's
   * cache, and IG-Search-γ's shaped forward credit for each of `gammas`: each search's raw IG plus
   * γ·(the next search's credit), within its rollout, then the same shaping.
   */
  private async igScores(batch: Batch, cache: RolloutCache, step: number, gammas: readonly number[] = []): Promise<{ raw: number[]; shaped: number[]; forward: number[][]; newTokens: number; counterfactuals: DocumentRef[][] }> {
    const G = this.config.groupSize;
    const stepsPerGroup = batch.questions.map((_, g) => batch.queries.rollout.filter((r) => Math.floor(r / G) === g).length);
    const { steps, counterfactuals } = this.igSteps(batch, step);
    const { scores: ig, newTokens } = await scoreInformationGainFromCache(this.model, cache, steps);
    const { raw, shaped } = informationGain(this.core, ig.map((s) => s.real), ig.map((s) => s.random), stepsPerGroup, this.config.igShaping);
    const layout: TurnLayout = { groupSizes: batch.questions.map(() => G), turns: batch.trajectories.map((t) => t.searches.length) };
    const zeros = new Float64Array(raw.length);
    // raw − 0 = the accumulated raw IG, shaped exactly as the paper's IG is.
    const forwardShaped = (g: number) => Array.from(informationGain(this.core, discountedReturns(this.core, raw, layout, g), zeros, stepsPerGroup, this.config.igShaping).shaped);
    return { raw: Array.from(raw), shaped: Array.from(shaped), forward: gammas.map(forwardShaped), newTokens, counterfactuals };
  }

  /** IG-Search-γ's γ: the run's turnCredit.gamma, else the default. */
  private forwardGamma(): number {
    return this.config.turnCredit?.gamma ?? ALGORITHM_SPECS['ig-search-gamma'].knobs.gamma!;
  }

  /**
   * IGPO's probes: the policy's log-likelihood of the gold answer after the prompt (rollouts with ≥ 2
   * turns) and after every turn but the last; its step reward of a probed turn is p_t − p_{t−1}.
   */
  private async igpoProbes(batch: Batch, cache: RolloutCache, turnIndex: readonly number[]): Promise<{ promptScores: number[]; turnScores: number[]; probedTurns: number[]; stepRewards: number[]; newTokens: number }> {
    const G = this.config.groupSize;
    const turnRollout = batch.turns.rollout;
    const { answerPrefix, answers } = this.answerProbes(batch);
    const probes: CachedIgStep[] = [];
    const promptProbe = new Map<number, number>();
    const turnProbe = new Map<number, number>();
    batch.turnCounts.forEach((k, i) => {
      if (k < 2) return;
      promptProbe.set(i, probes.length);
      probes.push({ sequence: i, information: [0, 0], answerPrefix, answers: answers[Math.floor(i / G)]! });
    });
    for (let t = 0; t < turnRollout.length; t++) {
      const i = turnRollout[t]!;
      if (turnIndex[t]! === batch.turnCounts[i]! - 1) continue;
      const s = batch.trajectories[i]!.searches[turnIndex[t]!]!;
      turnProbe.set(t, probes.length);
      probes.push({ sequence: i, information: s.information, answerPrefix, answers: answers[Math.floor(i / G)]! });
    }
    const { scores: probed, newTokens } = await scoreInformationGainFromCache(this.model, cache, probes);
    const promptScores = batch.trajectories.map((_, i) => (promptProbe.has(i) ? probed[promptProbe.get(i)!]!.real : 0));
    const turnScores = Array.from({ length: turnRollout.length }, (_, t) => (turnProbe.has(t) ? probed[turnProbe.get(t)!]!.real : 0));
    const probedTurns = [...turnProbe.keys()];
    const stepRewards = probedTurns.map((t) => {
      const before = turnIndex[t] === 0 ? promptScores[turnRollout[t]!]! : turnScores[t - 1]!;
      return Math.exp(turnScores[t]!) - Math.exp(before);
    });
    return { promptScores, turnScores, probedTurns, stepRewards, newTokens };
  }

  /** StepSearch's G − P of every search of the batch (`batch.queries` order): TF-IDF gain toward the supporting passages. */
  private stepSearchRewards(batch: Batch): Float64Array {
    const G = this.config.groupSize;
    const passages = this.passagesById();
    const text = (id: string, where: string) => {
      const p = passages.get(id);
      if (p === undefined) throw new IgSearchError('INVALID_ARGUMENT', `stepsearch: ${where} names passage "${id}", which is not in the corpus`);
      return p;
    };
    const rollouts = batch.trajectories.map((t, i) => {
      const q = batch.questions[Math.floor(i / G)]!;
      if (!q.supporting?.length) throw new IgSearchError('INVALID_ARGUMENT', `stepsearch: question "${q.question.slice(0, 60)}" has no "supporting" passage ids`, { hint: 'StepSearch rewards retrieving the supporting passages: give each question a "supporting" list of corpus ids' });
      return {
        golds: q.supporting.map((id) => text(id, `question "${q.question.slice(0, 60)}"`)),
        steps: t.searches.map((s) => s.documents.map((d) => passages.get(d.id) ?? `${d.title}\n${d.text}`)),
      };
    });
    return this.index!.stepSearchRewards(rollouts);
  }

  /** The turn index (0-based within its rollout) of every turn of `batch.turns`. */
  private static turnIndices(batch: Batch): number[] {
    const turnIndex: number[] = [];
    batch.turnCounts.forEach((k) => turnIndex.push(...Array.from({ length: k }, (_, j) => j)));
    return turnIndex;
  }

  /** The index into `batch.queries` of each rollout's first search (searches are laid out rollout after rollout). */
  private static firstQueries(batch: Batch): number[] {
    const first: number[] = [];
    batch.trajectories.reduce((n, t, i) => ((first[i] = n), n + t.searches.length), 0);
    return first;
  }

  /**
   * Every algorithm's step signal on one batch of rollouts, with no update: raw and shaped IG
   * (ig-search; mr-search credits the shaped value), IGPO's p_t − p_{t−1} and StepSearch's G − P,
   * per search, with the trajectories and rewards. What `measureSignals` labels and ranks.
   */
  async signals(questions: readonly Question[], step = this.stepCount + 1, options: { gammas?: readonly number[] } = {}): Promise<{ trajectories: Batch['trajectories']; rewards: number[]; perSearch: { rollout: number; search: number; values: Record<string, number | undefined> }[] }> {
    if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'trainer: no questions to measure');
    if (!this.index) throw new IgSearchError('INVALID_ARGUMENT', 'trainer: measuring the step signals needs the corpus index (IG\'s counterfactual documents, StepSearch\'s TF-IDF)');
    const { batch, cache } = await this.rollout(questions, step, true);
    try {
      const rewards = Array.from(computeRewards(this.core, batch.trajectories.map((t) => t.text), batch.golds));
      const firstQuery = IgSearchTrainer.firstQueries(batch);
      const perSearch = batch.queries.rollout.map((rollout, k) => ({ rollout, search: k - firstQuery[rollout]!, values: {} as Record<string, number | undefined> }));
      if (perSearch.length === 0) return { trajectories: batch.trajectories, rewards, perSearch };
      const ig = await this.igScores(batch, cache!, step, [this.forwardGamma(), ...(options.gammas ?? [])]);
      perSearch.forEach((p, k) => {
        Object.assign(p.values, { ig_raw: ig.raw[k], ig_shaped: ig.shaped[k], ig_gamma: ig.forward[0]![k] });
        (options.gammas ?? []).forEach((g, j) => (p.values[`ig_gamma@${g}`] = ig.forward[j + 1]![k]));
      });
      const turnIndex = IgSearchTrainer.turnIndices(batch);
      const igpo = await this.igpoProbes(batch, cache!, turnIndex);
      igpo.probedTurns.forEach((t, j) => (perSearch[firstQuery[batch.turns.rollout[t]!]! + turnIndex[t]!]!.values['igpo'] = igpo.stepRewards[j]));
      if (batch.questions.every((q) => q.supporting?.length)) {
        const tfidf = this.stepSearchRewards(batch);
        perSearch.forEach((p, k) => (p.values['stepsearch'] = tfidf[k]));
      }
      return { trajectories: batch.trajectories, rewards, perSearch };
    } finally {
      cache?.cache.free();
    }
  }

  /** Per-turn advantages of the step-level baselines (docs/method.md), into `scores.turnValues`. */
  private async turnValues(batch: Batch, cache: RolloutCache | undefined, scores: Scores): Promise<void> {
    const c = this.config;
    const G = c.groupSize;
    const layout: TurnLayout = { groupSizes: batch.questions.map(() => G), turns: batch.turnCounts };
    const turnRollout = batch.turns.rollout;
    const turnIndex = IgSearchTrainer.turnIndices(batch);
    // The query (and search) of turn t, when the turn ends with one: index into batch.queries.
    const firstQuery = IgSearchTrainer.firstQueries(batch);
    const searchOf = (t: number) => (turnIndex[t]! < batch.trajectories[turnRollout[t]!]!.searches.length ? firstQuery[turnRollout[t]!]! + turnIndex[t]! : -1);
    const credit: TurnCreditOptions = { ...ALGORITHM_SPECS[c.algo].knobs, ...c.turnCredit };
    const turns = turnRollout.length;
    switch (c.algo) {
      case 'gigpo': {
        // Anchor state of a turn: the tokens before it (the prompt is the group's own).
        const ids = new Map<string, number>();
        const anchors = turnRollout.map((i, t) => {
          const key = `${Math.floor(i / G)}:${batch.trajectories[i]!.tokens.subarray(0, batch.turns.start[t]!).join(',')}`;
          if (!ids.has(key)) ids.set(key, ids.size);
          return ids.get(key)!;
        });
        scores.turnValues = gigpoAdvantages(this.core, scores.rewards, layout, anchors, { gamma: credit.gamma, omega: credit.omega });
        return;
      }
      case 'igpo': {
        if (!cache) throw new IgSearchError('INVALID_ARGUMENT', 'igpo: the rollout cache is missing');
        const { promptScores, turnScores, stepRewards, newTokens } = await this.igpoProbes(batch, cache, turnIndex);
        scores.igTokens = newTokens;
        scores.stepRewards = stepRewards;
        scores.turnValues = igpoAdvantages(this.core, scores.rewards, promptScores, turnScores, layout, { gamma: credit.gamma });
        return;
      }
      case 'mr-search': {
        const rewarded = Array.from({ length: turns }, (_, t) => (searchOf(t) >= 0 && scores.shapedIg.length ? 1 : 0));
        const stepRewards = Array.from({ length: turns }, (_, t) => (rewarded[t] ? scores.shapedIg[searchOf(t)]! : 0));
        const turnCredit = mrSearchAdvantages(this.core, stepRewards, rewarded, layout, { gamma: credit.gamma });
        scores.turnValues = turnCredit.map((v, t) => v + credit.alpha! * scores.rolloutAdvantages[turnRollout[t]!]!);
        return;
      }
      case 'stepsearch': {
        const perStep = this.stepSearchRewards(batch);
        scores.stepRewards = Array.from(perStep);
        scores.turnValues = Float64Array.from({ length: turns }, (_, t) => {
          const q = searchOf(t);
          return scores.rolloutAdvantages[turnRollout[t]!]! + (q >= 0 ? c.lambda * perStep[q]! : 0);
        });
        return;
      }
    }
  }

  private passages: Map<string, string> | undefined;

  /** The corpus by passage id (StepSearch reads gold passages by id), read once. */
  private passagesById(): Map<string, string> {
    if (!this.passages) {
      const index = this.index!;
      this.passages = new Map(index.documents(Array.from({ length: index.size }, (_, i) => i)).map((p) => [p.id, p.contents]));
    }
    return this.passages;
  }

  /** What a gold-answer probe appends: "<answer>", then each gold answer of each question (as token ids). */
  private answerProbes(batch: Batch): { answerPrefix: number[]; answers: number[][][] } {
    const encode = (text: string) => Array.from(this.tokenizer.encode(text, { addSpecialTokens: false }));
    return { answerPrefix: encode('<answer>'), answers: batch.questions.map((q) => q.golden_answers.map((a) => encode(` ${a}`))) };
  }

  /** Every search step of the batch (in `batch.queries` order) with its seeded counterfactual documents. */
  private igSteps(batch: Batch, step: number): { steps: CachedIgStep[]; counterfactuals: DocumentRef[][] } {
    const c = this.config;
    const index = this.index!;
    const { answerPrefix, answers } = this.answerProbes(batch);
    const steps: CachedIgStep[] = [];
    const counterfactuals: DocumentRef[][] = [];
    let sample = 0;
    batch.trajectories.forEach((t, i) => {
      const q = batch.questions[Math.floor(i / c.groupSize)]!;
      for (const s of t.searches) {
        const exclude = s.documents.map((d) => d.doc).filter((d): d is number => d !== undefined);
        const random = index.sampleRandom(s.documents.length || c.docsPerSearch, { seed: (c.seed * 7919 + step * 104729 + sample++) >>> 0, excludeAnswers: [...q.golden_answers], excludeDocs: exclude });
        const randomDocs: RetrievedDocument[] = index.documents(random).map((p, j) => {
          const newline = p.contents.indexOf('\n');
          return { id: p.id, title: passageTitle(p.contents), text: newline < 0 ? '' : p.contents.slice(newline + 1).trim(), score: 0, doc: random[j] };
        });
        counterfactuals.push(randomDocs.map((d) => ({ id: d.id, title: d.title })));
        steps.push({
          sequence: i,
          information: s.information,
          random: [...this.tokenizer.encode(formatInformation(randomDocs), { addSpecialTokens: false }), ...answerPrefix],
          answerPrefix,
          answers: answers[Math.floor(i / c.groupSize)]!,
        });
      }
    });
    return { steps, counterfactuals };
  }

  /**
   * Per-token advantages and the loss mask: Â_i, plus λ·IG̃ on query tokens (ig-search); for the
   * turn-level algorithms each turn's value on its policy tokens.
   */
  private advantages(batch: Batch, scores: Scores): Advantages {
    const c = this.config;
    // GRPO (and a step without searches) scores no IG: its queries get Â alone.
    const ig = scores.shapedIg.length ? scores.shapedIg : new Array<number>(batch.queries.rollout.length).fill(0);
    const turns = scores.turnValues;
    const tokenCounts = batch.trajectories.map((t) => t.tokens.length);
    const { advantages, lossMask } = turns
      ? spanAdvantages(this.core, { tokenCounts, spans: turnValueSpans(batch, turns), masked: batch.retrieved })
      : modulateQueryAdvantages(this.core, { tokenCounts, rolloutAdvantages: scores.rolloutAdvantages, queries: { ...batch.queries, ig }, retrieved: batch.retrieved, lambda: c.lambda });
    // A rollout whose retrieval failed is not the policy's doing: it stays out of the loss.
    batch.retrievalFailed.forEach((failed, i) => {
      if (failed) lossMask.fill(0, batch.offsets[i], batch.offsets[i + 1]);
    });
    return { advantages, lossMask };
  }

  /**
   * Log-probs of the KL reference (frozen base under LoRA, or `config.reference`) for the trajectory
   * tokens, laid out by prediction (prompt entries 0); undefined when KL is off. Each group's
   * prompt is scored once.
   */
  private async referenceLogprobs(batch: Batch): Promise<Float32Array[] | undefined> {
    const c = this.config;
    if (c.klBeta === 0 || (!this.lora && !c.reference)) return undefined;
    const paths = batch.sequences.map((s, i) => {
      const P = batch.prompts[i]!.length;
      return { segments: [s.subarray(0, P - 1), s.subarray(P - 1)], scoreLast: s.length - P };
    });
    const scores = this.lora ? await this.model.scorePaths(paths) : await c.reference!.scorePaths(paths); // under LoRA the reference is the base, the adapters left out
    return scores.map((lp, i) => {
      const out = new Float32Array(batch.sequences[i]!.length - 1);
      out.set(lp, batch.prompts[i]!.length - 1);
      return out;
    });
  }

  /**
   * Forward + loss + backward per micro-batch, all-fail groups first (GRPO gives them no gradient,
   * IG-Search does through the queries: their norm is recorded before the rest accumulates), then
   * AdamW. The losses and both norms are read back once, after the update.
   */
  private async update(batch: Batch, rewards: ArrayLike<number>, adv: Advantages, reference: Float32Array[] | undefined): Promise<Pick<StepMetrics, 'loss' | 'gradNorm' | 'skipped' | 'allFailGroups' | 'allFailGradNorm'>> {
    const c = this.config;
    const G = c.groupSize;
    const weights = byPrediction(batch, aggregationWeights(adv.lossMask, batch.offsets, c.lossAggregation));
    const advantages = byPrediction(batch, adv.advantages);
    const options = resolveLossOptions({ clipLow: c.clip, clipHigh: c.clip, klBeta: reference ? c.klBeta : 0, aggregation: c.lossAggregation });
    const rows = batch.sequences.reduce((n, s) => n + s.length, 0); // an upper bound of the packed rows
    const lossBuffer = this.gpu.allocate(rows * 4, 'step.token_loss');
    try {
      if (this.lora) this.lora.zeroGrad();
      else this.gradients?.zero();
      // Groups (the G rollouts of a question) share their prompt: computed once per group.
      const failed: number[] = [];
      const rest: number[] = [];
      batch.questions.forEach((_, g) => (Array.from({ length: G }, (_, j) => rewards[g * G + j]).every((r) => r === 0) ? failed : rest).push(g));
      const members = (g: number) => Array.from({ length: G }, (_, j) => g * G + j);
      const groupRows = (g: number) => members(g).reduce((n, i) => n + batch.sequences[i]!.length, 0) - (G - 1) * (batch.prompts[g * G]!.length - 1);
      let base = 0;
      let allFail: { read(): Promise<number> } | undefined;
      for (const part of [failed, rest]) {
        for (const [from, to] of microBatches(part.map(groupRows), c.microBatchRows)) {
          const groups = part.slice(from, to);
          const picked = groups.flatMap(members);
          const grads = await modelGradients(
            this.model,
            picked.map((i) => batch.sequences[i]!),
            { advantages: picked.map((i) => advantages[i]!), weights: picked.map((i) => weights[i]!), reference: reference && picked.map((i) => reference[i]!), options, lossOut: { buffer: lossBuffer, base } },
            { ...(this.lora ? { lora: this.lora } : { accumulate: this.gradients }), sharedPrefixes: groups.map((g) => ({ count: G, prefix: batch.prompts[g * G]!.length })) },
          );
          base += groups.reduce((n, g) => n + groupRows(g), 0);
          if (this.lora) grads.free();
          else this.gradients = grads;
          await this.ensureOptimizer(grads);
        }
        if (part === failed && failed.length) allFail = this.optimizer!.encodeGradNorm();
      }
      // Everything is queued; the step's one wait reads the norm, the losses and the all-fail norm together.
      const [report, tokenLoss, allFailGradNorm] = await Promise.all([this.optimizer!.encodeStep().read(), this.gpu.read(lossBuffer, Math.max(base, 1) * 4), allFail?.read() ?? 0]);
      let loss = 0;
      for (const v of new Float32Array(tokenLoss)) loss += v;
      return { loss, gradNorm: report.gradNorm, skipped: report.skipped, allFailGroups: failed.length, allFailGradNorm };
    } finally {
      this.gpu.pool.release(lossBuffer);
    }
  }

  private async ensureOptimizer(grads: Gradients): Promise<void> {
    if (this.optimizer) return;
    const c = this.config;
    this.optimizer = await AdamW.create(this.gpu, this.lora ? this.lora.trainables() : grads.trainables, { lr: c.lr, weightDecay: c.weightDecay, maxGradNorm: c.maxGradNorm });
    if (this.restoredMoments) this.optimizer.importState(this.restoredMoments);
    this.restoredMoments = undefined;
  }

  free(): void {
    this.optimizer?.free();
    this.gradients?.free();
  }
}

/**
 * The configuration with every default filled in (TRAINER_DEFAULTS), checked: a value the step
 * could not run is refused naming its field. The CLI calls it before loading anything.
 */
export function resolveTrainerConfig(config: TrainerConfig): ResolvedConfig {
  checkAlgorithm(config.algo, 'algo');
  const c: ResolvedConfig = { ...TRAINER_DEFAULTS, lossAggregation: 'token-mean', ...config };
  checkConfig(c);
  return c;
}

function checkConfig(c: ResolvedConfig): void {
  const integer = (name: keyof ResolvedConfig, min: number) => {
    const v = c[name] as number;
    if (!Number.isInteger(v) || v < min) throw new IgSearchError('INVALID_ARGUMENT', `trainer: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  const real = (name: keyof ResolvedConfig, check: (v: number) => boolean, what: string) => {
    const v = c[name] as number;
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw new IgSearchError('INVALID_ARGUMENT', `trainer: ${name} must be ${what}, got ${String(v)}`);
  };
  integer('groupSize', 1);
  integer('maxTurns', 0);
  integer('maxTokens', 2);
  integer('docsPerSearch', 1);
  integer('microBatchRows', 1);
  integer('seed', 0);
  real('lr', (v) => v > 0, 'a finite number > 0');
  real('lambda', (v) => v >= 0, 'a finite number ≥ 0');
  real('weightDecay', (v) => v >= 0, 'a finite number ≥ 0');
  real('maxGradNorm', (v) => v > 0, 'a finite number > 0');
  real('klBeta', (v) => v >= 0, 'a finite number ≥ 0');
  real('clip', (v) => v > 0 && v < 1, 'in (0, 1)');
  real('temperature', (v) => v >= 0, 'a finite number ≥ 0');
  const credit = c.turnCredit ?? {};
  if (credit.gamma !== undefined && !(Number.isFinite(credit.gamma) && credit.gamma >= 0 && credit.gamma <= 1)) throw new IgSearchError('INVALID_ARGUMENT', `trainer: turnCredit.gamma must be in [0, 1], got ${String(credit.gamma)}`);
  for (const name of ['omega', 'alpha'] as const) {
    const v = credit[name];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new IgSearchError('INVALID_ARGUMENT', `trainer: turnCredit.${name} must be a finite number ≥ 0, got ${String(v)}`);
  }
  if (c.lossAggregation !== 'token-mean' && c.lossAggregation !== 'seq-mean-token-mean') throw new IgSearchError('INVALID_ARGUMENT', `trainer: lossAggregation must be "token-mean" or "seq-mean-token-mean", got ${String(c.lossAggregation)}`);
}

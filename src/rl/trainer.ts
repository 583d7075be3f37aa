/**
 * The IG-Search / GRPO training step (DESIGN.md, "The method"): rollouts with the Search-R1 tool loop
 * → EM rewards (Wasm) → GRPO advantages → for ig-search, information-gain scoring of every search step
 * (retrieved vs random documents, prefix-shared, one batched call) and its shaping → per-token
 * advantages with λ·IG̃ on query tokens → policy loss, backward (micro-batches that fit one chunk),
 * AdamW. Each step reports its metrics and where the time went.
 */
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { AdamW } from '../kernels/adamw/adamw.js';
import { policyLoss } from '../kernels/policy_loss/policy_loss.js';
import { microBatches, qwen2Gradients, type Gradients } from '../model/backward.js';
import type { LoraAdapters } from '../model/lora.js';
import type { Qwen2Model } from '../model/qwen2.js';
import type { Bm25Index } from '../retrieval/bm25.js';
import { passageTitle } from '../retrieval/corpus.js';
import { Bm25Retriever, formatInformation, type RetrievedDocument, type Retriever } from '../retrieval/retriever.js';
import { rolloutSearchAgent, searchR1Prompt, type SearchAgentOptions, type SearchTrajectory } from '../rollout/search_r1.js';
import { promptText } from '../rollout/template.js';
import { scoreInformationGain, type IgStep } from '../scoring/ig.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { WasmCore } from '../wasm/core.js';
import { readCheckpointState, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { grpoAdvantages, informationGain, modulateQueryAdvantages, type IgShapingOptions } from './advantage.js';
import { computeRewards } from './reward.js';

export interface TrainerConfig {
  algo: 'grpo' | 'ig-search';
  /** Rollouts per question (G). */
  groupSize?: number;
  /** λ on the shaped IG of query tokens. */
  lambda?: number;
  igShaping?: IgShapingOptions;
  lr?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  klBeta?: number;
  clip?: number;
  maxTurns?: number;
  maxTokens?: number;
  docsPerSearch?: number;
  temperature?: number;
  seed?: number;
  stopTokens?: readonly number[];
  /** Most rows per backward micro-batch (default 512, the chunk limit). */
  microBatchRows?: number;
  /** Scripted policy tokens (tests, warm-start data): see SearchAgentOptions.script. */
  script?: SearchAgentOptions['script'];
  /**
   * KL reference policy for full fine-tuning (a second, frozen copy of the starting weights). Under
   * LoRA the frozen base is the reference; without either the KL term is off.
   */
  reference?: Qwen2Model;
  /** Where rollouts search (default: BM25 over the trainer's corpus index). */
  retriever?: Retriever;
}

export interface TrainQuestion {
  question: string;
  golden_answers: readonly string[];
  /** Reasoning hops (1–3), when known: metrics split by it. */
  hops?: number;
}

export interface StepMetrics {
  step: number;
  algo: 'grpo' | 'ig-search';
  /** Mean reward, and each rollout's (questions × G, group by group). */
  reward: number;
  rewards: number[];
  loss: number;
  gradNorm: number;
  skipped: boolean;
  searchesPerRollout: number;
  /** Groups in which every rollout got reward 0, and the gradient norm of their part of the loss (0 when none). */
  allFailGroups: number;
  allFailGradNorm: number;
  /** Rollouts whose retrieval failed: marked, kept out of the loss, the run goes on. */
  retrievalFailures: number;
  /** Raw IG of every scored search step (nats/token). */
  ig: number[];
  /** Mean |advantage| on query tokens and on all policy tokens. */
  queryAdvantage: number;
  tokens: number;
  /** Milliseconds per phase. */
  timing: { rollout: number; reward: number; ig: number; update: number };
  trajectories: SearchTrajectory[];
}

type Optional = 'script' | 'stopTokens' | 'igShaping' | 'retriever' | 'reference';

export class IgSearchTrainer {
  private optimizer: AdamW | undefined;
  private gradients: Gradients | undefined;
  private stepCount = 0;
  /** Optimizer moments read from a checkpoint, imported when the optimizer is created. */
  private restoredMoments: Awaited<ReturnType<typeof readCheckpointState>>['optimizer'];
  readonly config: Required<Omit<TrainerConfig, Optional>> & Pick<TrainerConfig, Optional>;

  constructor(
    readonly gpu: Gpu,
    readonly core: WasmCore,
    readonly model: Qwen2Model,
    readonly tokenizer: Tokenizer,
    /** The corpus: BM25 retrieval unless `config.retriever` is given, and IG's random documents. */
    readonly index: Bm25Index | undefined,
    config: TrainerConfig,
    readonly lora?: LoraAdapters,
  ) {
    if (config.algo !== 'grpo' && config.algo !== 'ig-search') throw new IgSearchError('INVALID_ARGUMENT', `algo must be "grpo" or "ig-search", got ${String(config.algo)}`);
    this.config = {
      groupSize: 4,
      lambda: 1,
      lr: 1e-5,
      weightDecay: 0,
      maxGradNorm: 1,
      klBeta: 0.001,
      clip: 0.2,
      maxTurns: 2,
      maxTokens: 128,
      docsPerSearch: 2,
      temperature: 1,
      seed: 0,
      microBatchRows: 512,
      ...config,
    };
    if (!index && (config.algo === 'ig-search' || !config.retriever)) {
      throw new IgSearchError('INVALID_ARGUMENT', `trainer: ${config.algo === 'ig-search' ? 'ig-search draws its counterfactual documents from a corpus' : 'no retriever'}: give a corpus index`);
    }
    if (lora) model.lora = lora;
  }

  /** Steps taken so far (restored from a checkpoint by `restore`). */
  get steps(): number {
    return this.stepCount;
  }

  /** Writes a checkpoint of the policy and optimizer under `root` (see saveCheckpoint); returns its directory. */
  async save(root: string, extra: Record<string, unknown> = {}, files?: Record<string, string | Uint8Array>): Promise<string> {
    const { script: _script, retriever: _retriever, reference: _reference, ...config } = this.config;
    return saveCheckpoint(root, this.model, this.optimizer, { ...extra, step: this.stepCount, config }, { files });
  }

  /**
   * Continues from a checkpoint directory: the step count and AdamW moments (the weights are loaded
   * with the model — `Qwen2Model.load(dir)` or `LoraAdapters.load`). Seeds depend only on the step,
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

  private prompt(question: string): number[] {
    return Array.from(this.tokenizer.encode(promptText(this.tokenizer, searchR1Prompt(question)), { addSpecialTokens: false }));
  }

  async step(questions: readonly TrainQuestion[]): Promise<StepMetrics> {
    if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'trainer: no questions in this step');
    const c = this.config;
    const G = c.groupSize;
    const step = this.stepCount + 1; // counted once the update has been applied
    const time = () => performance.now();

    // 1. Rollouts: G per question, prompts prefilled once per question.
    let t0 = time();
    const prompts = questions.flatMap((q) => Array.from({ length: G }, () => this.prompt(q.question)));
    const golds = questions.flatMap((q) => Array.from({ length: G }, () => q.golden_answers));
    const trajectories = await rolloutSearchAgent(this.model, prompts, {
      tokenizer: this.tokenizer,
      retriever: c.retriever ?? new Bm25Retriever(this.index!),
      docsPerSearch: c.docsPerSearch,
      maxTurns: c.maxTurns,
      maxTokens: c.maxTokens,
      temperature: c.temperature,
      seed: c.seed * 1_000_003 + step,
      stopTokens: c.stopTokens,
      script: c.script,
    });
    const rollout = time() - t0;

    // 2. Rewards and GRPO advantages.
    t0 = time();
    const rewards = computeRewards(this.core, trajectories.map((t) => t.text), golds);
    const rolloutAdvantages = grpoAdvantages(this.core, rewards, questions.map(() => G));
    const reward = time() - t0;

    // 3. Information gain of every search step (ig-search only).
    t0 = time();
    const queries = { rollout: [] as number[], start: [] as number[], end: [] as number[], ig: [] as number[] };
    let rawIg: number[] = [];
    if (c.algo === 'ig-search') {
      const steps: IgStep[] = [];
      const stepsPerGroup: number[] = [];
      const owners: { rollout: number; span: [number, number] }[] = [];
      const answerPrefix = Array.from(this.tokenizer.encode('<answer>', { addSpecialTokens: false }));
      let sample = 0;
      questions.forEach((q, g) => {
        let count = 0;
        const answers = q.golden_answers.map((a) => Array.from(this.tokenizer.encode(` ${a}`, { addSpecialTokens: false })));
        for (let i = g * G; i < (g + 1) * G; i++) {
          const t = trajectories[i]!;
          for (const s of t.searches) {
            const exclude = s.documents.map((d) => d.doc).filter((d): d is number => d !== undefined);
            const index = this.index!;
            const random = index.sampleRandom(s.documents.length || c.docsPerSearch, { seed: (c.seed * 7919 + step * 104729 + sample++) >>> 0, excludeAnswers: [...q.golden_answers], excludeDocs: exclude });
            const randomDocs: RetrievedDocument[] = index.documents(random).map((p, j) => {
              const newline = p.contents.indexOf('\n');
              return { id: p.id, title: passageTitle(p.contents), text: newline < 0 ? '' : p.contents.slice(newline + 1).trim(), score: 0, doc: random[j] };
            });
            steps.push({
              prefix: [...prompts[i]!, ...t.tokens.subarray(0, s.information[0])],
              real: [...t.tokens.subarray(s.information[0], s.information[1]), ...answerPrefix],
              random: [...this.tokenizer.encode(formatInformation(randomDocs), { addSpecialTokens: false }), ...answerPrefix],
              answers,
            });
            owners.push({ rollout: i, span: s.span });
            count++;
          }
        }
        stepsPerGroup.push(count);
      });
      if (steps.length) {
        const scores = await scoreInformationGain(this.model, steps);
        const { raw, shaped } = informationGain(this.core, scores.map((s) => s.real), scores.map((s) => s.random), stepsPerGroup, c.igShaping);
        rawIg = Array.from(raw);
        owners.forEach((o, k) => {
          queries.rollout.push(o.rollout);
          queries.start.push(o.span[0]);
          queries.end.push(o.span[1]);
          queries.ig.push(shaped[k]!);
        });
      }
    }
    const ig = time() - t0;

    // 4. Per-token advantages, loss, backward, AdamW.
    t0 = time();
    const retrieved = { rollout: [] as number[], start: [] as number[], end: [] as number[] };
    trajectories.forEach((t, i) => {
      for (let j = 0; j < t.policyMask.length; ) {
        if (t.policyMask[j]) {
          j++;
          continue;
        }
        const start = j;
        while (j < t.policyMask.length && !t.policyMask[j]) j++;
        retrieved.rollout.push(i);
        retrieved.start.push(start);
        retrieved.end.push(j);
      }
    });
    const { advantages, lossMask } = modulateQueryAdvantages(this.core, {
      tokenCounts: trajectories.map((t) => t.tokens.length),
      rolloutAdvantages,
      queries,
      retrieved,
      lambda: c.lambda,
    });
    // A rollout whose retrieval failed is not the policy's doing: it stays out of the loss.
    const offsets = [0];
    for (const t of trajectories) offsets.push(offsets[offsets.length - 1]! + t.tokens.length);
    let retrievalFailures = 0;
    trajectories.forEach((t, i) => {
      if (t.finish !== 'retrieval_failed') return;
      retrievalFailures++;
      lossMask.fill(0, offsets[i], offsets[i + 1]);
    });
    const sequences = trajectories.map((t, i) => [...prompts[i]!, ...t.tokens]);
    // Trajectory token j of rollout i is predicted at log-prob index P_i + j − 1.
    const take = (lp: Float32Array[], i: number) => lp[i]!.subarray(prompts[i]!.length - 1);
    const flat = (parts: ArrayLike<number>[]) => {
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) (out.set(p as Float32Array, at), (at += p.length));
      return out;
    };
    // One update per batch, on-policy: π_old = π_θ, the ratio is 1 and the log-probs enter only
    // through the KL term. With a reference policy (the frozen base under LoRA, or
    // `config.reference`) both are recomputed teacher-forced; without one the KL term is off and
    // the rollout's own log-probs stand in (the gradient comes from the backward's forward).
    let logp: Float32Array;
    let refLogp: Float32Array;
    let klBeta = c.klBeta;
    if (this.lora || c.reference) {
      const current = await this.model.sequenceLogprobs(sequences);
      logp = flat(trajectories.map((_, i) => take(current, i)));
      let reference: Float32Array[];
      if (this.lora) {
        this.model.lora = undefined;
        reference = await this.model.sequenceLogprobs(sequences);
        this.model.lora = this.lora;
      } else {
        reference = await c.reference!.sequenceLogprobs(sequences);
      }
      refLogp = flat(trajectories.map((_, i) => take(reference, i)));
    } else {
      logp = flat(trajectories.map((t) => t.logprobs));
      refLogp = logp;
      klBeta = 0;
    }
    const { loss, grad } = await policyLoss(
      this.gpu,
      { logp, oldLogp: logp, refLogp, advantages, mask: lossMask, sequenceOffsets: offsets },
      { clipLow: c.clip, clipHigh: c.clip, klBeta },
    );
    const upstream = trajectories.map((t, i) => {
      const u = new Float32Array(sequences[i]!.length - 1);
      u.set(grad.subarray(offsets[i]!, offsets[i + 1]!), prompts[i]!.length - 1);
      return u;
    });
    if (this.lora) this.lora.zeroGrad();
    else this.gradients?.zero();
    // All-fail groups go first, so the gradient norm of their share of the loss can be read before
    // the other groups accumulate onto it (GRPO gives them none; IG-Search does, through the queries).
    const failed: number[] = [];
    const rest: number[] = [];
    questions.forEach((_, g) => {
      const group = Array.from({ length: G }, (_, j) => g * G + j);
      (group.every((i) => rewards[i] === 0) ? failed : rest).push(...group);
    });
    let allFailGradNorm = 0;
    for (const part of [failed, rest]) {
      // Micro-batches of at most `microBatchRows` rows, accumulated.
      for (const [from, to] of microBatches(part.map((i) => sequences[i]!.length), c.microBatchRows)) {
        const rows = part.slice(from, to);
        const grads = await qwen2Gradients(this.model, rows.map((i) => sequences[i]!), rows.map((i) => upstream[i]!), this.lora ? { lora: this.lora } : { accumulate: this.gradients });
        if (this.lora) grads.free();
        else this.gradients = grads;
        if (!this.optimizer) {
          this.optimizer = await AdamW.create(this.gpu, this.lora ? this.lora.trainables() : grads.trainables, { lr: c.lr, weightDecay: c.weightDecay, maxGradNorm: c.maxGradNorm });
          if (this.restoredMoments) this.optimizer.importState(this.restoredMoments);
          this.restoredMoments = undefined;
        }
      }
      if (part === failed && failed.length) allFailGradNorm = await this.optimizer!.gradNorm();
    }
    const report = await this.optimizer!.step();
    this.stepCount = step;
    const update = time() - t0;

    let queryAbs = 0;
    let queryTokens = 0;
    queries.rollout.forEach((r, k) => {
      for (let j = queries.start[k]!; j < queries.end[k]!; j++) {
        queryAbs += Math.abs(advantages[offsets[r]! + j]!);
        queryTokens++;
      }
    });
    return {
      step,
      algo: c.algo,
      reward: rewards.reduce((a, b) => a + b, 0) / rewards.length,
      rewards: Array.from(rewards),
      loss,
      gradNorm: report.gradNorm,
      skipped: report.skipped,
      searchesPerRollout: trajectories.reduce((n, t) => n + t.searches.length, 0) / trajectories.length,
      allFailGroups: failed.length / G,
      allFailGradNorm,
      retrievalFailures,
      ig: rawIg,
      queryAdvantage: queryTokens ? queryAbs / queryTokens : 0,
      tokens: offsets[offsets.length - 1]!,
      timing: { rollout, reward, ig, update },
      trajectories,
    };
  }

  free(): void {
    this.optimizer?.free();
    this.gradients?.free();
  }
}

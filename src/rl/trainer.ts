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
import { Bm25Retriever, formatInformation, type RetrievedDocument } from '../retrieval/retriever.js';
import { rolloutSearchAgent, searchR1Prompt, type SearchAgentOptions, type SearchTrajectory } from '../rollout/search_r1.js';
import { promptText } from '../rollout/template.js';
import { scoreInformationGain, type IgStep } from '../scoring/ig.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { WasmCore } from '../wasm/core.js';
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
}

export interface TrainQuestion {
  question: string;
  golden_answers: readonly string[];
}

export interface StepMetrics {
  step: number;
  algo: 'grpo' | 'ig-search';
  reward: number;
  loss: number;
  gradNorm: number;
  skipped: boolean;
  searchesPerRollout: number;
  /** Raw IG of every scored search step (nats/token). */
  ig: number[];
  /** Mean |advantage| on query tokens and on all policy tokens. */
  queryAdvantage: number;
  tokens: number;
  /** Milliseconds per phase. */
  timing: { rollout: number; reward: number; ig: number; update: number };
  trajectories: SearchTrajectory[];
}

export class IgSearchTrainer {
  private optimizer: AdamW | undefined;
  private gradients: Gradients | undefined;
  private stepCount = 0;
  readonly config: Required<Omit<TrainerConfig, 'script' | 'stopTokens' | 'igShaping'>> & Pick<TrainerConfig, 'script' | 'stopTokens' | 'igShaping'>;

  constructor(
    readonly gpu: Gpu,
    readonly core: WasmCore,
    readonly model: Qwen2Model,
    readonly tokenizer: Tokenizer,
    readonly index: Bm25Index,
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
    if (lora) model.lora = lora;
  }

  private prompt(question: string): number[] {
    return Array.from(this.tokenizer.encode(promptText(this.tokenizer, searchR1Prompt(question)), { addSpecialTokens: false }));
  }

  async step(questions: readonly TrainQuestion[]): Promise<StepMetrics> {
    if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'trainer: no questions in this step');
    const c = this.config;
    const G = c.groupSize;
    const step = ++this.stepCount;
    const time = () => performance.now();

    // 1. Rollouts: G per question, prompts prefilled once per question.
    let t0 = time();
    const prompts = questions.flatMap((q) => Array.from({ length: G }, () => this.prompt(q.question)));
    const golds = questions.flatMap((q) => Array.from({ length: G }, () => q.golden_answers));
    const trajectories = await rolloutSearchAgent(this.model, prompts, {
      tokenizer: this.tokenizer,
      retriever: new Bm25Retriever(this.index),
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
            const random = this.index.sampleRandom(s.documents.length || c.docsPerSearch, { seed: (c.seed * 7919 + step * 104729 + sample++) >>> 0, excludeAnswers: [...q.golden_answers], excludeDocs: exclude });
            const randomDocs: RetrievedDocument[] = this.index.documents(random).map((p, j) => {
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
    const sequences = trajectories.map((t, i) => [...prompts[i]!, ...t.tokens]);
    const current = await this.model.sequenceLogprobs(sequences);
    let reference = current;
    if (this.lora) {
      this.model.lora = undefined; // the frozen base is the KL reference
      reference = await this.model.sequenceLogprobs(sequences);
      this.model.lora = this.lora;
    }
    // Trajectory token j of rollout i is predicted at log-prob index P_i + j − 1.
    const take = (lp: Float32Array[], i: number) => lp[i]!.subarray(prompts[i]!.length - 1);
    const flat = (parts: ArrayLike<number>[]) => {
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) (out.set(p as Float32Array, at), (at += p.length));
      return out;
    };
    const logp = flat(trajectories.map((_, i) => take(current, i)));
    const offsets = [0];
    for (const t of trajectories) offsets.push(offsets[offsets.length - 1]! + t.tokens.length);
    const { loss, grad } = await policyLoss(
      this.gpu,
      { logp, oldLogp: logp, refLogp: flat(trajectories.map((_, i) => take(reference, i))), advantages, mask: lossMask, sequenceOffsets: offsets },
      { clipLow: c.clip, clipHigh: c.clip, klBeta: c.klBeta },
    );
    const upstream = trajectories.map((t, i) => {
      const u = new Float32Array(sequences[i]!.length - 1);
      u.set(grad.subarray(offsets[i]!, offsets[i + 1]!), prompts[i]!.length - 1);
      return u;
    });
    if (this.lora) this.lora.zeroGrad();
    else this.gradients?.zero();
    // Micro-batches of at most `microBatchRows` rows, accumulated.
    for (const [from, to] of microBatches(sequences.map((x) => x.length), c.microBatchRows)) {
      const grads = await qwen2Gradients(this.model, sequences.slice(from, to), upstream.slice(from, to), this.lora ? { lora: this.lora } : { accumulate: this.gradients });
      if (this.lora) grads.free();
      else this.gradients = grads;
      if (!this.optimizer) this.optimizer = await AdamW.create(this.gpu, this.lora ? this.lora.trainables() : grads.trainables, { lr: c.lr, weightDecay: c.weightDecay, maxGradNorm: c.maxGradNorm });
    }
    const report = await this.optimizer!.step();
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
      loss,
      gradNorm: report.gradNorm,
      skipped: report.skipped,
      searchesPerRollout: trajectories.reduce((n, t) => n + t.searches.length, 0) / trajectories.length,
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

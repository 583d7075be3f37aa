/**
 * Warm start for the demo policy: supervised fine-tuning on scripted search trajectories over the
 * synthetic world, so that a tiny model learns the Search-R1 format (think, search, read, answer)
 * before RL. Trajectories search for the entity of each hop (some with a vaguer query that names
 * only part of it), read the BM25 results and answer right after the last one; the loss is the mean
 * negative log-likelihood of the tokens the policy writes (prompt and retrieved blocks masked out).
 */
import { IgSearchError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { AdamW } from '../kernels/adamw/adamw.js';
import { microBatches, modelGradients, type Gradients } from '../model/backward.js';
import type { CausalLM } from '../model/causal_lm.js';
import type { Bm25Index } from '../retrieval/bm25.js';
import { Bm25Retriever, formatInformation } from '../retrieval/retriever.js';
import { searchR1Prompt } from '../rollout/search_r1.js';
import { hasChatTemplate, promptText } from '../rollout/template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { World, WorldQuestion } from '../world/world.js';

export interface ScriptedExample {
  tokens: number[];
  /** 1 where the policy writes the token (it gets loss). */
  mask: number[];
}

/** The prompt and one scripted trajectory for a question (Search-R1 format, chat template if the vocabulary has it). */
export async function scriptedTrajectory(world: World, index: Bm25Index, tokenizer: Tokenizer, q: WorldQuestion, vague: boolean, docs = 2): Promise<ScriptedExample> {
  const chat = hasChatTemplate(tokenizer);
  const prompt = promptText(tokenizer, searchR1Prompt(q.question));
  const encode = (text: string) => Array.from(tokenizer.encode(text, { addSpecialTokens: false }));
  const tokens: number[] = [];
  const mask: number[] = [];
  const push = (text: string, policy: boolean) => {
    for (const t of encode(text)) {
      tokens.push(t);
      mask.push(policy ? 1 : 0);
    }
  };
  push(prompt, false);
  const retriever = new Bm25Retriever(index);
  const byId = new Map(world.entities.map((e) => [e.id, e]));
  for (const [hop, id] of q.chain.entries()) {
    const name = byId.get(id)!.name;
    const query = vague && hop === 0 ? name.split(' ').slice(-1)[0]! : name;
    push(`<think>I need to find ${hop === 0 ? 'out about' : 'more about'} ${name}.</think>\n<search> ${query} </search>`, true);
    const [found] = await retriever.search([query], docs);
    push(formatInformation(found ?? []), false);
  }
  // The answer follows the last information block directly: the same context IG scoring probes
  // (h + info(D) + "<answer>", then " " + the gold answer), so score(D) measures what the policy would answer from D.
  push(`<answer> ${q.golden_answers[0]} </answer>`, true);
  if (chat) push('<|im_end|>', true);
  return { tokens, mask };
}

export interface SftOptions {
  steps: number;
  /** Examples per optimizer step (default 8). */
  batch?: number;
  lr?: number;
  /** Learning rate over the steps: constant (default), or cosine from `lr` down to `lr / 10`. */
  lrSchedule?: 'constant' | 'cosine';
  /** Fraction of trajectories whose first query is vague (default 0.25). */
  vagueFraction?: number;
  seed?: number;
  /**
   * Worlds of fresh names (each with its own BM25 index) mixed into training, every question of
   * them. A policy that memorised the world's names cannot fit these, so their share of the loss
   * teaches what RL needs: copy the question's entity into the query and read the answer from the
   * documents. Questions naming an entity (or answer) that the world also names are left out, so
   * no fresh fact contradicts one of the world's.
   */
  augment?: { world: World; index: Bm25Index }[];
  /** Share of each batch drawn from `augment` (default 0.5 when it is given). */
  augmentFraction?: number;
  microBatchRows?: number;
  onStep?: (step: number, loss: number) => void;
}

/** Trains `model` (full fine-tune) on scripted trajectories of the world's train questions; returns the loss per step. */
export async function supervisedWarmStart(gpu: Gpu, model: CausalLM, tokenizer: Tokenizer, world: World, index: Bm25Index, options: SftOptions): Promise<number[]> {
  const batch = options.batch ?? 8;
  const microRows = options.microBatchRows ?? 512;
  if (!Number.isInteger(options.steps) || options.steps < 1) throw new IgSearchError('INVALID_ARGUMENT', `sft: steps must be a positive integer, got ${options.steps}`);
  const train = world.questions.filter((q) => q.split === 'train');
  if (train.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'sft: the world has no train questions');
  let s = (options.seed ?? 0) >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const vague = options.vagueFraction ?? 0.25;
  const examples: ScriptedExample[] = [];
  for (const q of train) examples.push(await scriptedTrajectory(world, index, tokenizer, q, rand() < vague));
  const fresh = await freshExamples(world, options.augment ?? [], tokenizer, () => rand() < vague);
  if (options.augment?.length && fresh.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'sft: every question of the augment worlds names an entity of the world; build them with other seeds');
  const freshFraction = fresh.length > 0 ? (options.augmentFraction ?? 0.5) : 0;
  if (!(freshFraction >= 0 && freshFraction <= 1)) throw new IgSearchError('INVALID_ARGUMENT', `sft: augmentFraction must be in [0, 1], got ${options.augmentFraction}`);
  const lr = options.lr ?? 3e-3;
  if (options.lrSchedule !== undefined && options.lrSchedule !== 'constant' && options.lrSchedule !== 'cosine') throw new IgSearchError('INVALID_ARGUMENT', `sft: lrSchedule must be "constant" or "cosine", got ${JSON.stringify(options.lrSchedule)}`);
  const learningRate = (step: number) => (options.lrSchedule === 'cosine' ? lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * step) / Math.max(1, options.steps - 1)))) : lr);
  let grads: Gradients | undefined;
  let optimizer: AdamW | undefined;
  const losses: number[] = [];
  for (let step = 0; step < options.steps; step++) {
    const picked = Array.from({ length: batch }, () => {
      const from = freshFraction > 0 && rand() < freshFraction ? fresh : examples;
      return from[Math.floor(rand() * from.length)]!;
    });
    const count = picked.reduce((n, e) => n + e.mask.slice(1).reduce((a, b) => a + b, 0), 0);
    // d(−mean log p)/d log p = −1/count on every policy token.
    const upstream = picked.map((e) => Float32Array.from(e.mask.slice(1), (m) => (m ? -1 / count : 0)));
    grads?.zero();
    let loss = 0;
    for (const [from, to] of microBatches(picked.map((e) => e.tokens.length), microRows)) {
      grads = await modelGradients(model, picked.slice(from, to).map((e) => e.tokens), upstream.slice(from, to), { accumulate: grads });
      grads.logprobs.forEach((lp, i) => lp.forEach((v, t) => (loss -= picked[from + i]!.mask[t + 1] ? v / count : 0)));
    }
    optimizer ??= await AdamW.create(gpu, grads!.trainables, { lr, weightDecay: 0, maxGradNorm: 1 });
    optimizer.lr = learningRate(step);
    await optimizer.step();
    losses.push(loss);
    options.onStep?.(step + 1, loss);
  }
  optimizer?.free();
  grads?.free();
  return losses;
}

/** Scripted trajectories of every question in the fresh worlds whose entities and answers the world does not name. */
export async function freshExamples(world: World, augment: { world: World; index: Bm25Index }[], tokenizer: Tokenizer, vague: () => boolean): Promise<ScriptedExample[]> {
  const names = new Set(world.entities.map((e) => e.name.toLowerCase()));
  const out: ScriptedExample[] = [];
  for (const a of augment) {
    const byId = new Map(a.world.entities.map((e) => [e.id, e.name.toLowerCase()]));
    for (const q of a.world.questions) {
      if (q.chain.some((id) => names.has(byId.get(id)!)) || q.golden_answers.some((x) => names.has(x.toLowerCase()))) continue;
      out.push(await scriptedTrajectory(a.world, a.index, tokenizer, q, vague()));
    }
  }
  return out;
}

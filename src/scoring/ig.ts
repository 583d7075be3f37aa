/**
 * Information-gain scoring (docs/method.md, "Information gain of a search step"): for search step k of rollout i,
 * score(D) = max over gold answers of the mean log π(a_t | h_ik + info(D) + "<answer>", a_<t),
 * and IG_ik = score(D_ik) − score(D̃_ik) for the retrieved documents D and random documents D̃.
 * The trainer encodes the prefix as "<answer>" and each gold answer as " " + answer (the space is
 * the answer's first token, as the policy writes it), so "<answer>" below means those token ids.
 *
 * All steps of a batch go through one `scorePaths` call as paths [h_ik, docs, answer]: each
 * trajectory prefix h_ik is computed once and both document sets (and every gold answer after
 * them) attend to its KV cache; each document block is computed once for all gold answers.
 */
import { IgSearchError } from '../errors.js';
import type { CausalLM, ScoreOptions } from '../model/causal_lm.js';
import { ROW_FIELDS, rowFields } from '../model/rows.js';
import type { RolloutCache } from '../rollout/generate.js';
import type { ScorePath } from './plan.js';

export interface IgStep {
  /** h_ik: the trajectory through its k-th `</search>`, as token ids. */
  prefix: ArrayLike<number>;
  /** Token ids of info(D_ik) + "<answer>" for the retrieved documents. */
  real: ArrayLike<number>;
  /** The same for the counterfactual random documents D̃_ik. */
  random: ArrayLike<number>;
  /** Gold answers as token ids (at least one, none empty). */
  answers: readonly ArrayLike<number>[];
}

export interface IgScore {
  /** score(D): max over golds of the mean per-token log-prob (nats). */
  real: number;
  /** score(D̃). */
  random: number;
  /** real − random. */
  ig: number;
}

export async function scoreInformationGain(model: CausalLM, steps: readonly IgStep[], options: ScoreOptions = {}): Promise<IgScore[]> {
  const paths: ScorePath[] = [];
  const names: string[][] = [];
  steps.forEach((step, i) => {
    if (step.prefix.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `steps[${i}].prefix is empty`);
    if (step.answers.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `steps[${i}].answers is empty: IG needs at least one gold answer`);
    step.answers.forEach((answer, j) => {
      if (answer.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `steps[${i}].answers[${j}] is empty`);
      for (const side of ['real', 'random'] as const) {
        paths.push({ segments: [step.prefix, step[side], answer], scoreLast: answer.length });
        names.push([`steps[${i}].prefix`, `steps[${i}].${side}`, `steps[${i}].answers[${j}]`]);
      }
    });
  });
  const scores = await model.scorePaths(paths, options, (p, s) => names[p]![s]!);
  let at = 0;
  return steps.map((step) => {
    let real = -Infinity;
    let random = -Infinity;
    for (let j = 0; j < step.answers.length; j++) {
      real = Math.max(real, mean(scores[at++]!));
      random = Math.max(random, mean(scores[at++]!));
    }
    return { real, random, ig: real - random };
  });
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** A search step scored from a rollout's KV cache (see `scoreInformationGainFromCache`). */
export interface CachedIgStep {
  /** The rollout it belongs to (a sequence of the RolloutCache). */
  sequence: number;
  /** [start, end) of its `<information>` block among the rollout's trajectory tokens. */
  information: readonly [number, number];
  /**
   * Token ids of info(D̃) + "<answer>" for the counterfactual random documents. Without it only
   * the retrieved branch is scored (`random` and `ig` come back NaN): a probe of the gold answer's
   * probability after the block — or, with `information` [0, 0], after the prompt alone.
   */
  random?: ArrayLike<number>;
  /** Token ids of "<answer>" (what follows the retrieved block before the answer). */
  answerPrefix: ArrayLike<number>;
  /** Gold answers as token ids (at least one, none empty). */
  answers: readonly ArrayLike<number>[];
}

/**
 * IG scoring that continues from the rollout's own KV cache: nothing the rollout computed is
 * recomputed. Each rollout's prompt and trajectory keys/values are copied into one contiguous
 * block of a new cache (a GPU copy, not a forward), so that h_ik and h_ik + D_ik are prefixes of
 * it. Then only new rows go through the model: for the retrieved branch, "<answer>" and the gold
 * answer after the block's end of D_ik; for the counterfactual, the random documents + "<answer>"
 * after the end of h_ik, and the gold answer after them (each prefix shared by every gold answer).
 * Returns the scores in `steps` order, the rows forwarded, and the tokens the rollout did not hold
 * (random documents, answer prefixes, answer probes) — equal to `rows`: nothing is recomputed.
 */
export async function scoreInformationGainFromCache(model: CausalLM, rollout: RolloutCache, steps: readonly CachedIgStep[]): Promise<{ scores: IgScore[]; rows: number; newTokens: number }> {
  if (steps.length === 0) return { scores: [], rows: 0, newTokens: 0 };
  // What scoring has to add: each branch's segment once, each gold answer but its last token (nothing follows it).
  const newTokens = steps.reduce((n, s) => n + s.answerPrefix.length + (s.random?.length ?? 0) + (s.random ? 2 : 1) * s.answers.reduce((m, a) => m + a.length - 1, 0), 0);
  const c = model.config;
  // One block per rollout with steps: its prompt, then its trajectory through its last scored block.
  const blocks = new Map<number, { start: number; length: number }>();
  let blockRows = 0;
  steps.forEach((step, i) => {
    const s = step.sequence;
    const prompt = rollout.prompts[s];
    if (!prompt) throw new IgSearchError('OUT_OF_RANGE', `steps[${i}].sequence ${s} is not a sequence of this rollout (${rollout.prompts.length})`);
    const [start, end] = step.information;
    if (!(start >= 0 && start <= end && end <= rollout.fed[s]!)) throw new IgSearchError('OUT_OF_RANGE', `steps[${i}].information [${start}, ${end}) is not within the ${rollout.fed[s]} cached tokens of sequence ${s}`);
    if (step.answers.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `steps[${i}].answers is empty: IG needs at least one gold answer`);
    if (step.answerPrefix.length === 0 || step.random?.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `steps[${i}]: the answer prefix and the random block need at least one token`);
    step.answers.forEach((a, j) => {
      if (a.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `steps[${i}].answers[${j}] is empty`);
    });
    const length = prompt.length + end;
    const block = blocks.get(s);
    if (block) block.length = Math.max(block.length, length);
    else blocks.set(s, { start: 0, length });
  });
  for (const block of blocks.values()) {
    block.start = blockRows;
    blockRows += block.length;
  }

  // New rows: [segment shared by the gold answers] then one probe per gold answer.
  const info: number[] = [];
  const selections: { row: number; target: number; slot: number }[] = [];
  const slots: { from: number; count: number }[][] = []; // per step: per side (real, random) per gold
  let slotCount = 0;
  const addRow = (token: number, position: number, selfStart: number, context: [number, number], context2?: [number, number]) => {
    const row = info.length / ROW_FIELDS;
    info.push(...rowFields({ token, position, kvSlot: blockRows + row, selfStart, context, context2 }));
    return row;
  };
  const branch = (segment: ArrayLike<number>, context: [number, number], position: number, answers: readonly ArrayLike<number>[]) => {
    const first = info.length / ROW_FIELDS;
    for (let k = 0; k < segment.length; k++) addRow(segment[k]!, position + k, blockRows + first, context);
    const last = first + segment.length - 1;
    return answers.map((answer) => {
      const from = slotCount;
      selections.push({ row: last, target: answer[0]!, slot: slotCount++ });
      const probe = info.length / ROW_FIELDS;
      for (let t = 0; t + 1 < answer.length; t++) {
        const row = addRow(answer[t]!, position + segment.length + t, blockRows + probe, context, [blockRows + first, segment.length]);
        selections.push({ row, target: answer[t + 1]!, slot: slotCount++ });
      }
      return { from, count: answer.length };
    });
  };
  for (const step of steps) {
    const block = blocks.get(step.sequence)!;
    const P = rollout.prompts[step.sequence]!.length;
    const [start, end] = step.information;
    const real = branch(step.answerPrefix, [block.start, P + end], P + end, step.answers);
    const random = step.random ? branch(step.random, [block.start, P + start], P + start, step.answers) : [];
    slots.push([...real, ...random]);
  }

  const rows = info.length / ROW_FIELDS;
  const cache = model.createKvCache(blockRows + rows);
  try {
    const rowBytes = c.numKvHeads * c.headDim * 4;
    const encoder = model.gpu.device.createCommandEncoder({ label: 'ig.copy_rollout_cache' });
    for (const [s, block] of blocks) {
      const prompt = rollout.prompts[s]!;
      const trajectory = block.length - prompt.length;
      rollout.cache.k.forEach((_, l) => {
        for (const kind of ['k', 'v'] as const) {
          encoder.copyBufferToBuffer(rollout.cache[kind][l]!, prompt.start * rowBytes, cache[kind][l]!, block.start * rowBytes, prompt.length * rowBytes);
          if (trajectory > 0) encoder.copyBufferToBuffer(rollout.cache[kind][l]!, rollout.regions[s]! * rowBytes, cache[kind][l]!, (block.start + prompt.length) * rowBytes, trajectory * rowBytes);
        }
      });
    }
    model.gpu.device.queue.submit([encoder.finish()]);
    const sorted = [...selections].sort((a, b) => a.row - b.row);
    const { logprobs } = await model.forwardRows(Uint32Array.from(info), cache, { selections: sorted, adapters: rollout.adapters });
    const bySlot = new Float32Array(slotCount);
    sorted.forEach((sel, i) => (bySlot[sel.slot] = logprobs[i]!));
    const meanOf = ({ from, count }: { from: number; count: number }) => {
      let sum = 0;
      for (let k = from; k < from + count; k++) sum += bySlot[k]!;
      return sum / count;
    };
    const scores = steps.map((step, i) => {
      const golds = step.answers.length;
      const real = Math.max(...slots[i]!.slice(0, golds).map(meanOf));
      const random = step.random ? Math.max(...slots[i]!.slice(golds).map(meanOf)) : Number.NaN;
      return { real, random, ig: real - random };
    });
    return { scores, rows, newTokens };
  } finally {
    cache.free();
  }
}

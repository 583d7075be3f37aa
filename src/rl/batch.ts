/**
 * The packed batch of one RL step, built once after the rollout and read by every later phase
 * (rewards and information gain, advantages, the update). Rollouts are laid out group after
 * group (questions × G). Per rollout: its prompt, its trajectory, and their concatenation — the
 * sequence the update trains on. Per trajectory token, flat arrays hold rollouts back to back
 * (`offsets`); the spans say where each search query and each retrieved block lies.
 */
import type { SearchTrajectory } from '../rollout/search_r1.js';
import type { Question } from '../retrieval/corpus.js';
import type { SpanArrays } from './advantage.js';

/** @deprecated the same type as `Question` (retrieval/corpus.ts). */
export type TrainQuestion = Question;

/** Token spans relative to their rollout's first trajectory token (`SpanArrays`, grown while packing). */
type Spans = SpanArrays<number[]>;

export interface Batch {
  readonly questions: readonly TrainQuestion[];
  readonly groupSize: number;
  readonly prompts: readonly Uint32Array[];
  readonly trajectories: readonly SearchTrajectory[];
  /** Prompt + trajectory of each rollout. */
  readonly sequences: readonly Uint32Array[];
  readonly golds: readonly (readonly string[])[];
  /** Where each rollout's trajectory tokens start in the flat per-token arrays (rollouts + 1 entries). */
  readonly offsets: readonly number[];
  /** Every search query, relative to its rollout's first trajectory token. */
  readonly queries: Spans;
  /** Appended blocks (retrieved documents, notes): no advantage, no loss. */
  readonly retrieved: Spans;
  /**
   * Turns: turn k < S of a rollout with S searches runs from the end of search k−1's information
   * block (or 0) to the start of search k's; the last, when it holds policy tokens, from the end of
   * the last block to the end. Laid out rollout after rollout; `turnCounts[i]` per rollout.
   */
  readonly turns: Spans;
  readonly turnCounts: readonly number[];
  /** Rollouts whose retrieval failed: not the policy's doing, kept out of the loss. */
  readonly retrievalFailed: readonly boolean[];
}

export function packBatch(questions: readonly TrainQuestion[], groupSize: number, prompts: readonly Uint32Array[], trajectories: readonly SearchTrajectory[]): Batch {
  const offsets = [0];
  const queries: Spans = { rollout: [], start: [], end: [] };
  const retrieved: Spans = { rollout: [], start: [], end: [] };
  const turns: Spans = { rollout: [], start: [], end: [] };
  const turnCounts: number[] = [];
  trajectories.forEach((t, i) => {
    const before = turns.rollout.length;
    let from = 0;
    const turn = (end: number) => {
      turns.rollout.push(i);
      turns.start.push(from);
      turns.end.push(end);
    };
    for (const s of t.searches) {
      turn(s.information[0]);
      from = s.information[1];
    }
    if (t.policyMask.subarray(from).some((m) => m === 1)) turn(t.tokens.length);
    turnCounts.push(turns.rollout.length - before);
    offsets.push(offsets[i]! + t.tokens.length);
    for (const s of t.searches) {
      queries.rollout.push(i);
      queries.start.push(s.span[0]);
      queries.end.push(s.span[1]);
    }
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
  const sequences = trajectories.map((t, i) => {
    const s = new Uint32Array(prompts[i]!.length + t.tokens.length);
    s.set(prompts[i]!);
    s.set(t.tokens, prompts[i]!.length);
    return s;
  });
  return {
    questions,
    groupSize,
    prompts,
    trajectories,
    sequences,
    golds: questions.flatMap((q) => Array.from({ length: groupSize }, () => q.golden_answers)),
    offsets,
    queries,
    retrieved,
    turns,
    turnCounts,
    retrievalFailed: trajectories.map((t) => t.finish === 'retrieval_failed'),
  };
}

/** Trajectory tokens of the whole batch. */
export function batchTokens(batch: Batch): number {
  return batch.offsets[batch.offsets.length - 1]!;
}

/**
 * A flat per-trajectory-token array laid out per sequence by prediction: entry P + j − 1 of rollout
 * i (P its prompt length) is the value of trajectory token j, the token that entry predicts; the
 * entries predicting prompt tokens are 0. This is the layout of the training pass's log-prob rows.
 */
export function byPrediction(batch: Batch, flat: ArrayLike<number>): Float32Array[] {
  return batch.sequences.map((s, i) => {
    const out = new Float32Array(s.length - 1);
    const P = batch.prompts[i]!.length;
    for (let j = 0, at = batch.offsets[i]!; at < batch.offsets[i + 1]!; j++, at++) out[P + j - 1] = flat[at]!;
    return out;
  });
}

/**
 * Spans that give each turn's policy tokens its value: turn t's extent minus the appended blocks
 * inside it (an empty-search note), each with the turn's value, for `spanAdvantages`.
 */
export function turnValueSpans(batch: Batch, values: ArrayLike<number>): Spans & { value: number[] } {
  const out: Spans & { value: number[] } = { rollout: [], start: [], end: [], value: [] };
  const { turns } = batch;
  for (let k = 0; k < turns.rollout.length; k++) {
    const mask = batch.trajectories[turns.rollout[k]!]!.policyMask;
    for (let j = turns.start[k]!; j < turns.end[k]!; ) {
      if (!mask[j]) {
        j++;
        continue;
      }
      const start = j;
      while (j < turns.end[k]! && mask[j]) j++;
      out.rollout.push(turns.rollout[k]!);
      out.start.push(start);
      out.end.push(j);
      out.value.push(values[k]!);
    }
  }
  return out;
}

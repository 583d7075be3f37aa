/**
 * Information-gain scoring (DESIGN.md, "The method"): for search step k of rollout i,
 * score(D) = max over gold answers of the mean log π(a_t | h_ik + info(D) + "<answer> ", a_<t),
 * and IG_ik = score(D_ik) − score(D̃_ik) for the retrieved documents D and random documents D̃.
 *
 * All steps of a batch go through one `scorePaths` call as paths [h_ik, docs, answer]: each
 * trajectory prefix h_ik is computed once and both document sets (and every gold answer after
 * them) attend to its KV cache; each document block is computed once for all gold answers.
 */
import { IgSearchError } from '../errors.js';
import type { Qwen2Model, ScoreOptions } from '../model/qwen2.js';
import type { ScorePath } from './plan.js';

export interface IgStep {
  /** h_ik: the trajectory through its k-th `</search>`, as token ids. */
  prefix: ArrayLike<number>;
  /** Token ids of info(D_ik) + "<answer> " for the retrieved documents. */
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

export async function scoreInformationGain(model: Qwen2Model, steps: readonly IgStep[], options: ScoreOptions = {}): Promise<IgScore[]> {
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

/**
 * Paired bootstrap intervals for differences in exact match between two algorithms that were
 * evaluated on the same test questions after training with the same seeds.
 *
 * The data are `diffs[s][q]` = correct_A − correct_B for seed s and question q. A replicate draws
 * seeds with replacement and, independently, questions with replacement (the same draw for every
 * seed, so each question stays paired across algorithms and seeds), and takes the mean of the
 * drawn cells. The interval is the percentile interval of the replicates; the point estimate is
 * the plain mean (the difference of the mean EMs over seeds).
 */
import { IgSearchError } from '../errors.js';
import { seededRandom } from '../util/random.js';

export interface Interval {
  /** Mean difference (A − B), averaged over seeds and questions. */
  mean: number;
  low: number;
  high: number;
  /** Seeds and questions it was computed from. */
  seeds: number;
  questions: number;
}

export interface BootstrapOptions {
  /** Replicates (default 10,000). */
  replicates?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
  /** Seed of the resampling (default 1): the same data give the same interval. */
  seed?: number;
}

/** The paired-bootstrap interval of mean(diffs) over the questions in `subset` (default: all). */
export function pairedBootstrap(diffs: readonly (readonly number[])[], subset?: readonly number[], options: BootstrapOptions = {}): Interval {
  const replicates = options.replicates ?? 10_000;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(replicates) || replicates < 1) throw new IgSearchError('INVALID_ARGUMENT', `bootstrap: replicates must be a positive integer, got ${replicates}`);
  if (!(level > 0 && level < 1)) throw new IgSearchError('INVALID_ARGUMENT', `bootstrap: level must be in (0, 1), got ${level}`);
  const S = diffs.length;
  const width = diffs[0]?.length ?? 0;
  if (diffs.some((row) => row.length !== width)) throw new IgSearchError('INVALID_ARGUMENT', 'bootstrap: every seed needs a value for every question');
  const questions = subset ?? Array.from({ length: width }, (_, q) => q);
  const Q = questions.length;
  if (S === 0 || Q === 0) return { mean: Number.NaN, low: Number.NaN, high: Number.NaN, seeds: S, questions: Q };
  let total = 0;
  for (const row of diffs) for (const q of questions) total += row[q]!;
  const mean = total / (S * Q);
  const random = seededRandom(options.seed ?? 1);
  const stats = new Float64Array(replicates);
  const seeds = new Int32Array(S);
  for (let r = 0; r < replicates; r++) {
    for (let i = 0; i < S; i++) seeds[i] = Math.floor(random() * S);
    let sum = 0;
    for (let j = 0; j < Q; j++) {
      const q = questions[Math.floor(random() * Q)]!;
      for (let i = 0; i < S; i++) sum += diffs[seeds[i]!]![q]!;
    }
    stats[r] = sum / (S * Q);
  }
  stats.sort();
  const at = (p: number) => stats[Math.min(replicates - 1, Math.max(0, Math.floor(p * replicates)))]!;
  return { mean, low: at((1 - level) / 2), high: at(1 - (1 - level) / 2), seeds: S, questions: Q };
}

/** Indices of the single-hop (hops 1) and multi-hop (hops ≥ 2) questions; unknown hops (0 or absent) are in neither. */
export function hopSubsets(hops: readonly (number | undefined)[]): { single: number[]; multi: number[] } {
  return { single: hops.flatMap((h, i) => (h === 1 ? [i] : [])), multi: hops.flatMap((h, i) => (h !== undefined && h > 1 ? [i] : [])) };
}

/** `a − b` cell by cell: per seed, per question. */
export function differences(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number[][] {
  if (a.length !== b.length) throw new IgSearchError('INVALID_ARGUMENT', `paired differences: ${a.length} seeds against ${b.length}`);
  return a.map((row, s) => {
    if (row.length !== b[s]!.length) throw new IgSearchError('INVALID_ARGUMENT', `paired differences: seed ${s} has ${row.length} questions against ${b[s]!.length}`);
    return row.map((v, q) => v - b[s]![q]!);
  });
}

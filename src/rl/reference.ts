/**
 * Plain f64 TypeScript references for everything in rust/src/advantage/: the obvious code, used
 * by the tests as the oracle and by bench/advantage.ts as the "plain TypeScript" contender.
 */

type Numbers = ArrayLike<number>;

/** Python's `str.split()` separators (Unicode White_Space + U+001C..U+001F), not JS `\s`. */
const PY_SPACE = /[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const PY_SPACE_EDGES = /^[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;
const ASCII_PUNCT = /[!-/:-@[-`{-~]/g;
const ARTICLE = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

export function normalizeAnswerRef(text: string): string {
  const lower = text.toLowerCase().replace(ASCII_PUNCT, '');
  return lower
    .replace(ARTICLE, ' ')
    .split(PY_SPACE)
    .filter((t) => t !== '')
    .join(' ');
}

export function extractAnswerRef(response: string): string | undefined {
  const open = response.lastIndexOf('<answer>');
  if (open < 0) return undefined;
  const close = response.indexOf('</answer>', open + 8);
  if (close < 0) return undefined;
  // Python's str.strip(), not JS trim(): U+FEFF is not whitespace there, U+001C..U+001F are.
  return response.slice(open + 8, close).replace(PY_SPACE_EDGES, '');
}

export function exactMatchRef(prediction: string, golds: readonly string[]): number {
  const p = normalizeAnswerRef(prediction);
  return golds.some((g) => normalizeAnswerRef(g) === p) ? 1 : 0;
}

export function f1Ref(prediction: string, golds: readonly string[]): number {
  const tokens = (s: string) => normalizeAnswerRef(s).split(' ').filter((t) => t !== '');
  const p = tokens(prediction);
  let best = 0;
  for (const gold of golds) {
    const g = tokens(gold);
    let score: number;
    if (p.length === 0 || g.length === 0) {
      score = p.length === 0 && g.length === 0 ? 1 : 0;
    } else {
      const counts = new Map<string, number>();
      for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
      let common = 0;
      for (const t of p) {
        const c = counts.get(t) ?? 0;
        if (c > 0) {
          common++;
          counts.set(t, c - 1);
        }
      }
      score = common === 0 ? 0 : (2 * (common / p.length) * (common / g.length)) / (common / p.length + common / g.length);
    }
    best = Math.max(best, score);
  }
  return best;
}

export function grpoRef(rewards: Numbers, groupSizes: Numbers, norm: 'std' | 'none' = 'std', epsilon = 1e-6): Float64Array {
  const out = new Float64Array(rewards.length);
  let start = 0;
  for (let g = 0; g < groupSizes.length; g++) {
    const size = groupSizes[g]!;
    const values = Array.from({ length: size }, (_, i) => rewards[start + i]!);
    let mean = 0;
    let std = 1;
    if (size > 1) {
      mean = values.reduce((a, b) => a + b, 0) / size;
      std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (size - 1));
    }
    for (let i = 0; i < size; i++) out[start + i] = norm === 'std' ? (values[i]! - mean) / (std + epsilon) : values[i]! - mean;
    start += size;
  }
  return out;
}

export interface IgShapingRef {
  deadZone: number;
  negativeScale: number;
  clip: number;
  normalize: 'none' | 'group-z';
  epsilon: number;
}

export function informationGainRef(real: Numbers, counterfactual: Numbers, stepsPerGroup: Numbers, o: IgShapingRef): { raw: Float64Array; shaped: Float64Array } {
  const raw = Float64Array.from({ length: real.length }, (_, i) => real[i]! - counterfactual[i]!);
  const base = o.normalize === 'group-z' ? grpoRef(raw, stepsPerGroup, 'std', o.epsilon) : raw;
  const shaped = base.map((v) => {
    if (Math.abs(v) < o.deadZone) return 0;
    const scaled = v < 0 ? v * o.negativeScale : v;
    return Math.min(o.clip, Math.max(-o.clip, scaled));
  });
  return { raw, shaped };
}

export interface ModulationRef {
  tokenCounts: Numbers;
  rolloutAdvantages: Numbers;
  queries: { rollout: Numbers; start: Numbers; end: Numbers; ig: Numbers };
  retrieved: { rollout: Numbers; start: Numbers; end: Numbers };
  lambda: number;
  mode: 'additive' | 'multiplicative';
}

export function modulateRef(input: ModulationRef): { advantages: Float64Array; lossMask: Float64Array } {
  const first: number[] = [];
  let total = 0;
  for (let r = 0; r < input.tokenCounts.length; r++) {
    first.push(total);
    total += input.tokenCounts[r]!;
  }
  const advantages = new Float64Array(total);
  const lossMask = new Float64Array(total).fill(1);
  for (let r = 0; r < input.tokenCounts.length; r++) {
    for (let t = 0; t < input.tokenCounts[r]!; t++) advantages[first[r]! + t] = input.rolloutAdvantages[r]!;
  }
  const { queries, retrieved } = input;
  for (let i = 0; i < queries.rollout.length; i++) {
    const r = queries.rollout[i]!;
    const a = input.rolloutAdvantages[r]!;
    const v = input.mode === 'additive' ? a + input.lambda * queries.ig[i]! : a * (1 + input.lambda * queries.ig[i]!);
    for (let t = queries.start[i]!; t < queries.end[i]!; t++) advantages[first[r]! + t] = v;
  }
  for (let i = 0; i < retrieved.rollout.length; i++) {
    const r = retrieved.rollout[i]!;
    for (let t = retrieved.start[i]!; t < retrieved.end[i]!; t++) {
      advantages[first[r]! + t] = 0;
      lossMask[first[r]! + t] = 0;
    }
  }
  return { advantages, lossMask };
}

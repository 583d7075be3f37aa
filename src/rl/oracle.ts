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

/** Per rollout: its group and the indices of its turns in the flat turn arrays. */
function turnsOf(groupSizes: Numbers, turns: Numbers): { group: number; rollout: number; turns: number[] }[] {
  const out: { group: number; rollout: number; turns: number[] }[] = [];
  let t = 0;
  for (let g = 0, i = 0; g < groupSizes.length; g++) {
    for (let j = 0; j < groupSizes[g]!; j++, i++) {
      out.push({ group: g, rollout: i, turns: Array.from({ length: turns[i]! }, () => t++) });
    }
  }
  return out;
}

function zscore(values: number[], epsilon: number, population = false): number[] {
  if (values.length < 2) return population ? values.map(() => 0) : values.map((v) => v / (1 + epsilon));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (population ? values.length : values.length - 1);
  const std = population ? Math.sqrt(variance + 1e-8) : Math.sqrt(variance);
  return values.map((v) => (v - mean) / (std + epsilon));
}

export function gigpoRef(outcome: Numbers, groupSizes: Numbers, turns: Numbers, anchors: Numbers, gamma: number, omega: number, epsilon = 1e-6): Float64Array {
  const episode = grpoRef(outcome, groupSizes, 'std', epsilon);
  const rollouts = turnsOf(groupSizes, turns);
  const out = new Float64Array(anchors.length);
  const buckets = new Map<string, { turn: number; value: number }[]>();
  for (const r of rollouts) {
    r.turns.forEach((t, k) => {
      const key = `${r.group}/${anchors[t]}`;
      if (!buckets.has(key)) buckets.set(key, []);
      buckets.get(key)!.push({ turn: t, value: gamma ** (r.turns.length - 1 - k) * outcome[r.rollout]! });
    });
  }
  const step = new Float64Array(anchors.length);
  for (const members of buckets.values()) {
    const z = zscore(members.map((m) => m.value), epsilon);
    members.forEach((m, i) => (step[m.turn] = z[i]!));
  }
  for (const r of rollouts) for (const t of r.turns) out[t] = episode[r.rollout]! + omega * step[t]!;
  return out;
}

function discounted(rollouts: { turns: number[] }[], rewards: ArrayLike<number>, gamma: number): Float64Array {
  const out = new Float64Array(rewards.length);
  for (const r of rollouts) {
    for (let k = 0; k < r.turns.length; k++) {
      let sum = 0;
      for (let j = k; j < r.turns.length; j++) sum += gamma ** (j - k) * rewards[r.turns[j]!]!;
      out[r.turns[k]!] = sum;
    }
  }
  return out;
}

export function igpoRef(outcome: Numbers, promptScores: Numbers, turnScores: Numbers, groupSizes: Numbers, turns: Numbers, gamma: number, epsilon = 1e-6): Float64Array {
  const rollouts = turnsOf(groupSizes, turns);
  const rewards = new Float64Array(turnScores.length);
  for (const r of rollouts) {
    r.turns.forEach((t, k) => {
      const before = k === 0 ? promptScores[r.rollout]! : turnScores[r.turns[k - 1]!]!;
      rewards[t] = k === r.turns.length - 1 ? outcome[r.rollout]! : Math.exp(turnScores[t]!) - Math.exp(before);
    });
  }
  const normalized = new Float64Array(rewards.length);
  for (let g = 0; g < groupSizes.length; g++) {
    const members = rollouts.filter((r) => r.group === g).flatMap((r) => r.turns);
    const z = members.length < 2 ? members.map(() => 0) : zscore(members.map((t) => rewards[t]!), epsilon, true);
    members.forEach((t, i) => (normalized[t] = z[i]!));
  }
  return discounted(rollouts, normalized, gamma);
}

export function mrSearchRef(stepRewards: Numbers, rewarded: Numbers, groupSizes: Numbers, turns: Numbers, gamma: number): Float64Array {
  const rollouts = turnsOf(groupSizes, turns);
  const centred = new Float64Array(stepRewards.length);
  for (const r of rollouts) {
    r.turns.forEach((t, k) => {
      if (!rewarded[t]) return;
      const peers = rollouts.filter((o) => o.group === r.group && o !== r && o.turns.length > k && rewarded[o.turns[k]!]).map((o) => stepRewards[o.turns[k]!]!);
      centred[t] = peers.length ? stepRewards[t]! - peers.reduce((a, b) => a + b, 0) / peers.length : 0;
    });
  }
  return discounted(rollouts, centred, gamma);
}

export function stepSearchRef(golds: readonly string[], steps: readonly (readonly string[])[], similarity: (gold: string, doc: string) => number): number[] {
  const out: number[] = [];
  const retrieved: string[] = [];
  let previous = golds.map(() => 0);
  for (const docs of steps) {
    const before = new Set(retrieved);
    retrieved.push(...docs);
    const match = golds.map((g) => Math.max(0, ...retrieved.map((d) => similarity(g, d))));
    const gain = golds.length ? golds.reduce((a, _, i) => a + Math.max(match[i]! - previous[i]!, 0), 0) / golds.length : 0;
    const redundancy = docs.length ? docs.filter((d) => before.has(d)).length / docs.length : 0;
    out.push(gain - redundancy);
    previous = match;
  }
  return out;
}

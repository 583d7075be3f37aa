import { beforeAll, describe, expect, it } from 'vitest';
import { IgSearchError, grpoAdvantages, informationGain, loadWasmCore, modulateQueryAdvantages, spanAdvantages, type WasmCore } from '../src/entry/node.js';
import { grpoRef, informationGainRef, modulateRef, type ModulationRef } from '../src/rl/oracle.js';
import { mulberry32 } from './helpers/random.js';

let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    if (!(diff <= tol * (1 + Math.abs(expected[i]!)))) throw new Error(`index ${i}: ${actual[i]} vs ${expected[i]} (|Δ| ${diff})`);
  }
}

function thrown(f: () => unknown): IgSearchError {
  try {
    f();
  } catch (e) {
    if (e instanceof IgSearchError) return e;
    throw e;
  }
  throw new Error('expected an IgSearchError');
}

function randomGroups(rng: () => number, groups: number, maxSize: number) {
  const sizes = Array.from({ length: groups }, () => 1 + Math.floor(rng() * maxSize));
  const total = sizes.reduce((a, b) => a + b, 0);
  return { sizes, total };
}

describe('GRPO advantages match the f64 reference (verl semantics)', () => {
  it('random ragged groups, binary and continuous rewards, both normalisations', () => {
    const rng = mulberry32(1);
    for (let trial = 0; trial < 200; trial++) {
      const { sizes, total } = randomGroups(rng, 1 + Math.floor(rng() * 12), 9);
      const binary = trial % 2 === 0;
      const rewards = Array.from({ length: total }, () => (binary ? (rng() < 0.3 ? 1 : 0) : rng() * 4 - 2));
      for (const norm of ['std', 'none'] as const) {
        expectClose(grpoAdvantages(core, rewards, sizes, { norm }), grpoRef(rewards, sizes, norm));
      }
    }
  });

  it('a group of one has mean 0 and std 1, as in verl: Â = R / (1 + ε)', () => {
    const out = grpoAdvantages(core, [0.7], [1]);
    expect(out[0]).toBeCloseTo(0.7 / (1 + 1e-6), 12);
  });

  it('all-equal rewards give zero advantages (the all-fail group has no GRPO signal)', () => {
    expect(Array.from(grpoAdvantages(core, [0, 0, 0, 0, 1, 1], [4, 2]))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('uses the unbiased (N−1) standard deviation', () => {
    const out = grpoAdvantages(core, [1, 0], [2], { epsilon: 0 });
    // mean 0.5, unbiased std sqrt(0.5): (1 − 0.5) / 0.7071…
    expect(out[0]).toBeCloseTo(0.5 / Math.sqrt(0.5), 12);
  });

  it('bad input is a typed error and never a trap', () => {
    expect(thrown(() => grpoAdvantages(core, [1, Number.NaN], [2])).code).toBe('NON_FINITE');
    expect(thrown(() => grpoAdvantages(core, [1, 0, 1], [2])).message).toMatch(/group sizes sum to 2 but there are 3 values/);
    expect(thrown(() => grpoAdvantages(core, [1], [-1])).message).toMatch(/groupSizes\[0\] must be a non-negative integer/);
    expect(thrown(() => grpoAdvantages(core, [1], [1], { epsilon: -1 })).code).toBe('INVALID_ARGUMENT');
    expect(grpoAdvantages(core, [], []).length).toBe(0);
  });
});

describe('information gain and its shaping match the f64 reference', () => {
  it('random steps, both normalisations, random knobs', () => {
    const rng = mulberry32(2);
    for (let trial = 0; trial < 200; trial++) {
      const { sizes, total } = randomGroups(rng, 1 + Math.floor(rng() * 6), 10);
      const real = Array.from({ length: total }, () => -rng() * 6);
      const cf = Array.from({ length: total }, () => -rng() * 6);
      const options = {
        deadZone: rng() * 0.3,
        negativeScale: rng(),
        clip: 0.1 + rng() * 3,
        normalize: trial % 2 ? ('group-z' as const) : ('none' as const),
        epsilon: 1e-6,
      };
      const ours = informationGain(core, real, cf, sizes, options);
      const ref = informationGainRef(real, cf, sizes, options);
      expectClose(ours.raw, ref.raw);
      expectClose(ours.shaped, ref.shaped);
    }
  });

  it('defaults: dead zone 0.05, negatives × 0.5, clip 2', () => {
    const { shaped } = informationGain(core, [0.04, 0.5, -0.5, 3, -5], [0, 0, 0, 0, 0], [5]);
    expect(Array.from(shaped)).toEqual([0, 0.5, -0.25, 2, -2]);
  });

  it('bad knobs and lengths are typed errors', () => {
    expect(thrown(() => informationGain(core, [1], [0], [1], { clip: 0 })).message).toMatch(/clip must be finite and > 0/);
    expect(thrown(() => informationGain(core, [1], [0], [1], { deadZone: -0.1 })).message).toMatch(/deadZone/);
    expect(thrown(() => informationGain(core, [1, 2], [0], [2])).code).toBe('SHAPE_MISMATCH');
    expect(thrown(() => informationGain(core, [1], [Number.POSITIVE_INFINITY], [1])).code).toBe('NON_FINITE');
  });
});

/** Random rollouts with non-overlapping query and retrieved spans, laid out like Search-R1 turns. */
function randomBatch(rng: () => number, rollouts: number): ModulationRef {
  const tokenCounts: number[] = [];
  const rolloutAdvantages: number[] = [];
  const queries = { rollout: [] as number[], start: [] as number[], end: [] as number[], ig: [] as number[] };
  const retrieved = { rollout: [] as number[], start: [] as number[], end: [] as number[] };
  for (let r = 0; r < rollouts; r++) {
    let at = Math.floor(rng() * 10);
    const turns = Math.floor(rng() * 4);
    for (let k = 0; k < turns; k++) {
      const q = Math.floor(rng() * 8); // empty queries allowed
      queries.rollout.push(r), queries.start.push(at), queries.end.push(at + q), queries.ig.push(rng() * 4 - 2);
      at += q + Math.floor(rng() * 3);
      const d = 5 + Math.floor(rng() * 40);
      retrieved.rollout.push(r), retrieved.start.push(at), retrieved.end.push(at + d);
      at += d + Math.floor(rng() * 5);
    }
    tokenCounts.push(at + Math.floor(rng() * 10));
    rolloutAdvantages.push(rng() * 2 - 1);
  }
  return { tokenCounts, rolloutAdvantages, queries, retrieved, lambda: 0.3 + rng(), mode: rng() < 0.5 ? 'additive' : 'multiplicative' };
}

describe('per-token modulation matches the f64 reference', () => {
  it('random batches, additive and multiplicative', () => {
    const rng = mulberry32(3);
    for (let trial = 0; trial < 150; trial++) {
      const batch = randomBatch(rng, 1 + Math.floor(rng() * 10));
      const ours = modulateQueryAdvantages(core, batch);
      const ref = modulateRef(batch);
      expectClose(ours.advantages, ref.advantages, 1e-6); // f32 output of f64 math
      expect(Array.from(ours.lossMask)).toEqual(Array.from(ref.lossMask));
    }
  });

  it('an all-fail group still gives its query tokens nonzero advantage whenever IG varies', () => {
    // Four rollouts of one question, all wrong: GRPO gives every rollout Â = 0 …
    const rewards = [0, 0, 0, 0];
    const adv = grpoAdvantages(core, rewards, [4]);
    expect(Array.from(adv)).toEqual([0, 0, 0, 0]);
    // … but their search steps retrieved documents of different usefulness.
    const { shaped } = informationGain(core, [-0.4, -2.5, -1.0, -0.9], [-1.5, -1.6, -1.02, -1.2], [4]);
    const out = modulateQueryAdvantages(core, {
      tokenCounts: [20, 20, 20, 20],
      rolloutAdvantages: adv,
      queries: { rollout: [0, 1, 2, 3], start: [3, 3, 3, 3], end: [7, 7, 7, 7], ig: shaped },
      retrieved: { rollout: [0, 1, 2, 3], start: [8, 8, 8, 8], end: [16, 16, 16, 16] },
    });
    const queryTokens = (r: number) => Array.from(out.advantages.slice(r * 20 + 3, r * 20 + 7));
    expect(queryTokens(0).every((a) => a > 0)).toBe(true); // IG +1.1: the helpful query is reinforced
    expect(queryTokens(1).every((a) => a < 0)).toBe(true); // IG −0.9: the harmful one is pushed down
    expect(queryTokens(2).every((a) => a === 0)).toBe(true); // IG 0.02 < τ: inside the dead zone
    expect(queryTokens(3).every((a) => a > 0)).toBe(true); // IG +0.3
    // Everything outside the queries keeps the (zero) trajectory advantage; documents are masked.
    for (let r = 0; r < 4; r++) {
      const row = Array.from(out.advantages.slice(r * 20, r * 20 + 20));
      expect(row.filter((_, t) => t < 3 || t >= 7).every((a) => a === 0)).toBe(true);
      expect(Array.from(out.lossMask.slice(r * 20 + 8, r * 20 + 16)).every((m) => m === 0)).toBe(true);
    }
  });

  it('bad spans are typed errors naming the span, and nothing is returned', () => {
    const base = randomBatch(mulberry32(4), 3);
    const withQuery = (patch: Partial<ModulationRef['queries']>) => ({ ...base, queries: { rollout: [0], start: [0], end: [1], ig: [0.5], ...patch } });
    expect(thrown(() => modulateQueryAdvantages(core, withQuery({ end: [1_000_000] }))).message).toMatch(/querySpans\[0\]: span \[0, 1000000\) out of range/);
    expect(thrown(() => modulateQueryAdvantages(core, withQuery({ rollout: [7] }))).message).toMatch(/rollout 7 out of range/);
    expect(thrown(() => modulateQueryAdvantages(core, withQuery({ start: [2], end: [1] }))).code).toBe('OUT_OF_RANGE');
    expect(thrown(() => modulateQueryAdvantages(core, withQuery({ ig: [Number.NaN] }))).code).toBe('NON_FINITE');
    expect(thrown(() => modulateQueryAdvantages(core, withQuery({ ig: [] }))).code).toBe('SHAPE_MISMATCH');
    expect(thrown(() => modulateQueryAdvantages(core, { ...base, rolloutAdvantages: [1] })).code).toBe('SHAPE_MISMATCH');
    const overlapping = {
      ...base,
      tokenCounts: [30],
      rolloutAdvantages: [0],
      queries: { rollout: [0], start: [5], end: [12], ig: [1] },
      retrieved: { rollout: [0], start: [10], end: [20] },
    };
    expect(thrown(() => modulateQueryAdvantages(core, overlapping)).message).toMatch(/overlaps/);
  });

  it("spanAdvantages: each span's tokens get its value, other policy tokens 0, masked tokens leave the loss (worked by hand)", () => {
    // Rollout 0 (6 tokens): turn values 0.5 on [0, 2) and −1 on [4, 6), an appended block [2, 4).
    // Rollout 1 (3 tokens): value 2 on [1, 3).
    const out = spanAdvantages(core, {
      tokenCounts: [6, 3],
      spans: { rollout: [0, 0, 1], start: [0, 4, 1], end: [2, 6, 3], value: [0.5, -1, 2] },
      masked: { rollout: [0], start: [2], end: [4] },
    });
    expect(Array.from(out.advantages)).toEqual([0.5, 0.5, 0, 0, -1, -1, 0, 2, 2]);
    expect(Array.from(out.lossMask)).toEqual([1, 1, 0, 0, 1, 1, 1, 1, 1]);
    expect(() => spanAdvantages(core, { tokenCounts: [3], spans: { rollout: [0], start: [0], end: [1], value: [] }, masked: { rollout: [], start: [], end: [] } })).toThrow(/spans.value has 0 entries/);
    // Errors from the shared Wasm pass name this function's inputs, not modulation's.
    const none = { rollout: [], start: [], end: [] };
    const named = (input: Parameters<typeof spanAdvantages>[1]) => thrown(() => spanAdvantages(core, input)).message;
    expect(named({ tokenCounts: [3], spans: { rollout: [0], start: [0], end: [5], value: [1] }, masked: none })).toMatch(/\bspans\[0\]/);
    expect(named({ tokenCounts: [3], spans: { rollout: [0], start: [0], end: [2], value: [1] }, masked: { rollout: [0], start: [1], end: [3] } })).toMatch(/masked\[0\].*overlaps spans\[0\]|spans\[0\].*overlaps masked\[0\]/);
    expect(named({ tokenCounts: [3], spans: { rollout: [0], start: [0], end: [2], value: [Number.NaN] }, masked: none })).toMatch(/spans\.value\[0\] is NaN/);
    expect(named({ tokenCounts: [3], spans: { rollout: [0], start: [0], end: [2], value: [1] }, masked: { rollout: [0], start: [-1], end: [2] } })).toMatch(/masked\.start/);
    for (const m of [named({ tokenCounts: [3], spans: { rollout: [0], start: [0], end: [5], value: [1] }, masked: none })]) expect(m).not.toMatch(/query|retrieved/);
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index, gigpoAdvantages, igpoAdvantages, IgSearchError, loadWasmCore, mrSearchAdvantages, type WasmCore } from '../src/entry/node.js';
import { Bm25Oracle } from '../src/retrieval/bm25.oracle.js';
import { gigpoRef, igpoRef, mrSearchRef, stepSearchRef } from '../src/rl/oracle.js';
import { mulberry32 } from './helpers/random.js';

let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol * (1 + Math.abs(expected[i]!)))) throw new Error(`index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

/** Random groups of rollouts with 1–4 turns each. */
function randomLayout(rng: () => number) {
  const groupSizes = Array.from({ length: 1 + Math.floor(rng() * 4) }, () => 1 + Math.floor(rng() * 5));
  const rollouts = groupSizes.reduce((a, b) => a + b, 0);
  const turns = Array.from({ length: rollouts }, () => 1 + Math.floor(rng() * 4));
  return { groupSizes, turns, rollouts, total: turns.reduce((a, b) => a + b, 0) };
}

describe('GiGPO: episode advantage + ω · step advantage over anchor groups', () => {
  it('a group worked by hand', () => {
    // Group of 3: R = [1, 1, 0]. Rollouts 0 and 1 made the same first search (turn 1 has anchor 7
    // for both); rollout 0 has 3 turns, rollout 1 has 2, rollout 2 has 1 (answered at once).
    // Episode: mean 2/3, unbiased std 1/√3 → [1/3, 1/3, −2/3]·√3 = [.577, .577, −1.155].
    // Returns (γ = .5): rollout 0 [.25, .5, 1], rollout 1 [.5, 1], rollout 2 [0].
    // Anchor 0 (the prompt): {.25, .5, 0}: mean .25, std .25 → [0, 1, −1].
    // Anchor 7: {.5, 1}: mean .75, std √(.125) → [−.707, .707]; rollout 0's last turn is alone → 1.
    const out = gigpoAdvantages(core, [1, 1, 0], { groupSizes: [3], turns: [3, 2, 1] }, [0, 7, 9, 0, 7, 0], { gamma: 0.5, omega: 2, epsilon: 0 });
    const e = [1 / 3, 1 / 3, -2 / 3].map((v) => v * Math.sqrt(3));
    const s = 0.25 / Math.sqrt(0.125);
    expectClose(out, [e[0]! + 0, e[0]! - 2 * s, e[0]! + 2, e[1]! + 2, e[1]! + 2 * s, e[2]! - 2]);
  });

  it('matches the f64 reference on random layouts and anchors', () => {
    const rng = mulberry32(3);
    for (let trial = 0; trial < 100; trial++) {
      const { groupSizes, turns, rollouts, total } = randomLayout(rng);
      const outcome = Array.from({ length: rollouts }, () => (rng() < 0.4 ? 1 : 0));
      const anchors = Array.from({ length: total }, () => Math.floor(rng() * 3));
      const gamma = rng();
      expectClose(gigpoAdvantages(core, outcome, { groupSizes, turns }, anchors, { gamma, omega: 0.7 }), gigpoRef(outcome, groupSizes, turns, anchors, gamma, 0.7), 1e-12);
    }
  });
});

describe('IGPO: turn rewards p_t − p_{t−1}, outcome on the last turn, joint z-score, discounted', () => {
  it('a group worked by hand', () => {
    // Two rollouts of 2 turns. p(prompt) = .2 for both; after turn 0: .6 and .1; outcomes 1 and 0.
    // Rewards: [.4, 1] and [−.1, 0]: mean .325, population var ((.075)² + (.675)² + (.425)² + (.325)²)/4.
    const ln = Math.log;
    const out = igpoAdvantages(core, [1, 0], [ln(0.2), ln(0.2)], [ln(0.6), 0, ln(0.1), 0], { groupSizes: [2], turns: [2, 2] }, { gamma: 0.9, epsilon: 0 });
    const std = Math.sqrt((0.075 ** 2 + 0.675 ** 2 + 0.425 ** 2 + 0.325 ** 2) / 4 + 1e-8);
    const z = [0.4, 1, -0.1, 0].map((r) => (r - 0.325) / std);
    expectClose(out, [z[0]! + 0.9 * z[1]!, z[1]!, z[2]! + 0.9 * z[3]!, z[3]!]);
  });

  it('the last turn earns the outcome whatever it is, and its score is not read', () => {
    const a = igpoAdvantages(core, [1, 0], [0, 0], [Number.NaN, Number.NaN], { groupSizes: [2], turns: [1, 1] });
    expect(a[0]).toBeGreaterThan(0);
    expect(a[1]).toBeLessThan(0);
  });

  it('matches the f64 reference on random layouts', () => {
    const rng = mulberry32(4);
    for (let trial = 0; trial < 100; trial++) {
      const { groupSizes, turns, rollouts, total } = randomLayout(rng);
      const outcome = Array.from({ length: rollouts }, () => (rng() < 0.4 ? 1 : 0));
      const prompt = Array.from({ length: rollouts }, () => -3 * rng());
      const scores = Array.from({ length: total }, () => -3 * rng());
      expectClose(igpoAdvantages(core, outcome, prompt, scores, { groupSizes, turns }, { gamma: 0.95 }), igpoRef(outcome, prompt, scores, groupSizes, turns, 0.95), 1e-10);
    }
  });
});

describe('MR-Search: leave-one-out step rewards by turn index, accumulated backwards', () => {
  it('a group worked by hand', () => {
    // Rollouts of 3, 2 and 2 turns; search turns are rewarded, each rollout's last turn is not.
    // Index 0: rewards 2, 0, 1 → 2 − .5 = 1.5, 0 − 1.5 = −1.5, 1 − 1 = 0. Index 1: only rollout 0 (4) → 0.
    const r = [2, 4, 0, 0, 0, 1, 0];
    const flags = [1, 1, 0, 1, 0, 1, 0];
    const out = mrSearchAdvantages(core, r, flags, { groupSizes: [3], turns: [3, 2, 2] }, { gamma: 0.5 });
    expectClose(out, [1.5, 0, 0, -1.5, 0, 0, 0]);
  });

  it('matches the f64 reference on random layouts', () => {
    const rng = mulberry32(5);
    for (let trial = 0; trial < 100; trial++) {
      const { groupSizes, turns, total } = randomLayout(rng);
      const rewards = Array.from({ length: total }, () => rng() * 2 - 1);
      const flags = Array.from({ length: total }, () => (rng() < 0.7 ? 1 : 0));
      expectClose(mrSearchAdvantages(core, rewards, flags, { groupSizes, turns }, { gamma: 0.8 }), mrSearchRef(rewards, flags, groupSizes, turns, 0.8), 1e-12);
    }
  });
});

describe('StepSearch: TF-IDF gain toward the gold passages minus redundancy', () => {
  const corpus = [
    'Arden Vale is a city in Norland.',
    'Mira Tosk is a pilot born in Arden Vale. Mira Tosk works for Brel Labs.',
    'Brel Labs is a company founded in 1950. Its headquarters are in Quon.',
    'Quon is a city in Sarea.',
    'Sarea is a country.',
  ];
  it('matches the f64 reference (TF-IDF and the step rule)', () => {
    const index = Bm25Index.build(core, corpus.map((contents, i) => ({ id: `d${i}`, contents })));
    const ref = new Bm25Oracle(corpus);
    try {
      const rollouts = [
        { golds: [corpus[1]!, corpus[2]!], steps: [[corpus[0]!, corpus[1]!], [corpus[1]!, corpus[2]!], [corpus[4]!]] },
        { golds: [corpus[3]!], steps: [] },
        { golds: [corpus[3]!], steps: [['Quon, a city'], [corpus[3]!, corpus[3]!]] },
      ];
      const got = index.stepSearchRewards(rollouts);
      const expected = rollouts.flatMap((r) => stepSearchRef(r.golds, r.steps, (a, b) => ref.tfidfCosine(a, b)));
      expectClose(got, expected, 1e-9);
      // Worked by hand on the first rollout: step 0 finds gold 0 exactly (gain 1/2 + gold 1's
      // partial match), step 1 repeats corpus[1] (redundancy 1/2) and finds gold 1.
      expect(got[0]).toBeGreaterThan(0.5);
      expect(got[1]).toBeLessThan(0.5);
      expect(got[1]).toBeGreaterThan(-0.5);
      expect(got[2]).toBeLessThanOrEqual(0);
    } finally {
      index.free();
    }
  });
});

describe('bad input is a typed error, not a trap', () => {
  it('layouts that do not add up, gamma out of range, non-finite rewards', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as IgSearchError;
      }
      throw new Error('expected an error');
    };
    expect(err(() => gigpoAdvantages(core, [1, 0], { groupSizes: [2], turns: [1, 1] }, [0, 0, 0])).message).toMatch(/turns sum to 2 but 3/);
    expect(err(() => gigpoAdvantages(core, [1, 0], { groupSizes: [3], turns: [1, 1] }, [0, 0])).message).toMatch(/groupSizes sum to 3/);
    expect(err(() => igpoAdvantages(core, [1], [0], [0], { groupSizes: [1], turns: [1] }, { gamma: 1.5 })).code).toBe('INVALID_ARGUMENT');
    expect(err(() => igpoAdvantages(core, [1], [Number.NaN], [0], { groupSizes: [1], turns: [1] })).code).toBe('NON_FINITE');
    expect(err(() => mrSearchAdvantages(core, [Number.POSITIVE_INFINITY], [1], { groupSizes: [1], turns: [1] })).message).toMatch(/stepRewards\[0\]/);
    // An unrewarded turn's value is never read.
    expect(Array.from(mrSearchAdvantages(core, [Number.NaN], [0], { groupSizes: [1], turns: [1] }))).toEqual([0]);
  });
});

import { describe, expect, it } from 'vitest';
import { differences, pairedBootstrap } from '../src/compare/stats.js';
import { summarize, type CompareRun } from '../src/compare/compare.js';
import { mulberry32 } from './helpers/random.js';

describe('paired bootstrap', () => {
  it('a constant difference has a degenerate interval at that constant', () => {
    const iv = pairedBootstrap([Array(40).fill(0.25), Array(40).fill(0.25)], undefined, { replicates: 500 });
    expect([iv.mean, iv.low, iv.high]).toEqual([0.25, 0.25, 0.25]);
    expect([iv.seeds, iv.questions]).toEqual([2, 40]);
  });

  it('one seed: the interval matches the normal approximation mean ± 1.96·sd/√n', () => {
    const rng = mulberry32(9);
    const n = 2000;
    // Paired 0/1 outcomes: A right with p .45, B with p .40, correlated through a shared draw.
    const a: number[] = [];
    const b: number[] = [];
    for (let q = 0; q < n; q++) {
      const u = rng();
      a.push(u < 0.45 ? 1 : 0);
      b.push(u < 0.4 || rng() < 0.02 ? 1 : 0);
    }
    const d = differences([a], [b])[0]!;
    const mean = d.reduce((x, y) => x + y, 0) / n;
    const sd = Math.sqrt(d.reduce((x, y) => x + (y - mean) ** 2, 0) / (n - 1));
    const iv = pairedBootstrap([d], undefined, { replicates: 4000, seed: 3 });
    expect(iv.mean).toBeCloseTo(mean, 12);
    const half = (1.96 * sd) / Math.sqrt(n);
    expect(Math.abs(iv.low - (mean - half))).toBeLessThan(0.15 * half);
    expect(Math.abs(iv.high - (mean + half))).toBeLessThan(0.15 * half);
  });

  it('seed variation widens the interval; a subset restricts the questions; the same seed gives the same interval', () => {
    const rng = mulberry32(2);
    const base = Array.from({ length: 200 }, () => (rng() < 0.5 ? 1 : 0) - (rng() < 0.5 ? 1 : 0));
    const steady = [base, base, base];
    const noisy = [base.map((v) => v + 0.3), base, base.map((v) => v - 0.3)];
    const w = (iv: { low: number; high: number }) => iv.high - iv.low;
    expect(w(pairedBootstrap(noisy, undefined, { seed: 5 }))).toBeGreaterThan(w(pairedBootstrap(steady, undefined, { seed: 5 })));
    expect(pairedBootstrap(noisy, undefined, { seed: 5 })).toEqual(pairedBootstrap(noisy, undefined, { seed: 5 }));
    const firstHalf = Array.from({ length: 100 }, (_, i) => i);
    expect(pairedBootstrap(steady, firstHalf).mean).toBeCloseTo(base.slice(0, 100).reduce((x, y) => x + y, 0) / 100, 12);
  });

  it('refuses ragged input and bad options', () => {
    expect(() => pairedBootstrap([[1, 0], [1]])).toThrow(/every seed/);
    expect(() => pairedBootstrap([[1]], undefined, { level: 1 })).toThrow(/level/);
    expect(() => differences([[1]], [[1], [0]])).toThrow(/1 seeds against 2/);
  });
});

describe('comparison summaries', () => {
  const run = (algo: CompareRun['algo'], seed: number, correct: number[], stepMs: number): CompareRun => ({
    algo,
    seed,
    steps: 1,
    em: correct.reduce((a, b) => a + b, 0) / correct.length,
    emSingle: 0,
    emMulti: 0,
    correct,
    searchesPerQuestion: 1,
    stepMs,
    phaseMs: { rollout: stepMs, reward: 0, ig: 0, advantages: 0, reference: 0, update: 0 },
    allFailSteps: 0,
    allFailGradNorm: 0,
    trainReward: 0,
    wallMs: 0,
  });
  it('pairs each algorithm with GRPO by seed; overhead is relative to GRPO’s step time', () => {
    const questions = [{ hops: 1 }, { hops: 2 }, { hops: 2 }, { hops: 3 }];
    const runs = [run('grpo', 1, [1, 0, 0, 0], 100), run('grpo', 2, [1, 1, 0, 0], 100), run('ig-search', 1, [1, 1, 1, 0], 110), run('ig-search', 2, [1, 1, 1, 1], 110), run('igpo', 3, [1, 1, 1, 1], 90)];
    const [grpo, ig, igpo] = summarize(runs, questions, ['grpo', 'ig-search', 'igpo']);
    expect(grpo!.vsGrpo).toBeUndefined();
    expect(ig!.stepOverhead).toBeCloseTo(0.1, 12);
    // Seed 1: +2 of 4, seed 2: +2 of 4 → +.5 overall; multi-hop (3 questions) +2/3 per seed; single-hop 0.
    expect(ig!.vsGrpo!.all.mean).toBeCloseTo(0.5, 12);
    expect(ig!.vsGrpo!.multi.mean).toBeCloseTo(2 / 3, 12);
    expect(ig!.vsGrpo!.single.mean).toBe(0);
    // igpo ran seed 3 only, which GRPO did not: no pair, no interval.
    expect(igpo!.vsGrpo).toBeUndefined();
  });
});

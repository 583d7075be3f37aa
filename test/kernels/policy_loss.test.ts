import { describe, expect, it } from 'vitest';
import { IgSearchError, policyLoss } from '../../src/entry/node.js';
import { aggregationWeights, policyLossRef } from '../../src/internals.js';
import { withGpu } from '../helpers/gpu.js';
import { mulberry32 } from '../helpers/random.js';

const env = withGpu();

const P = { clipLow: 0.2, clipHigh: 0.28, dualClip: 3, beta: 0.001 };

/** Tokens that hit every branch: inside/outside the clip range, dual clip, |Δ| > 20, masked, A = 0. */
function batch(seed: number, n = 4000) {
  const rng = mulberry32(seed);
  const logp = Float32Array.from({ length: n }, () => -rng() * 6);
  const oldLogp = Float32Array.from(logp, (v, i) => (i % 50 === 0 ? v + 25 * (rng() - 0.5) * 2 : v + (rng() - 0.5) * 1.2));
  const refLogp = Float32Array.from(logp, (v, i) => (i % 70 === 0 ? v + 30 : v + (rng() - 0.5) * 2));
  const advantages = Float32Array.from({ length: n }, (_, i) => (i % 13 === 0 ? 0 : (rng() - 0.5) * 6));
  const mask = Uint8Array.from({ length: n }, () => (rng() < 0.8 ? 1 : 0));
  const offsets = [0, 700, 700, 2100, 3333, n];
  return { logp, oldLogp, refLogp, advantages, mask, sequenceOffsets: offsets };
}

describe('policy loss (PPO-clip + dual clip + k3 KL) on the GPU', () => {
  for (const aggregation of ['token-mean', 'seq-mean-token-mean'] as const) {
    it(`${aggregation}: loss and d(loss)/d logp match the f64 reference`, async () => {
      const input = batch(aggregation.length);
      const got = await policyLoss(env.gpu, input, { clipLow: P.clipLow, clipHigh: P.clipHigh, dualClip: P.dualClip, klBeta: P.beta, aggregation });
      const w = aggregationWeights(input.mask, input.sequenceOffsets, aggregation);
      const ref = policyLossRef(input.logp, input.oldLogp, input.refLogp, input.advantages, w, P);
      const total = ref.loss.reduce((a, b) => a + b, 0);
      expect(Math.abs(got.loss - total)).toBeLessThan(1e-5 * (1 + Math.abs(total)));
      let worst = 0;
      got.grad.forEach((g, t) => (worst = Math.max(worst, Math.abs(g - ref.grad[t]!) / (Math.abs(w[t]!) * 10 + 1e-12))));
      expect(worst).toBeLessThan(1e-4);
      expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    });
  }

  it('the reference gradient equals central finite differences of the reference loss (away from kinks)', () => {
    const input = batch(3, 600);
    const w = aggregationWeights(input.mask, input.sequenceOffsets, 'token-mean');
    const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
    const logp = f64(input.logp);
    const { grad } = policyLossRef(logp, f64(input.oldLogp), f64(input.refLogp), f64(input.advantages), w, P);
    const h = 1e-6;
    let checked = 0;
    for (let t = 0; t < logp.length; t++) {
      const at = (v: number) => {
        const x = Float64Array.from(logp);
        x[t] = v;
        return policyLossRef(x, f64(input.oldLogp), f64(input.refLogp), f64(input.advantages), w, P).loss[t]!;
      };
      const fd = (at(logp[t]! + h) - at(logp[t]! - h)) / (2 * h);
      const r = Math.exp(logp[t]! - input.oldLogp[t]!);
      const nearKink = [1 - P.clipLow, 1 + P.clipHigh].some((edge) => Math.abs(r - edge) < 1e-4);
      if (nearKink) continue;
      expect(Math.abs(fd - grad[t]!)).toBeLessThan(1e-6 + 1e-5 * Math.abs(grad[t]!));
      checked++;
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('an all-fail group with IG-shaped query tokens still has a gradient; with zero advantages only KL remains', async () => {
    // Â_i = 0 for every rollout of the group, λ·IG̃ ≠ 0 on the query tokens (docs/method.md).
    const n = 20;
    const logp = Float32Array.from({ length: n }, (_, i) => -1 - i * 0.1);
    const base = { logp, oldLogp: logp, refLogp: logp, mask: new Uint8Array(n).fill(1), sequenceOffsets: [0, 10, 20] };
    const advantages = new Float32Array(n);
    advantages.set([0.7, 0.7, 0.7], 3); // a query span
    const withIg = await policyLoss(env.gpu, { ...base, advantages });
    expect(Array.from(withIg.grad.subarray(3, 6)).every((g) => g < 0)).toBe(true); // descent raises their log-prob
    expect(Array.from(withIg.grad.subarray(6)).every((g) => g === 0)).toBe(true);
    const grpo = await policyLoss(env.gpu, { ...base, advantages: new Float32Array(n) });
    expect(grpo.grad.every((g) => g === 0)).toBe(true);
  });

  it('mismatched lengths, an empty batch, bad offsets and non-finite advantages are typed errors', async () => {
    const input = batch(9, 10);
    input.sequenceOffsets = [0, 10];
    await expect(policyLoss(env.gpu, { ...input, advantages: new Float32Array(9) })).rejects.toThrow(/advantages has 9 entries for 10 tokens/);
    await expect(policyLoss(env.gpu, { ...input, logp: new Float32Array(0), oldLogp: new Float32Array(0), refLogp: new Float32Array(0), advantages: new Float32Array(0), mask: [] , sequenceOffsets: [0] })).rejects.toThrow(/no tokens/);
    await expect(policyLoss(env.gpu, { ...input, sequenceOffsets: [0, 4] })).rejects.toThrow(/sequenceOffsets must run from 0 to 10/);
    const nan = Float32Array.from(input.advantages);
    nan[2] = NaN;
    const e = await policyLoss(env.gpu, { ...input, advantages: nan }).catch((x) => x);
    expect(e).toBeInstanceOf(IgSearchError);
    expect(e.code).toBe('NON_FINITE');
  });
});

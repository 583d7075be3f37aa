// Qwen3's per-head q/k RMSNorm and its backward against their f64 references (src/kernels/qk_norm/ref.ts).
import { describe, expect, it } from 'vitest';
import { QkNorm, QkNormBackward } from '../../src/kernels/qk_norm/qk_norm.js';
import { headNormBackwardRef, headNormRef } from '../../src/kernels/qk_norm/ref.js';
import { runKernel, withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();
const eps = 1e-6;

/** Head h of token t in fused q/k/v rows of `width` floats. */
const headOf = (m: ArrayLike<number>, width: number, d: number, t: number, h: number) => Float64Array.from({ length: d }, (_, i) => m[t * width + h * d + i]!);

describe('q/k norm vs its f64 reference', () => {
  it('the backward reference matches central differences of the forward one', () => {
    const rng = mulberry32(21);
    const d = 8;
    const [x, w, dy] = [randomFloats(d, rng), randomFloats(d, rng), randomFloats(d, rng)];
    const { dx, dw } = headNormBackwardRef(x, w, dy, eps);
    const loss = (xs: ArrayLike<number>, ws: ArrayLike<number>) => headNormRef(xs, ws, eps).reduce((s, y, i) => s + y * dy[i]!, 0);
    const h = 1e-6;
    for (let i = 0; i < d; i++) {
      const bump = (v: Float32Array, by: number) => Float64Array.from(v, (u, j) => (j === i ? u + by : u));
      expect(Math.abs((loss(bump(x, h), w) - loss(bump(x, -h), w)) / (2 * h) - dx[i]!)).toBeLessThan(1e-7);
      expect(Math.abs((loss(x, bump(w, h)) - loss(x, bump(w, -h))) / (2 * h) - dw[i]!)).toBeLessThan(1e-7);
    }
  });

  for (const [T, heads, kvHeads, d] of [[3, 4, 2, 16], [2, 2, 1, 128], [5, 3, 3, 8]] as const) {
    it(`forward and backward, ${heads} q heads / ${kvHeads} k heads, d=${d}: v untouched, dw accumulated per norm`, async () => {
      const rng = mulberry32(T * 100 + d);
      const width = (heads + 2 * kvHeads) * d;
      const qkv = randomFloats(T * width, rng);
      const weight = randomFloats(2 * d, rng);
      const [wq, wk] = [weight.subarray(0, d), weight.subarray(d)];
      const shape = { T, heads, kvHeads, headDim: d, eps };

      const bqkv = env.gpu.upload(qkv);
      const forward = await QkNorm.create(env.gpu);
      const bw = env.gpu.upload(weight);
      const normed = await runKernel(env.gpu, (b) => forward.encode(b, { qkv: bqkv, weight: bw }, shape), bqkv, T * width);
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < heads + kvHeads; h++) {
          expect(maxScaledError(headOf(normed, width, d, t, h), headNormRef(headOf(qkv, width, d, t, h), h < heads ? wq : wk, eps))).toBeLessThan(1e-5);
        }
        for (let h = heads + kvHeads; h < heads + 2 * kvHeads; h++) expect(maxScaledError(headOf(normed, width, d, t, h), headOf(qkv, width, d, t, h))).toBe(0);
      }

      const dy = randomFloats(T * width, rng);
      const dw0 = randomFloats(2 * d, rng);
      const [dqkv, dw] = [env.gpu.upload(dy), env.gpu.upload(dw0)];
      const backward = await QkNormBackward.create(env.gpu);
      const dwRows = env.gpu.allocate(T * (heads + kvHeads) * d * 4);
      const gotDx = await runKernel(env.gpu, (b) => backward.encode(b, { x: env.gpu.upload(qkv), weight: bw, dqkv, dwRows, dw }, shape), dqkv, T * width);
      const gotDw = new Float32Array(await env.gpu.read(dw, 2 * d * 4));
      const expectedDw = Float64Array.from(dw0);
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < heads + kvHeads; h++) {
          const { dx, dw: term } = headNormBackwardRef(headOf(qkv, width, d, t, h), h < heads ? wq : wk, headOf(dy, width, d, t, h), eps);
          expect(maxScaledError(headOf(gotDx, width, d, t, h), dx)).toBeLessThan(1e-5);
          for (let i = 0; i < d; i++) expectedDw[(h < heads ? 0 : d) + i]! += term[i]!;
        }
        for (let h = heads + kvHeads; h < heads + 2 * kvHeads; h++) expect(maxScaledError(headOf(gotDx, width, d, t, h), headOf(dy, width, d, t, h))).toBe(0);
      }
      expect(maxScaledError(gotDw, expectedDw)).toBeLessThan(1e-5);
    });
  }
});

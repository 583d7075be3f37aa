// The linear layer's backward (dx, dW, db through matmul + transpose) against finite differences.
import { describe, expect, it } from 'vitest';
import { LinearBackward } from '../../src/kernels/linear/linear.js';
import { matmulRef } from '../../src/kernels/matmul/ref.js';
import { withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

describe('linear backward', () => {
  it('linear y = x·Wᵀ + b: dx, dW, db (accumulating over two micro-batches) match finite differences', async () => {
    const rng = mulberry32(25);
    const [T, IN, OUT] = [11, 24, 19];
    const w = randomFloats(OUT * IN, rng);
    const bias = randomFloats(OUT, rng);
    const xs = [randomFloats(T * IN, rng), randomFloats(T * IN, rng)];
    const gs = [randomFloats(T * OUT, rng), randomFloats(T * OUT, rng)];
    const forward = (x: ArrayLike<number>, wv: ArrayLike<number>, bv: ArrayLike<number>) => {
      const y = matmulRef(x, wv, { M: T, N: OUT, K: IN, transposeB: true });
      for (let t = 0; t < T; t++) for (let o = 0; o < OUT; o++) y[t * OUT + o]! += bv[o]!;
      return y;
    };
    // f64 gradients by finite differences of the summed micro-batch losses.
    const lossW = (wv: Float64Array) => Float64Array.of(forward(xs[0]!, wv, bias).reduce((s, v, i) => s + v * gs[0]![i]!, 0) + forward(xs[1]!, wv, bias).reduce((s, v, i) => s + v * gs[1]![i]!, 0));
    const lin = await LinearBackward.create(env.gpu);
    const [dw, db, dx] = [env.gpu.upload(new Float32Array(OUT * IN)), env.gpu.upload(new Float32Array(OUT)), env.gpu.allocate(T * IN * 4)];
    const common = { w: env.gpu.upload(w), dw, db, dyT: env.gpu.allocate(T * OUT * 4), ones: env.gpu.upload(new Float32Array(T).fill(1)) };
    let dx0 = new Float32Array(0);
    for (let m = 0; m < 2; m++) {
      const batch = env.gpu.batch('test');
      lin.encode(batch, { ...common, x: env.gpu.upload(xs[m]!), dy: env.gpu.upload(gs[m]!), dx }, { T, in: IN, out: OUT }, { dw: true, db: true });
      batch.submit();
      if (m === 0) dx0 = new Float32Array(await env.gpu.read(dx, T * IN * 4));
    }
    const gotW = new Float32Array(await env.gpu.read(dw, OUT * IN * 4));
    const gotB = new Float32Array(await env.gpu.read(db, OUT * 4));
    const h = 1e-6;
    for (let n = 0; n < 40; n++) {
      const i = Math.floor(rng() * OUT * IN);
      const plus = Float64Array.from(w);
      const minus = Float64Array.from(w);
      plus[i]! += h;
      minus[i]! -= h;
      expect(Math.abs((lossW(plus)[0]! - lossW(minus)[0]!) / (2 * h) - gotW[i]!)).toBeLessThan(1e-4);
    }
    const expectedB = Array.from({ length: OUT }, (_, o) => [0, 1].reduce((s, m) => s + Array.from({ length: T }, (_, t) => gs[m]![t * OUT + o]!).reduce((a, c) => a + c, 0), 0));
    expect(maxScaledError(gotB, expectedB)).toBeLessThan(1e-5);
    expect(maxScaledError(dx0, matmulRef(gs[0]!, w, { M: T, N: IN, K: OUT }))).toBeLessThan(1e-5);
  });
});

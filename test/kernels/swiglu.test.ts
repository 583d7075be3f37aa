// SwiGLU against its f64 reference (src/kernels/swiglu/ref.ts).
import { describe, expect, it } from 'vitest';
import { swigluRef } from '../../src/kernels/swiglu/ref.js';
import { Swiglu } from '../../src/kernels/swiglu/swiglu.js';
import { runKernel, withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

describe('SwiGLU vs its f64 reference', () => {
  it('SwiGLU', async () => {
    const rng = mulberry32(4);
    const [T, I] = [9, 77];
    const gu = randomFloats(T * 2 * I, rng).map((x) => x * 12);
    const out = env.gpu.allocate(T * I * 4);
    const kernel = await Swiglu.create(env.gpu);
    const got = await runKernel(env.gpu, (b) => kernel.encode(b, { gu: env.gpu.upload(gu), out }, { T, I }), out, T * I);
    expect(maxScaledError(got, swigluRef(gu, T, I))).toBeLessThan(1e-6);
  });
});

// SwiGLU against its f64 reference (src/kernels/swiglu/ref.ts).
import { describe, expect, it } from 'vitest';
import { swigluRef } from '../../src/kernels/swiglu/ref.js';
import { Swiglu } from '../../src/kernels/swiglu/swiglu.js';
import { runKernel, withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';
import { swigluBackwardRef } from '../../src/kernels/swiglu/ref.js';
import { SwigluBackward } from '../../src/kernels/swiglu/swiglu.js';
import { checkFiniteDifferences } from '../helpers/gradcheck.js';

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

describe('SwiGLU backward vs its f64 reference (itself checked by finite differences)', () => {
  it('SwiGLU: d gate and d up', async () => {
    const rng = mulberry32(22);
    const [T, I] = [7, 90];
    const gu = Float32Array.from(randomFloats(T * 2 * I, rng), (v) => v * 5);
    const dout = randomFloats(T * I, rng);
    const ref = swigluBackwardRef(gu, dout, T, I);
    expect(checkFiniteDifferences((v) => swigluRef(v, T, I), Float64Array.from(gu), dout, ref, rng)).toBeLessThan(1e-6);
    const out = env.gpu.allocate(T * 2 * I * 4);
    const batch = env.gpu.batch('test');
    (await SwigluBackward.create(env.gpu)).encode(batch, { gu: env.gpu.upload(gu), dout: env.gpu.upload(dout), dgu: out }, { T, I });
    batch.submit();
    expect(maxScaledError(new Float32Array(await env.gpu.read(out, T * 2 * I * 4)), ref)).toBeLessThan(1e-5);
  });
});

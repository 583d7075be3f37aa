// RMSNorm against its f64 reference (src/kernels/rmsnorm/ref.ts).
import { describe, expect, it } from 'vitest';
import { rmsnormRef } from '../../src/kernels/rmsnorm/ref.js';
import { Rmsnorm } from '../../src/kernels/rmsnorm/rmsnorm.js';
import { runKernel, withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';
import { rmsnormBackwardRef } from '../../src/kernels/rmsnorm/ref.js';
import { RmsnormBackward } from '../../src/kernels/rmsnorm/rmsnorm.js';
import { checkFiniteDifferences } from '../helpers/gradcheck.js';

const env = withGpu();

describe('RMSNorm vs its f64 reference', () => {
  for (const [T, H] of [[1, 8], [7, 64], [33, 200], [5, 896]] as const) {
    it(`RMSNorm ${T}×${H}, direct and through a row index`, async () => {
      const rng = mulberry32(T * H);
      const x = randomFloats(T * H, rng);
      const w = randomFloats(H, rng);
      const index = Uint32Array.from({ length: T }, (_, i) => T - 1 - i);
      const [bx, bw, bi, out] = [env.gpu.upload(x), env.gpu.upload(w), env.gpu.upload(index), env.gpu.allocate(T * H * 4)];
      const expected = rmsnormRef(x, w, H, 1e-6);
      const k0 = await Rmsnorm.create(env.gpu);
      const direct = await runKernel(env.gpu, (b) => k0.encode(b, { x: bx, weight: bw, index: bi, out }, { T, H, eps: 1e-6 }), out, T * H);
      expect(maxScaledError(direct, expected)).toBeLessThan(1e-5);
      const k = await Rmsnorm.create(env.gpu, { indirect: true });
      const reversed = await runKernel(env.gpu, (b) => k.encode(b, { x: bx, weight: bw, index: bi, out }, { T, H, eps: 1e-6 }), out, T * H);
      for (let r = 0; r < T; r++) expect(maxScaledError(reversed.subarray(r * H, (r + 1) * H), expected.subarray((T - 1 - r) * H, (T - r) * H))).toBeLessThan(1e-5);
    });
  }
});

describe('RMSNorm backward vs its f64 reference (itself checked by finite differences)', () => {
  it('RMSNorm: dx and dw', async () => {
    const rng = mulberry32(21);
    const [T, H, eps] = [9, 70, 1e-6];
    const x = randomFloats(T * H, rng);
    const w = randomFloats(H, rng);
    const dy = randomFloats(T * H, rng);
    const ref = rmsnormBackwardRef(x, w, dy, H, eps);
    expect(checkFiniteDifferences((v) => rmsnormRef(v, w, H, eps), Float64Array.from(x), dy, ref.dx, rng)).toBeLessThan(1e-6);
    expect(checkFiniteDifferences((v) => rmsnormRef(x, v, H, eps), Float64Array.from(w), dy, ref.dw, rng)).toBeLessThan(1e-6);
    const b = { x: env.gpu.upload(x), weight: env.gpu.upload(w), dy: env.gpu.upload(dy), dx: env.gpu.allocate(T * H * 4), dwRows: env.gpu.allocate(T * H * 4) };
    const batch = env.gpu.batch('test');
    (await RmsnormBackward.create(env.gpu)).encode(batch, b, { T, H, eps });
    batch.submit();
    const dx = new Float32Array(await env.gpu.read(b.dx, T * H * 4));
    const rows = new Float32Array(await env.gpu.read(b.dwRows, T * H * 4));
    const dw = Array.from({ length: H }, (_, i) => Array.from({ length: T }, (_, t) => rows[t * H + i]!).reduce((a, c) => a + c, 0));
    expect(maxScaledError(dx, ref.dx)).toBeLessThan(1e-5);
    expect(maxScaledError(dw, ref.dw)).toBeLessThan(1e-5);
  });
});

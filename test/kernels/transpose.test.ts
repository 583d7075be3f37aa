// Transpose (the backward's layout change) against its f64 reference (src/kernels/transpose/ref.ts).
import { describe, expect, it } from 'vitest';
import { transposeRef } from '../../src/kernels/transpose/ref.js';
import { Transpose } from '../../src/kernels/transpose/transpose.js';
import { withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

describe('transpose vs its f64 reference', () => {
  it('transpose of uneven shapes', async () => {
    const rng = mulberry32(24);
    for (const [R, C] of [[1, 1], [17, 5], [40, 33]] as const) {
      const x = randomFloats(R * C, rng);
      const out = env.gpu.allocate(R * C * 4);
      const batch = env.gpu.batch('test');
      (await Transpose.create(env.gpu)).encode(batch, { x: env.gpu.upload(x), out }, { R, C });
      batch.submit();
      expect(maxScaledError(new Float32Array(await env.gpu.read(out, R * C * 4)), transposeRef(x, R, C))).toBe(0);
    }
  });
});

// The column-block copy/add (LoRA deltas into fused projections) against its f64 reference (src/kernels/add/ref.ts).
import { describe, expect, it } from 'vitest';
import { Columns, type ColumnsShape } from '../../src/kernels/add/add.js';
import { columnsRef } from '../../src/kernels/add/ref.js';
import { runKernel, withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

describe('Columns vs its f64 reference', () => {
  const cases: [string, ColumnsShape][] = [
    ['add a scaled block into the middle columns (beta 1)', { T: 7, width: 70, ldx: 80, xOff: 5, ldo: 200, oOff: 64, beta: 1, scale: 0.5 }],
    ['extract a block, overwriting (beta 0)', { T: 3, width: 9, ldx: 9, xOff: 0, ldo: 30, oOff: 21, beta: 0, scale: 1 }],
    ['blend with beta and scale both away from 1', { T: 4, width: 130, ldx: 130, xOff: 0, ldo: 130, oOff: 0, beta: 0.25, scale: -2 }],
  ];
  for (const [name, s] of cases) {
    it(`${name}: columns outside the block are kept`, async () => {
      const rng = mulberry32(s.width * 10 + s.T);
      const [x, out0] = [randomFloats(s.T * s.ldx, rng), randomFloats(s.T * s.ldo, rng)];
      const kernel = await Columns.create(env.gpu);
      const out = env.gpu.upload(out0);
      const got = await runKernel(env.gpu, (b) => kernel.encode(b, { x: env.gpu.upload(x), out }, s), out, s.T * s.ldo);
      expect(maxScaledError(got, columnsRef(x, out0, s))).toBeLessThan(1e-6);
    });
  }
});

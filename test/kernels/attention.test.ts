// Attention's forward against its f64 reference (src/kernels/attention/ref.ts); the backward and
// the flash variants are in test/attention.test.ts.
import { describe, expect, it } from 'vitest';
import { Attention } from '../../src/kernels/attention/attention.js';
import { attentionRef } from '../../src/kernels/attention/ref.js';
import { rowInfo, runKernel, withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

describe('attention vs its f64 reference', () => {
  for (const [heads, kvHeads, d] of [[4, 2, 16], [14, 2, 64], [3, 3, 8]] as const) {
    it(`attention ${heads} heads / ${kvHeads} KV heads, d=${d}: ragged rows with a shared cached context`, async () => {
      const rng = mulberry32(heads * 100 + d);
      // Cache rows 0..8: sequence A (rows 0..8, 9 tokens). Sequence B: context = A's rows 0..3,
      // then its own rows 9..14 (positions 4..9).
      const [lenA, ctx, lenB] = [9, 4, 6];
      const rows = lenA + lenB;
      const q = randomFloats(rows * heads * d, rng);
      const k = randomFloats(rows * kvHeads * d, rng);
      const v = randomFloats(rows * kvHeads * d, rng);
      const info = rowInfo([
        ...Array.from({ length: lenA }, (_, i) => [0, i, i, 0, 0, 0]),
        ...Array.from({ length: lenB }, (_, i) => [0, ctx + i, lenA + i, 0, ctx, lenA]),
      ]);
      const out = env.gpu.allocate(rows * heads * d * 4);
      const kernel = await Attention.create(env.gpu);
      const b = { q: env.gpu.upload(q), kCache: env.gpu.upload(k), vCache: env.gpu.upload(v), rows: env.gpu.upload(info), out };
      const got = await runKernel(env.gpu, (batch) => kernel.encode(batch, b, { T: rows, heads, kvHeads, headDim: d }), out, rows * heads * d);
      const qa = heads * d;
      const ka = kvHeads * d;
      expect(maxScaledError(got.subarray(0, lenA * qa), attentionRef(q.subarray(0, lenA * qa), k.subarray(0, lenA * ka), v.subarray(0, lenA * ka), lenA, heads, kvHeads, d))).toBeLessThan(1e-5);
      // B as one sequence: A's first `ctx` rows, then B's own rows.
      const cat = (m: Float32Array, w: number) => Float32Array.from([...m.subarray(0, ctx * w), ...m.subarray(lenA * w, rows * w)]);
      const refB = attentionRef(cat(q, qa), cat(k, ka), cat(v, ka), ctx + lenB, heads, kvHeads, d);
      expect(maxScaledError(got.subarray(lenA * qa), refB.subarray(ctx * qa))).toBeLessThan(1e-5);
    });
  }
});

// Attention's forward against its f64 reference (src/kernels/attention/ref.ts); the backward and
// the flash variants are in test/attention.test.ts.
import { describe, expect, it } from 'vitest';
import { Attention } from '../../src/kernels/attention/attention.js';
import { attentionRef } from '../../src/kernels/attention/ref.js';
import { rowInfo, runKernel, withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';
import { AttentionBackward } from '../../src/kernels/attention/attention.js';
import { attentionBackwardRef } from '../../src/kernels/attention/ref.js';
import { checkFiniteDifferences } from '../helpers/gradcheck.js';

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

describe('attention backward vs its f64 reference (itself checked by finite differences)', () => {
  for (const [heads, kvHeads, d] of [[4, 2, 8], [3, 1, 16]] as const) {
    it(`attention ${heads}/${kvHeads} heads, d=${d}: dQ, dK, dV over two packed sequences`, async () => {
      const rng = mulberry32(heads * 31 + d);
      const lengths = [5, 7];
      const T = lengths[0]! + lengths[1]!;
      const [qw, kw] = [heads * d, kvHeads * d];
      const q = randomFloats(T * qw, rng);
      const k = randomFloats(T * kw, rng);
      const v = randomFloats(T * kw, rng);
      const dO = randomFloats(T * qw, rng);
      const slices = (x: Float32Array, w: number, s: number) => x.subarray((s ? lengths[0]! : 0) * w, (s ? T : lengths[0]!) * w);
      // Per-sequence references; the FD check on the first sequence's q and k.
      const refs = [0, 1].map((s) => attentionBackwardRef(slices(q, qw, s), slices(k, kw, s), slices(v, kw, s), slices(dO, qw, s), lengths[s]!, heads, kvHeads, d));
      const n0 = lengths[0]!;
      const q0 = Float64Array.from(slices(q, qw, 0));
      expect(checkFiniteDifferences((x) => attentionRef(x, slices(k, kw, 0), slices(v, kw, 0), n0, heads, kvHeads, d), q0, slices(dO, qw, 0), refs[0]!.dq, rng, 30)).toBeLessThan(1e-6);
      expect(checkFiniteDifferences((x) => attentionRef(q0, x, slices(v, kw, 0), n0, heads, kvHeads, d), Float64Array.from(slices(k, kw, 0)), slices(dO, qw, 0), refs[0]!.dk, rng, 30)).toBeLessThan(1e-6);
      expect(checkFiniteDifferences((x) => attentionRef(q0, slices(k, kw, 0), x, n0, heads, kvHeads, d), Float64Array.from(slices(v, kw, 0)), slices(dO, qw, 0), refs[0]!.dv, rng, 30)).toBeLessThan(1e-6);
      const o = Float32Array.from([0, 1].flatMap((s) => Array.from(attentionRef(slices(q, qw, s), slices(k, kw, s), slices(v, kw, s), lengths[s]!, heads, kvHeads, d))));
      const meta = new Uint32Array(T * 8);
      const ends = new Uint32Array(T);
      for (let t = 0; t < T; t++) {
        const start = t < n0 ? 0 : n0;
        meta.set([0, t - start, t, 0, 0, start, 0, 0], t * 8);
        ends[t] = t < n0 ? n0 : T;
      }
      const b = {
        q: env.gpu.upload(q), kCache: env.gpu.upload(k), vCache: env.gpu.upload(v), o: env.gpu.upload(o), dO: env.gpu.upload(dO), rows: env.gpu.upload(meta), ends: env.gpu.upload(ends),
        stats: env.gpu.allocate(T * heads * 8), dQ: env.gpu.allocate(T * qw * 4), dK: env.gpu.allocate(T * kw * 4), dV: env.gpu.allocate(T * kw * 4),
      };
      const kernel = await AttentionBackward.create(env.gpu);
      const batch = env.gpu.batch('test');
      kernel.encode(batch, b, { T, heads, kvHeads, headDim: d });
      batch.submit();
      const [dQ, dK, dV] = await Promise.all([[b.dQ, qw], [b.dK, kw], [b.dV, kw]].map(async ([buf, w]) => new Float32Array(await env.gpu.read(buf as GPUBuffer, T * (w as number) * 4))));
      const cat = (key: 'dq' | 'dk' | 'dv') => Float64Array.from([...refs[0]![key], ...refs[1]![key]]);
      expect(maxScaledError(dQ!, cat('dq'))).toBeLessThan(1e-5);
      expect(maxScaledError(dK!, cat('dk'))).toBeLessThan(1e-5);
      expect(maxScaledError(dV!, cat('dv'))).toBeLessThan(1e-5);
    });
  }
});

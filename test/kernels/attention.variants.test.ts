// Both attention variants ('rows', 'flash') forced through the same checks: the forward over packed
// rows with context ranges against an f64 reference over explicit key lists, the backward over
// training rows with shared prefixes against per-sequence f64 references (themselves checked by
// finite differences in test/kernels/attention.test.ts).
import { describe, expect, it } from 'vitest';
import { IgSearchError } from '../../src/errors.js';
import { Attention, AttentionBackward, AttentionDecode, type AttentionVariant, flashSuits, flashTile, pickAttentionVariant } from '../../src/kernels/attention/attention.js';
import { ropeRef } from '../../src/kernels/rope/ref.js';
import { ropeTable } from '../../src/kernels/rope/rope.js';
import { attentionBackwardRef } from '../../src/kernels/attention/ref.js';
import { packTrainingRows, ROW_FIELDS } from '../../src/model/rows.js';
import { withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

const VARIANTS: AttentionVariant[] = ['rows', 'flash'];

/** f64 attention of one query over the listed cache slots (already rotated, unscaled). */
function attendRef(q: ArrayLike<number>, qAt: number, k: ArrayLike<number>, v: ArrayLike<number>, slots: number[], kvAt: (slot: number) => number, d: number): Float64Array {
  const scores = slots.map((slot) => {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += q[qAt + i]! * k[kvAt(slot) + i]!;
    return dot / Math.sqrt(d);
  });
  const max = Math.max(...scores);
  const weights = scores.map((s) => Math.exp(s - max));
  const sum = weights.reduce((a, b) => a + b, 0);
  const out = new Float64Array(d);
  slots.forEach((slot, n) => {
    for (let i = 0; i < d; i++) out[i]! += (weights[n]! / sum) * v[kvAt(slot) + i]!;
  });
  return out;
}

async function readAll(buffers: GPUBuffer[], lengths: number[]): Promise<Float32Array[]> {
  return Promise.all(buffers.map(async (b, i) => new Float32Array(await env.gpu.read(b, lengths[i]! * 4))));
}

describe('attention variants', () => {
  // Cache slots 0..39 hold earlier context (two document ranges); rows then write slots 40.. in
  // sequences of mixed lengths, some attending to one or two context ranges, ending with single-row
  // sequences (as a decode step) — so tiles of 64 rows cover several sequences and every kind of span.
  for (const [heads, kvHeads, d] of [[4, 2, 16], [14, 2, 64], [2, 1, 128], [2, 2, 256]] as const) {
    it(`forward ${heads}/${kvHeads} heads, d=${d}: packed sequences over context ranges, both variants`, async () => {
      const rng = mulberry32(heads * 7 + d);
      const cached = 40;
      const lengths = d === 256 ? [30, 1, 45, 1, 1] : [70, 1, 23, 64, 5, 1, 1, 1, 40];
      const T = lengths.reduce((a, b) => a + b, 0);
      const slotsTotal = cached + T;
      const q = randomFloats(T * heads * d, rng);
      const k = randomFloats(slotsTotal * kvHeads * d, rng);
      const v = randomFloats(slotsTotal * kvHeads * d, rng);
      const info = new Uint32Array(T * ROW_FIELDS);
      const keysOf: number[][] = [];
      let row = 0;
      lengths.forEach((length, s) => {
        const ctx: [number, number] = s % 3 === 0 ? [0, 0] : [s % 5, 7 + s];
        const ctx2: [number, number] = s % 2 === 0 ? [20 + s, 3 + (s % 4)] : [0, 0];
        const selfStart = cached + row;
        for (let n = 0; n < length; n++, row++) {
          const slot = cached + row;
          info.set([0, n, slot, ctx[0], ctx[1], selfStart, ctx2[0], ctx2[1]], row * ROW_FIELDS);
          const range = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);
          keysOf.push([...range(ctx[0], ctx[1]), ...range(ctx2[0], ctx2[1]), ...range(selfStart, slot - selfStart + 1)]);
        }
      });
      const kvAt = (h: number) => (slot: number) => (slot * kvHeads + h) * d;
      const expected = new Float64Array(T * heads * d);
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < heads; h++) expected.set(attendRef(q, (t * heads + h) * d, k, v, keysOf[t]!, kvAt(Math.floor(h / (heads / kvHeads))), d), (t * heads + h) * d);
      }
      const inputs = { q: env.gpu.upload(q), kCache: env.gpu.upload(k), vCache: env.gpu.upload(v), rows: env.gpu.upload(info) };
      for (const variant of VARIANTS) {
        const kernel = await Attention.create(env.gpu, { headDim: d, variant });
        expect(kernel.variant).toBe(variant);
        const out = env.gpu.allocate(T * heads * d * 4);
        const batch = env.gpu.batch('test');
        kernel.encode(batch, { ...inputs, out }, { T, heads, kvHeads, headDim: d });
        batch.submit();
        const [got] = await readAll([out], [T * heads * d]);
        expect(maxScaledError(got!, expected), variant).toBeLessThan(1e-5);
      }
    });
  }

  // Training rows: a group of three sequences sharing a 6-token prompt (5 shared rows, attended to as
  // a context range), and a 75-token sequence of its own, so tiles span the shared rows, the group's
  // members and two workgroups of one sequence.
  for (const [heads, kvHeads, d] of [[4, 2, 8], [2, 1, 64]] as const) {
    it(`backward ${heads}/${kvHeads} heads, d=${d}: shared prefixes and a long sequence, both variants`, async () => {
      const rng = mulberry32(heads * 13 + d);
      const prompt = [1, 2, 3, 4, 5, 6];
      const sequences = [[...prompt, 7, 8, 9], [...prompt, 10, 11, 12, 13, 14, 15, 16], [...prompt, 17], Array.from({ length: 75 }, (_, i) => i % 50)];
      const { T, meta, ends, rowOf } = packTrainingRows(sequences, [{ count: 3, prefix: prompt.length }, { count: 1, prefix: 0 }], 64, 128);
      const [qw, kw] = [heads * d, kvHeads * d];
      const q = randomFloats(T * qw, rng);
      const k = randomFloats(T * kw, rng);
      const v = randomFloats(T * kw, rng);
      const dO = randomFloats(T * qw, rng);
      // Per sequence, its rows in order; a shared row's upstream gradient goes to the group's first
      // sequence only, so that summing the per-sequence gradients over rows gives the packed ones.
      const gather = (x: Float32Array, w: number, rowsOf: number[], keep: (n: number) => boolean = () => true) =>
        Float64Array.from(rowsOf.flatMap((r, n) => (keep(n) ? Array.from(x.subarray(r * w, (r + 1) * w)) : new Array<number>(w).fill(0))));
      const expected = { dq: new Float64Array(T * qw), dk: new Float64Array(T * kw), dv: new Float64Array(T * kw) };
      const o = new Float32Array(T * qw);
      sequences.forEach((seq, s) => {
        const rowsOf = Array.from({ length: seq.length - 1 }, (_, n) => rowOf(s, n)).concat(rowOf(s, seq.length - 1));
        const shared = (n: number) => s > 0 && s < 3 && n < prompt.length - 1;
        const ref = attentionBackwardRef(gather(q, qw, rowsOf), gather(k, kw, rowsOf), gather(v, kw, rowsOf), gather(dO, qw, rowsOf, (n) => !shared(n)), rowsOf.length, heads, kvHeads, d);
        rowsOf.forEach((r, n) => {
          for (let i = 0; i < qw; i++) expected.dq[r * qw + i]! += ref.dq[n * qw + i]!;
          for (let i = 0; i < kw; i++) {
            expected.dk[r * kw + i]! += ref.dk[n * kw + i]!;
            expected.dv[r * kw + i]! += ref.dv[n * kw + i]!;
          }
        });
        // The forward output the backward reads, from the same per-row key lists.
        rowsOf.forEach((r, n) => {
          for (let h = 0; h < heads; h++) o.set(attendRef(q, (r * heads + h) * d, k, v, rowsOf.slice(0, n + 1), (slot) => (slot * kvHeads + Math.floor(h / (heads / kvHeads))) * d, d), (r * heads + h) * d);
        });
      });
      const inputs = { q: env.gpu.upload(q), kCache: env.gpu.upload(k), vCache: env.gpu.upload(v), o: env.gpu.upload(o), dO: env.gpu.upload(dO), rows: env.gpu.upload(meta), ends: env.gpu.upload(ends) };
      for (const variant of VARIANTS) {
        const kernel = await AttentionBackward.create(env.gpu, { headDim: d, variant });
        const out = { stats: env.gpu.allocate(T * heads * 8), dQ: env.gpu.allocate(T * qw * 4), dK: env.gpu.allocate(T * kw * 4), dV: env.gpu.allocate(T * kw * 4) };
        const batch = env.gpu.batch('test');
        kernel.encode(batch, { ...inputs, ...out }, { T, heads, kvHeads, headDim: d });
        batch.submit();
        const [dQ, dK, dV] = await readAll([out.dQ, out.dK, out.dV], [T * qw, T * kw, T * kw]);
        expect(maxScaledError(dQ!, expected.dq), `${variant} dQ`).toBeLessThan(1e-5);
        expect(maxScaledError(dK!, expected.dk), `${variant} dK`).toBeLessThan(1e-5);
        expect(maxScaledError(dV!, expected.dv), `${variant} dV`).toBeLessThan(1e-5);
      }
    });
  }

  // A decode step of 5 rows, each after up to 230 cached keys (several blocks of 64 for the flash
  // kernel) in a context range, a second one and its own segment, heads of 128 (two elements per
  // lane) with Qwen3's q/k norm: the fused projection, cache write and attention against f64.
  for (const qkNorm of [false, true]) {
    it(`decode ${qkNorm ? 'with' : 'without'} q/k norm, 4/2 heads of 128, long contexts: both variants`, async () => {
      const [heads, kvHeads, d, theta, eps] = [4, 2, 128, 10000, 1e-6];
      const rng = mulberry32(qkNorm ? 5 : 6);
      const width = (heads + 2 * kvHeads) * d;
      const T = 5;
      const slots = 600;
      const steps: { ctx: [number, number]; ctx2: [number, number]; selfStart: number; slot: number }[] = [
        { ctx: [0, 100], ctx2: [100, 50], selfStart: 300, slot: 380 },
        { ctx: [0, 100], ctx2: [150, 30], selfStart: 400, slot: 401 },
        { ctx: [0, 0], ctx2: [0, 0], selfStart: 450, slot: 450 },
        { ctx: [200, 64], ctx2: [0, 0], selfStart: 500, slot: 563 },
        { ctx: [0, 1], ctx2: [0, 0], selfStart: 570, slot: 571 },
      ];
      const qkv = randomFloats(T * width, rng);
      const bias = randomFloats(width, rng).map((x) => x * 0.1);
      const normWeight = randomFloats(2 * d, rng).map((x) => 1 + 0.5 * x);
      const kCache = randomFloats(slots * kvHeads * d, rng);
      const vCache = randomFloats(slots * kvHeads * d, rng);
      const info = new Uint32Array(T * ROW_FIELDS);
      steps.forEach((r, t) => info.set([0, r.slot - r.selfStart + r.ctx[1] + r.ctx2[1], r.slot, r.ctx[0], r.ctx[1], r.selfStart, r.ctx2[0], r.ctx2[1]], t * ROW_FIELDS));
      // f64: the projection of one head (norm, bias, RoPE), then attention over the row's slots.
      const project = (t: number, col: number, w0: number) => {
        let x = Array.from(qkv.subarray(t * width + col * d, t * width + (col + 1) * d));
        if (qkNorm) {
          const r = 1 / Math.sqrt(x.reduce((a, v) => a + v * v, 0) / d + eps);
          x = x.map((v, i) => v * r * normWeight[w0 + i]!);
        }
        return ropeRef(x.map((v, i) => v + bias[col * d + i]!), info[t * ROW_FIELDS + 1]!, theta);
      };
      const expected = new Float64Array(T * heads * d);
      const keys = Float64Array.from(kCache);
      const values = Float64Array.from(vCache);
      steps.forEach((r, t) => {
        for (let g = 0; g < kvHeads; g++) {
          keys.set(project(t, heads + g, d), (r.slot * kvHeads + g) * d);
          const v = heads + kvHeads + g;
          values.set(Array.from({ length: d }, (_, i) => qkv[t * width + v * d + i]! + bias[v * d + i]!), (r.slot * kvHeads + g) * d);
        }
        const range = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);
        const list = [...range(...r.ctx), ...range(...r.ctx2), ...range(r.selfStart, r.slot - r.selfStart + 1)];
        for (let h = 0; h < heads; h++) {
          const g = Math.floor(h / (heads / kvHeads));
          expected.set(attendRef(project(t, h, 0), 0, keys, values, list, (slot) => (slot * kvHeads + g) * d, d), (t * heads + h) * d);
        }
      });
      for (const variant of VARIANTS) {
        const kernel = await AttentionDecode.create(env.gpu, { headDim: d, variant });
        expect(kernel.variant).toBe(variant);
        const b = {
          qkv: env.gpu.upload(qkv), bias: env.gpu.upload(bias), qkNormWeight: env.gpu.upload(normWeight), table: env.gpu.upload(ropeTable(1024, d, theta)), rows: env.gpu.upload(info),
          kCache: env.gpu.upload(kCache), vCache: env.gpu.upload(vCache), out: env.gpu.allocate(T * heads * d * 4),
        };
        const batch = env.gpu.batch('test');
        kernel.encode(batch, b, { T, heads, kvHeads, headDim: d, qkNormEps: qkNorm ? eps : undefined });
        batch.submit();
        const [out, kc] = await readAll([b.out, b.kCache], [T * heads * d, slots * kvHeads * d]);
        // RoPE angles are fp32 products in the kernel's table, exact here: ~pos · ulp drift (pos ≤ 230).
        expect(maxScaledError(out!, expected), `${variant} output`).toBeLessThan(5e-5);
        expect(maxScaledError(kc!, keys), `${variant} key cache`).toBeLessThan(5e-5);
      }
    });
  }

  it('picks flash for head dims it takes, and per forward layout: not for a tile of unrelated rows with long distinct contexts', async () => {
    expect([64, 128, 6].map((d) => pickAttentionVariant(d))).toEqual(['flash', 'flash', 'rows']);
    expect(pickAttentionVariant()).toBe('rows');
    expect([64, 128, 256, 4].map(flashTile)).toEqual([16, 8, 4, 64]);
    const layout = (rows: { slot: number; selfStart: number; ctx?: [number, number]; ctx2?: [number, number] }[]) => {
      const info = new Uint32Array(rows.length * ROW_FIELDS);
      rows.forEach((r, i) => info.set([0, 0, r.slot, r.ctx?.[0] ?? 0, r.ctx?.[1] ?? 0, r.selfStart, r.ctx2?.[0] ?? 0, r.ctx2?.[1] ?? 0], i * ROW_FIELDS));
      return info;
    };
    // A prefill of one 300-token sequence; 64 answers of 4 tokens after one shared 500-token context;
    // 64 rows in 8 groups, each after its own 500-token context (flash walks 8 contexts per tile);
    // 64 single rows each after its own 500-token context (flash would walk 64).
    const prefill = layout(Array.from({ length: 300 }, (_, t) => ({ slot: t, selfStart: 0 })));
    const answers = layout(Array.from({ length: 256 }, (_, t) => ({ slot: 500 + t, selfStart: 500 + t - (t % 4), ctx: [0, 500] })));
    const grouped = layout(Array.from({ length: 64 }, (_, t) => ({ slot: 8 * 500 + t, selfStart: 8 * 500 + t - (t % 8), ctx: [500 * Math.floor(t / 8), 500] })));
    const scattered = layout(Array.from({ length: 64 }, (_, t) => ({ slot: 64 * 500 + t, selfStart: 64 * 500 + t, ctx: [500 * t, 500] })));
    expect([prefill, answers, grouped, scattered].map((info) => flashSuits(info, ROW_FIELDS))).toEqual([true, true, false, false]); // a GPU's bound, 2
    expect([prefill, answers, grouped, scattered].map((info) => flashSuits(info, ROW_FIELDS, 16))).toEqual([true, true, true, false]); // a CPU adapter's
    const picking = await Attention.create(env.gpu, { headDim: 16 });
    expect([picking.variant, picking.variantFor(prefill, ROW_FIELDS), picking.variantFor(grouped, ROW_FIELDS), picking.variantFor(scattered, ROW_FIELDS)]).toEqual(
      ['flash', 'flash', env.gpu.adapter.isSoftware ? 'flash' : 'rows', 'rows'],
    );
    const forced = await Attention.create(env.gpu, { headDim: 16, variant: 'flash' });
    expect(forced.variantFor(scattered, ROW_FIELDS)).toBe('flash');
    await expect(Attention.create(env.gpu, { headDim: 6, variant: 'flash' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(AttentionBackward.create(env.gpu, { variant: 'flash' })).rejects.toBeInstanceOf(IgSearchError);
    for (const create of [() => Attention.create(env.gpu, { headDim: 16, variant: 'tiled' as AttentionVariant }), () => AttentionDecode.create(env.gpu, { headDim: 16, variant: 'tiled' as AttentionVariant })]) {
      await expect(create()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('"tiled"') });
    }
    const kernel = await Attention.create(env.gpu, { headDim: 16, variant: 'flash' });
    const buffer = env.gpu.allocate(4096);
    const buffers = { q: buffer, kCache: buffer, vCache: buffer, rows: buffer, out: buffer };
    expect(() => kernel.encode(env.gpu.batch('test'), buffers, { T: 1, heads: 1, kvHeads: 1, headDim: 32 })).toThrow(/compiled for head dim 16/);
    expect(() => kernel.encode(env.gpu.batch('test'), buffers, { T: 1, heads: 1, kvHeads: 1, headDim: 16 }, 'rows')).toThrow(/variant 'rows' was not compiled/);
  });
});

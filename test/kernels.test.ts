// Each forward kernel on random shapes against its f64 reference (src/kernels/<op>/ref.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu } from '../src/entry/node.js';
import { Attention } from '../src/kernels/attention/attention.js';
import { attentionRef } from '../src/kernels/attention/ref.js';
import { Embedding } from '../src/kernels/embedding/embedding.js';
import { embeddingRef } from '../src/kernels/embedding/ref.js';
import { LogsoftmaxGather } from '../src/kernels/logsoftmax/logsoftmax.js';
import { logsoftmaxGatherRef } from '../src/kernels/logsoftmax/ref.js';
import { rmsnormRef } from '../src/kernels/rmsnorm/ref.js';
import { Rmsnorm } from '../src/kernels/rmsnorm/rmsnorm.js';
import { ropeRef } from '../src/kernels/rope/ref.js';
import { Rope, ropeTable } from '../src/kernels/rope/rope.js';
import { swigluRef } from '../src/kernels/swiglu/ref.js';
import { Swiglu } from '../src/kernels/swiglu/swiglu.js';
import { maxScaledError, mulberry32, randomFloats } from './helpers/random.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await Gpu.request();
});
afterAll(() => gpu?.destroy());

/** Rows metadata as the model packs it: token, pos, kvRow, ctxStart, ctxLen, selfStart. */
function rowInfo(rows: number[][]): Uint32Array {
  const out = new Uint32Array(rows.length * 8);
  rows.forEach((r, i) => out.set(r, i * 8));
  return out;
}

async function run(encode: (batch: ReturnType<Gpu['batch']>) => void, out: GPUBuffer, n: number): Promise<Float32Array> {
  const batch = gpu.batch('test');
  encode(batch);
  batch.submit();
  return new Float32Array(await gpu.read(out, n * 4));
}

describe('forward kernels vs f64 references', () => {
  it('embedding over two vocabulary shards', async () => {
    const rng = mulberry32(1);
    const [V, H] = [300, 37];
    const table = randomFloats(V * H, rng);
    const tokens = Array.from({ length: 29 }, () => Math.floor(rng() * V));
    const info = gpu.upload(rowInfo(tokens.map((t) => [t])));
    const out = gpu.allocate(tokens.length * H * 4);
    const kernel = await Embedding.create(gpu);
    const shards = [{ rowStart: 0, rows: 128 }, { rowStart: 128, rows: 172 }].map((s) => ({ ...s, buffer: gpu.upload(table.subarray(s.rowStart * H, (s.rowStart + s.rows) * H)) }));
    const got = await run((b) => shards.forEach((s) => kernel.encode(b, { table: s.buffer, rows: info, out }, { T: tokens.length, H, rowStart: s.rowStart, rows: s.rows })), out, tokens.length * H);
    expect(maxScaledError(got, embeddingRef(table, H, tokens))).toBe(0);
  });

  for (const [T, H] of [[1, 8], [7, 64], [33, 200], [5, 896]] as const) {
    it(`RMSNorm ${T}×${H}, direct and through a row index`, async () => {
      const rng = mulberry32(T * H);
      const x = randomFloats(T * H, rng);
      const w = randomFloats(H, rng);
      const index = Uint32Array.from({ length: T }, (_, i) => T - 1 - i);
      const [bx, bw, bi, out] = [gpu.upload(x), gpu.upload(w), gpu.upload(index), gpu.allocate(T * H * 4)];
      const expected = rmsnormRef(x, w, H, 1e-6);
      const k0 = await Rmsnorm.create(gpu);
      const direct = await run((b) => k0.encode(b, { x: bx, weight: bw, index: bi, out }, { T, H, eps: 1e-6 }), out, T * H);
      expect(maxScaledError(direct, expected)).toBeLessThan(1e-5);
      const k = await Rmsnorm.create(gpu, { indirect: true });
      const reversed = await run((b) => k.encode(b, { x: bx, weight: bw, index: bi, out }, { T, H, eps: 1e-6 }), out, T * H);
      for (let r = 0; r < T; r++) expect(maxScaledError(reversed.subarray(r * H, (r + 1) * H), expected.subarray((T - 1 - r) * H, (T - r) * H))).toBeLessThan(1e-5);
    });
  }

  it('RoPE + bias: q rotated in place, k and v scattered to their cache rows', async () => {
    const rng = mulberry32(3);
    const [T, heads, kvHeads, d, theta] = [6, 4, 2, 16, 10000];
    const width = (heads + 2 * kvHeads) * d;
    const qkv = randomFloats(T * width, rng);
    const bias = randomFloats(width, rng);
    const positions = [0, 1, 2, 7, 100, 4095];
    const slots = [5, 3, 0, 1, 4, 2];
    const info = gpu.upload(rowInfo(positions.map((p, i) => [0, p, slots[i]!])));
    const [q, kc, vc] = [gpu.allocate(T * heads * d * 4), gpu.allocate(T * kvHeads * d * 4), gpu.allocate(T * kvHeads * d * 4)];
    const kernel = await Rope.create(gpu);
    const b = { qkv: gpu.upload(qkv), bias: gpu.upload(bias), rows: info, table: gpu.upload(ropeTable(4096, d, theta)), q, kCache: kc, vCache: vc };
    const gotQ = await run((batch) => kernel.encode(batch, b, { T, heads, kvHeads, headDim: d }), q, T * heads * d);
    const gotK = new Float32Array(await gpu.read(kc, T * kvHeads * d * 4));
    const gotV = new Float32Array(await gpu.read(vc, T * kvHeads * d * 4));
    for (let t = 0; t < T; t++) {
      // The kernel's angles are fp32 products, as HF computes them; the reference's are exact, so
      // they drift apart by about pos · ulp(θ^(−2j/d)).
      const tolerance = 2e-5 + 6e-8 * positions[t]!;
      const head = (h: number) => Array.from({ length: d }, (_, i) => qkv[t * width + h * d + i]! + bias[h * d + i]!);
      for (let h = 0; h < heads; h++) expect(maxScaledError(gotQ.subarray((t * heads + h) * d, (t * heads + h + 1) * d), ropeRef(head(h), positions[t]!, theta))).toBeLessThan(tolerance);
      for (let h = 0; h < kvHeads; h++) {
        const at = (slots[t]! * kvHeads + h) * d;
        expect(maxScaledError(gotK.subarray(at, at + d), ropeRef(head(heads + h), positions[t]!, theta))).toBeLessThan(tolerance);
        expect(maxScaledError(gotV.subarray(at, at + d), head(heads + kvHeads + h))).toBeLessThan(1e-6);
      }
    }
  });

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
      const out = gpu.allocate(rows * heads * d * 4);
      const kernel = await Attention.create(gpu);
      const b = { q: gpu.upload(q), kCache: gpu.upload(k), vCache: gpu.upload(v), rows: gpu.upload(info), out };
      const got = await run((batch) => kernel.encode(batch, b, { T: rows, heads, kvHeads, headDim: d }), out, rows * heads * d);
      const qa = heads * d;
      const ka = kvHeads * d;
      expect(maxScaledError(got.subarray(0, lenA * qa), attentionRef(q.subarray(0, lenA * qa), k.subarray(0, lenA * ka), v.subarray(0, lenA * ka), lenA, heads, kvHeads, d))).toBeLessThan(1e-5);
      // B as one sequence: A's first `ctx` rows, then B's own rows.
      const cat = (m: Float32Array, w: number) => Float32Array.from([...m.subarray(0, ctx * w), ...m.subarray(lenA * w, rows * w)]);
      const refB = attentionRef(cat(q, qa), cat(k, ka), cat(v, ka), ctx + lenB, heads, kvHeads, d);
      expect(maxScaledError(got.subarray(lenA * qa), refB.subarray(ctx * qa))).toBeLessThan(1e-5);
    });
  }

  it('SwiGLU', async () => {
    const rng = mulberry32(4);
    const [T, I] = [9, 77];
    const gu = randomFloats(T * 2 * I, rng).map((x) => x * 12);
    const out = gpu.allocate(T * I * 4);
    const kernel = await Swiglu.create(gpu);
    const got = await run((b) => kernel.encode(b, { gu: gpu.upload(gu), out }, { T, I }), out, T * I);
    expect(maxScaledError(got, swigluRef(gu, T, I))).toBeLessThan(1e-6);
  });

  it('online log-softmax + gather over uneven vocabulary chunks equals the full log-softmax', async () => {
    const rng = mulberry32(5);
    const [T, V] = [11, 1000];
    const logits = randomFloats(T * V, rng).map((x) => x * 30);
    const targets = Uint32Array.from({ length: T }, () => Math.floor(rng() * V));
    const kernel = await LogsoftmaxGather.create(gpu);
    const [bt, state, out] = [gpu.upload(targets), gpu.allocate(T * 16), gpu.allocate((T + 3) * 4)];
    const bounds = [0, 64, 300, 301, 1000];
    const batch = gpu.batch('test');
    for (let c = 0; c + 1 < bounds.length; c++) {
      const [from, to] = [bounds[c]!, bounds[c + 1]!];
      const chunk = new Float32Array(T * (to - from));
      for (let t = 0; t < T; t++) chunk.set(logits.subarray(t * V + from, t * V + to), t * (to - from));
      kernel.encode(batch, { logits: gpu.upload(chunk), targets: bt, state, out }, { T, cols: to - from, colStart: from, first: c === 0, last: c + 2 === bounds.length, outBase: 3 });
    }
    batch.submit();
    const got = new Float32Array(await gpu.read(out, (T + 3) * 4)).subarray(3);
    expect(maxScaledError(got, logsoftmaxGatherRef(logits, V, targets))).toBeLessThan(1e-5);
  });
});

import { describe, expect, it } from 'vitest';
import { requireF16 } from '../helpers/f16.js';
import { Gpu, IgSearchError } from '../../src/entry/node.js';
import { f32ToBf16, f32ToF16, Matmul, matmul, matmulRef, pickMatmulVariant, tensorToF32, type MatmulShape, type MatmulVariant } from '../../src/internals.js';
import { withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

// Shapes chosen to hit every edge: below one tile, not a multiple of any tile (16, 64, 8 lanes),
// exactly one tile, K = 1, long K, batches with and without a shared (broadcast) B.
const SHAPES: MatmulShape[] = [
  { M: 1, N: 1, K: 1 },
  { M: 3, N: 5, K: 7 },
  { M: 16, N: 64, K: 16 },
  { M: 17, N: 65, K: 33 },
  { M: 64, N: 64, K: 64 },
  { M: 70, N: 130, K: 129 },
  { M: 150, N: 260, K: 41 }, // more than one 128×128 tile each way
  { M: 5, N: 200, K: 3 },
  { M: 33, N: 9, K: 300 },
  { M: 9, N: 31, K: 20, batch: 3 },
  { M: 19, N: 67, K: 24, batch: 2, broadcastB: true },
];

function variants(): MatmulVariant[] {
  // The GPU variants (tiled, wide, gemv) run here too: CI covers code that only a GPU would pick.
  return env.gpu.features.has('subgroups') ? ['tiled', 'wide', 'gemv', 'subgroup8', 'blocked', 'naive'] : ['tiled', 'wide', 'gemv', 'blocked', 'naive'];
}

describe('matmul matches the f64 reference', () => {
  for (const transposeB of [false, true]) {
    for (const base of SHAPES) {
      const shape = { ...base, transposeB };
      const label = `${shape.batch ?? 1}×${shape.M}×${shape.K}·${shape.K}×${shape.N}${transposeB ? 'ᵀ' : ''}${shape.broadcastB ? ' shared B' : ''}`;
      it(`every variant, ${label}`, async () => {
        const rng = mulberry32(shape.M * 1000 + shape.N * 10 + shape.K);
        const batch = shape.batch ?? 1;
        const a = randomFloats(batch * shape.M * shape.K, rng);
        const b = randomFloats((shape.broadcastB ? 1 : batch) * shape.K * shape.N, rng);
        const expected = matmulRef(a, b, shape);
        for (const variant of variants()) {
          const c = await matmul(env.gpu, a, b, shape, { variant });
          // fp32 accumulation over K terms of size ≤ 1: error grows like sqrt(K)·2^-24.
          expect(maxScaledError(c, expected), variant).toBeLessThan(1e-5 * Math.sqrt(shape.K) + 1e-6);
        }
      });
    }
  }

  it('f16 B (weights) and C += A·B, every variant', async (ctx) => {
    requireF16(env.gpu.hasF16, () => ctx.skip());
    for (const shape of [{ M: 17, N: 65, K: 33, transposeB: true }, { M: 9, N: 31, K: 20, batch: 3 }] as MatmulShape[]) {
      const rng = mulberry32(shape.M + shape.N);
      const batch = shape.batch ?? 1;
      const a = randomFloats(batch * shape.M * shape.K, rng);
      const b16 = f32ToF16(randomFloats(batch * shape.K * shape.N, rng));
      const b = tensorToF32(new Uint8Array(b16.buffer), { name: 'b', dtype: 'F16', shape: [b16.length], begin: 0, end: 2 * b16.length });
      const c0 = randomFloats(batch * shape.M * shape.N, rng);
      const product = matmulRef(a, b, shape);
      const expected = product.map((v, i) => v + c0[i]!);
      for (const variant of variants()) {
        const mm = await Matmul.create(env.gpu, { variant, transposeB: shape.transposeB ?? false, accumulate: true, dtypeB: 'f16' });
        const [ba, bb, bc] = [env.gpu.upload(a), env.gpu.upload(b16), env.gpu.upload(c0)];
        const run = env.gpu.batch('test');
        mm.encode(run, ba, bb, bc, shape);
        run.submit();
        const c = new Float32Array(await env.gpu.read(bc, c0.length * 4));
        expect(maxScaledError(c, expected), variant).toBeLessThan(1e-5 * Math.sqrt(shape.K) + 1e-6);
        for (const x of [ba, bb, bc]) env.gpu.pool.release(x);
      }
    }
  });

  it('f16 compute (wide): within f16 summation error of the f64 product of the f16-rounded operands; refused where it cannot run', async (ctx) => {
    requireF16(env.gpu.hasF16, () => ctx.skip());
    const half = (x: Float32Array) => {
      const h = f32ToF16(x);
      return tensorToF32(new Uint8Array(h.buffer), { name: 'x', dtype: 'F16', shape: [h.length], begin: 0, end: 2 * h.length });
    };
    for (const shape of [{ M: 150, N: 260, K: 41 }, { M: 70, N: 130, K: 300, transposeB: true }, { M: 9, N: 31, K: 20, batch: 3 }] as MatmulShape[]) {
      const rng = mulberry32(shape.M * 3 + shape.K);
      const batch = shape.batch ?? 1;
      const a = randomFloats(batch * shape.M * shape.K, rng);
      const b = randomFloats(batch * shape.K * shape.N, rng);
      // On operands already in f16 the staging is exact and what remains is each slab's 8 products
      // summed in f16: K/8 partials, each with 8 roundings of 2^-11 relative, add up like a random
      // walk to ~2^-11·√(8K) (measured 1.6e-3, 3.9e-3, 7.4e-3 here, a third to a quarter of that) —
      // far more than an f32 kernel's error (the bound of the f32 tests), which shows f16 arithmetic ran.
      const bound = 2 ** -11 * Math.sqrt(8 * shape.K);
      const [ha, hb] = [half(a), half(b)];
      const onHalves = maxScaledError(await matmul(env.gpu, ha, hb, shape, { variant: 'wide', compute: 'f16' }), matmulRef(ha, hb, shape));
      expect(onHalves, JSON.stringify(shape)).toBeLessThan(bound);
      expect(onHalves, JSON.stringify(shape)).toBeGreaterThan(1e-5 * Math.sqrt(shape.K) + 1e-6);
      // On f32 operands the staging rounds each operand too (measured 2.2e-3 to 7.7e-3).
      expect(maxScaledError(await matmul(env.gpu, a, b, shape, { variant: 'wide', compute: 'f16' }), matmulRef(a, b, shape)), JSON.stringify(shape)).toBeLessThan(1.5 * bound);
    }
    await expect(Matmul.create(env.gpu, { variant: 'tiled', compute: 'f16' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(Matmul.create(env.gpu, { compute: 'f64' as 'f16' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('bf16 B (packed two per word) equals the f32 kernel on the same values exactly, every variant, odd sizes', async () => {
    for (const shape of [{ M: 17, N: 65, K: 33, transposeB: true }, { M: 9, N: 31, K: 21, batch: 3 }] as MatmulShape[]) {
      const rng = mulberry32(shape.M * 7 + shape.N);
      const batch = shape.batch ?? 1;
      const a = randomFloats(batch * shape.M * shape.K, rng);
      const bf = f32ToBf16(randomFloats(batch * shape.K * shape.N, rng));
      const b = tensorToF32(new Uint8Array(bf.buffer), { name: 'b', dtype: 'BF16', shape: [bf.length], begin: 0, end: 2 * bf.length });
      const packed = new Uint16Array(bf.length + (bf.length % 2)); // an odd count ends on a half word
      packed.set(bf);
      for (const variant of variants()) {
        const run = async (dtypeB: 'f32' | 'bf16', data: ArrayBufferView) => {
          const mm = await Matmul.create(env.gpu, { variant, transposeB: shape.transposeB ?? false, dtypeB });
          const [ba, bb, bc] = [env.gpu.upload(a), env.gpu.upload(data), env.gpu.allocate(batch * shape.M * shape.N * 4)];
          const pass = env.gpu.batch('test');
          mm.encode(pass, ba, bb, bc, shape);
          pass.submit();
          const c = new Float32Array(await env.gpu.read(bc, batch * shape.M * shape.N * 4));
          for (const x of [ba, bb, bc]) env.gpu.pool.release(x);
          return c;
        };
        const wide = await run('f32', b);
        expect(await run('bf16', packed), variant).toEqual(wide);
        expect(maxScaledError(wide, matmulRef(a, b, shape)), variant).toBeLessThan(1e-5 * Math.sqrt(shape.K) + 1e-6);
      }
    }
  });

  it('folded prologues — RMSNorm (direct and by row index) and SwiGLU before the product, with C += — match the f64 two-step reference, every variant', async () => {
    const eps = 1e-5;
    for (const shape of [{ M: 1, N: 9, K: 7 }, { M: 17, N: 130, K: 33 }, { M: 70, N: 65, K: 129 }] as MatmulShape[]) {
      const { M, N, K } = shape;
      const rng = mulberry32(M * 7 + K);
      const x = randomFloats(M * 2 * K, rng).map((v, i) => v * (1 + (i % 5))); // rows of different scales
      const g = randomFloats(K, rng).map((v) => 1 + v);
      const b = randomFloats(N * K, rng);
      const c0 = randomFloats(M * N, rng);
      const index = Uint32Array.from({ length: M }, (_, i) => (i * 5 + 3) % (2 * M)); // rows of a [2M, K] matrix
      const rms = (row: ArrayLike<number>) => 1 / Math.sqrt(Array.from(row).reduce((s, v) => s + v * v, 0) / K + eps);
      const normRows = (rows: number[]) => rows.flatMap((r) => { const row = x.subarray(r * K, r * K + K); const s = rms(row); return Array.from(row, (v, k) => v * s * g[k]!); });
      const silu = (v: number) => v / (1 + Math.exp(-v));
      const inputs = {
        norm: normRows(Array.from({ length: M }, (_, i) => i)),
        normIndirect: normRows(Array.from(index)),
        swiglu: Array.from({ length: M * K }, (_, e) => { const m = Math.floor(e / K), k = e % K; return silu(x[m * 2 * K + k]!) * x[m * 2 * K + K + k]!; }),
      };
      for (const [prologue, a] of Object.entries(inputs) as [keyof typeof inputs, number[]][]) {
        const expected = matmulRef(a, b, { ...shape, transposeB: true }).map((v, i) => v + c0[i]!);
        for (const variant of variants()) {
          const mm = await Matmul.create(env.gpu, { variant, transposeB: true, accumulate: true, prologue, normEps: eps });
          const [bx, bg, bb, bc, bi] = [env.gpu.upload(x), env.gpu.upload(g), env.gpu.upload(b), env.gpu.upload(c0), env.gpu.upload(index)];
          const run = env.gpu.batch('test');
          mm.encode(run, bx, bb, bc, { ...shape, transposeB: true }, { normWeight: bg, rowIndex: bi });
          run.submit();
          const c = new Float32Array(await env.gpu.read(bc, M * N * 4));
          expect(maxScaledError(c, expected), `${prologue} ${variant} ${M}×${N}×${K}`).toBeLessThan(1e-5 * Math.sqrt(K) + 1e-6);
          for (const buf of [bx, bg, bb, bc, bi]) env.gpu.pool.release(buf);
        }
      }
    }
    const mm = await Matmul.create(env.gpu, { transposeB: true, prologue: 'norm' });
    const a = env.gpu.upload(new Float32Array(6));
    expect(() => mm.encode(env.gpu.batch('test'), a, a, a, { M: 1, N: 1, K: 6, transposeB: true })).toThrow(/needs operands.normWeight/);
    env.gpu.pool.release(a);
  });

  it('K = 0 gives zeros and M = 0 or N = 0 gives an empty result', async () => {
    for (const variant of variants()) {
      const zeros = await matmul(env.gpu, new Float32Array(0), new Float32Array(0), { M: 3, N: 4, K: 0 }, { variant });
      expect(Array.from(zeros)).toEqual(new Array(12).fill(0));
      const empty = await matmul(env.gpu, new Float32Array(0), new Float32Array(8), { M: 0, N: 4, K: 2 }, { variant });
      expect(empty.length).toBe(0);
    }
  });

  it('picks subgroup8 on an 8-lane CPU adapter, blocked on other CPU adapters; on GPUs gemv for few rows of N×K weights, wide for many, tiled between', () => {
    const { isSoftware, subgroupMinSize, subgroupMaxSize } = env.gpu.adapter;
    const eightLanes = subgroupMinSize === 8 && subgroupMaxSize === 8 && env.gpu.features.has('subgroups');
    expect(pickMatmulVariant(env.gpu)).toBe(!isSoftware ? 'tiled' : eightLanes ? 'subgroup8' : 'blocked');
    // The GPU rule, on an adapter described as a discrete GPU (the choice reads only adapter info and limits).
    const discrete = { adapter: { ...env.gpu.adapter, isSoftware: false }, features: new Set<string>(), limits: { maxComputeWorkgroupsPerDimension: 65535 } } as unknown as Gpu;
    const pick = (M: number, N: number, transposeB: boolean) => pickMatmulVariant(discrete, { M, N, transposeB });
    expect([pick(1, 896, true), pick(16, 151936, true), pick(17, 896, true), pick(16, 896, false)]).toEqual(['gemv', 'gemv', 'tiled', 'tiled']);
    expect([pick(128, 128, true), pick(4096, 896, false), pick(4096, 64, true), pick(127, 4096, true)]).toEqual(['wide', 'wide', 'tiled', 'tiled']);
    expect(pick(1, 8 * 70000, true)).toBe('tiled'); // more column groups than one grid dimension holds
    expect(pickMatmulVariant(discrete)).toBe('tiled');
  });
});

describe('matmul rejects bad shapes with typed errors', () => {
  it('operand length not matching the shape names the operand', async () => {
    const err = await matmul(env.gpu, new Float32Array(5), new Float32Array(6), { M: 2, N: 3, K: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(IgSearchError);
    expect(err.code).toBe('SHAPE_MISMATCH');
    expect(err.message).toMatch(/A has 5 elements.*needs 4/);
  });

  it('negative or fractional dimensions are refused', async () => {
    for (const shape of [{ M: -1, N: 2, K: 2 }, { M: 1.5, N: 2, K: 2 }]) {
      const err = await matmul(env.gpu, new Float32Array(4), new Float32Array(4), shape).catch((e) => e);
      expect(err.code).toBe('SHAPE_MISMATCH');
      expect(err.message).toMatch(/M must be a non-negative integer/);
    }
  });

  it('a GPU buffer too small for the shape is refused before dispatch', async () => {
    const mm = await Matmul.create(env.gpu);
    const small = env.gpu.allocate(16, 'small');
    const big = env.gpu.allocate(4096, 'big');
    const batch = env.gpu.batch();
    expect(() => mm.encode(batch, small, big, big, { M: 16, N: 16, K: 16 })).toThrow(/buffer A \("small"\) holds 256 bytes/);
    batch.submit();
    env.gpu.pool.release(small);
    env.gpu.pool.release(big);
  });
});

// Backward kernels: GPU vs the f64 references, and the references vs central finite differences
// of the forward references (a random upstream gradient g: d(g · f(x))/dx).
import { describe, expect, it } from 'vitest';
import { LogsoftmaxGather, LogsoftmaxGatherBackward } from '../src/kernels/logsoftmax/logsoftmax.js';
import { logsoftmaxGatherBackwardRef, logsoftmaxGatherRef } from '../src/kernels/logsoftmax/ref.js';
import { rmsnormBackwardRef, rmsnormRef } from '../src/kernels/rmsnorm/ref.js';
import { RmsnormBackward } from '../src/kernels/rmsnorm/rmsnorm.js';
import { swigluBackwardRef, swigluRef } from '../src/kernels/swiglu/ref.js';
import { SwigluBackward } from '../src/kernels/swiglu/swiglu.js';
import { withGpu } from './helpers/gpu.js';
import { LinearBackward } from '../src/kernels/linear/linear.js';
import { matmulRef } from '../src/kernels/matmul/ref.js';
import { transposeRef } from '../src/kernels/transpose/ref.js';
import { AttentionBackward } from '../src/kernels/attention/attention.js';
import { attentionBackwardRef, attentionRef } from '../src/kernels/attention/ref.js';
import { Transpose } from '../src/kernels/transpose/transpose.js';
import { maxScaledError, mulberry32, randomFloats } from './helpers/random.js';

const env = withGpu();

/** Central differences of x ↦ Σ g·f(x) at a sample of coordinates, vs `grad`. */
function checkFiniteDifferences(f: (x: Float64Array) => Float64Array, x: Float64Array, g: ArrayLike<number>, grad: ArrayLike<number>, rng: () => number, samples = 60): number {
  const h = 1e-6;
  let worst = 0;
  const dot = (y: Float64Array) => y.reduce((s, v, i) => s + v * g[i]!, 0);
  for (let n = 0; n < samples; n++) {
    const i = Math.floor(rng() * x.length);
    const plus = Float64Array.from(x);
    const minus = Float64Array.from(x);
    plus[i]! += h;
    minus[i]! -= h;
    const fd = (dot(f(plus)) - dot(f(minus))) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[i]!) / (1 + Math.abs(grad[i]!)));
  }
  return worst;
}

describe('backward kernels', () => {
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

  it('log-softmax + gather: dz over vocabulary chunks from the forward’s logsumexp', async () => {
    const rng = mulberry32(23);
    const [T, V] = [6, 300];
    const logits = Float32Array.from(randomFloats(T * V, rng), (v) => v * 8);
    const targets = Uint32Array.from({ length: T }, () => Math.floor(rng() * V));
    const upstream = randomFloats(T, rng);
    const ref = logsoftmaxGatherBackwardRef(logits, V, targets, upstream);
    expect(checkFiniteDifferences((z) => logsoftmaxGatherRef(z, V, targets), Float64Array.from(logits), upstream, ref, rng)).toBeLessThan(1e-6);
    // Forward over two chunks (leaves logsumexp in the state), then backward per chunk in place.
    const bounds = [0, 128, V];
    const chunks = bounds.slice(0, -1).map((from, c) => {
      const cols = bounds[c + 1]! - from;
      const data = new Float32Array(T * cols);
      for (let t = 0; t < T; t++) data.set(logits.subarray(t * V + from, t * V + from + cols), t * cols);
      return { from, cols, buffer: env.gpu.upload(data) };
    });
    const [bt, state, out, up] = [env.gpu.upload(targets), env.gpu.allocate(T * 16), env.gpu.allocate(T * 4), env.gpu.upload(upstream)];
    const forward = await LogsoftmaxGather.create(env.gpu);
    const backward = await LogsoftmaxGatherBackward.create(env.gpu);
    const batch = env.gpu.batch('test');
    chunks.forEach((c, i) => forward.encode(batch, { logits: c.buffer, targets: bt, state, out }, { T, cols: c.cols, colStart: c.from, first: i === 0, last: i === chunks.length - 1 }));
    for (const c of chunks) backward.encode(batch, { logits: c.buffer, targets: bt, state, upstream: up }, { T, cols: c.cols, colStart: c.from });
    batch.submit();
    const dz = new Float32Array(T * V);
    for (const c of chunks) {
      const part = new Float32Array(await env.gpu.read(c.buffer, T * c.cols * 4));
      for (let t = 0; t < T; t++) dz.set(part.subarray(t * c.cols, (t + 1) * c.cols), t * V + c.from);
    }
    expect(maxScaledError(dz, ref)).toBeLessThan(1e-5);
  });

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

  it('linear y = x·Wᵀ + b: dx, dW, db (accumulating over two micro-batches) match finite differences', async () => {
    const rng = mulberry32(25);
    const [T, IN, OUT] = [11, 24, 19];
    const w = randomFloats(OUT * IN, rng);
    const bias = randomFloats(OUT, rng);
    const xs = [randomFloats(T * IN, rng), randomFloats(T * IN, rng)];
    const gs = [randomFloats(T * OUT, rng), randomFloats(T * OUT, rng)];
    const forward = (x: ArrayLike<number>, wv: ArrayLike<number>, bv: ArrayLike<number>) => {
      const y = matmulRef(x, wv, { M: T, N: OUT, K: IN, transposeB: true });
      for (let t = 0; t < T; t++) for (let o = 0; o < OUT; o++) y[t * OUT + o]! += bv[o]!;
      return y;
    };
    // f64 gradients by finite differences of the summed micro-batch losses.
    const lossW = (wv: Float64Array) => Float64Array.of(forward(xs[0]!, wv, bias).reduce((s, v, i) => s + v * gs[0]![i]!, 0) + forward(xs[1]!, wv, bias).reduce((s, v, i) => s + v * gs[1]![i]!, 0));
    const lin = await LinearBackward.create(env.gpu);
    const [dw, db, dx] = [env.gpu.upload(new Float32Array(OUT * IN)), env.gpu.upload(new Float32Array(OUT)), env.gpu.allocate(T * IN * 4)];
    const common = { w: env.gpu.upload(w), dw, db, dyT: env.gpu.allocate(T * OUT * 4), ones: env.gpu.upload(new Float32Array(T).fill(1)) };
    let dx0 = new Float32Array(0);
    for (let m = 0; m < 2; m++) {
      const batch = env.gpu.batch('test');
      lin.encode(batch, { ...common, x: env.gpu.upload(xs[m]!), dy: env.gpu.upload(gs[m]!), dx }, { T, in: IN, out: OUT }, { dw: true, db: true });
      batch.submit();
      if (m === 0) dx0 = new Float32Array(await env.gpu.read(dx, T * IN * 4));
    }
    const gotW = new Float32Array(await env.gpu.read(dw, OUT * IN * 4));
    const gotB = new Float32Array(await env.gpu.read(db, OUT * 4));
    const h = 1e-6;
    for (let n = 0; n < 40; n++) {
      const i = Math.floor(rng() * OUT * IN);
      const plus = Float64Array.from(w);
      const minus = Float64Array.from(w);
      plus[i]! += h;
      minus[i]! -= h;
      expect(Math.abs((lossW(plus)[0]! - lossW(minus)[0]!) / (2 * h) - gotW[i]!)).toBeLessThan(1e-4);
    }
    const expectedB = Array.from({ length: OUT }, (_, o) => [0, 1].reduce((s, m) => s + Array.from({ length: T }, (_, t) => gs[m]![t * OUT + o]!).reduce((a, c) => a + c, 0), 0));
    expect(maxScaledError(gotB, expectedB)).toBeLessThan(1e-5);
    expect(maxScaledError(dx0, matmulRef(gs[0]!, w, { M: T, N: IN, K: OUT }))).toBeLessThan(1e-5);
  });

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

// The online log-softmax + gather against its f64 reference (src/kernels/logsoftmax/ref.ts).
import { describe, expect, it } from 'vitest';
import { LogsoftmaxGather } from '../../src/kernels/logsoftmax/logsoftmax.js';
import { logsoftmaxGatherRef } from '../../src/kernels/logsoftmax/ref.js';
import { withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';
import { LogsoftmaxGatherBackward } from '../../src/kernels/logsoftmax/logsoftmax.js';
import { logsoftmaxGatherBackwardRef } from '../../src/kernels/logsoftmax/ref.js';
import { checkFiniteDifferences } from '../helpers/gradcheck.js';

const env = withGpu();

describe('log-softmax + gather vs its f64 reference', () => {
  it('online log-softmax + gather over uneven vocabulary chunks equals the full log-softmax', async () => {
    const rng = mulberry32(5);
    const [T, V] = [11, 1000];
    const logits = randomFloats(T * V, rng).map((x) => x * 30);
    const targets = Uint32Array.from({ length: T }, () => Math.floor(rng() * V));
    const kernel = await LogsoftmaxGather.create(env.gpu);
    const [bt, state, out] = [env.gpu.upload(targets), env.gpu.allocate(T * 16), env.gpu.allocate((T + 3) * 4)];
    const bounds = [0, 64, 300, 301, 1000];
    const batch = env.gpu.batch('test');
    for (let c = 0; c + 1 < bounds.length; c++) {
      const [from, to] = [bounds[c]!, bounds[c + 1]!];
      const chunk = new Float32Array(T * (to - from));
      for (let t = 0; t < T; t++) chunk.set(logits.subarray(t * V + from, t * V + to), t * (to - from));
      kernel.encode(batch, { logits: env.gpu.upload(chunk), targets: bt, state, out }, { T, cols: to - from, colStart: from, first: c === 0, last: c + 2 === bounds.length, outBase: 3 });
    }
    batch.submit();
    const got = new Float32Array(await env.gpu.read(out, (T + 3) * 4)).subarray(3);
    expect(maxScaledError(got, logsoftmaxGatherRef(logits, V, targets))).toBeLessThan(1e-5);
  });
});

describe('log-softmax + gather backward vs its f64 reference (itself checked by finite differences)', () => {
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
});

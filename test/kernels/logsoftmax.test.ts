// The online log-softmax + gather against its f64 reference (src/kernels/logsoftmax/ref.ts).
import { describe, expect, it } from 'vitest';
import { LogsoftmaxGather } from '../../src/kernels/logsoftmax/logsoftmax.js';
import { logsoftmaxGatherRef } from '../../src/kernels/logsoftmax/ref.js';
import { withGpu } from '../helpers/gpu.js';
import { maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

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

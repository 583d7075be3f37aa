// The embedding gather and its backward against their f64 references (src/kernels/embedding/ref.ts).
import { describe, expect, it } from 'vitest';
import { Embedding, EmbeddingBackward, groupRowsByToken } from '../../src/kernels/embedding/embedding.js';
import { embeddingBackwardRef, embeddingRef } from '../../src/kernels/embedding/ref.js';
import { rowInfo, runKernel, withGpu } from '../helpers/gpu.js';
import { dot, maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

describe('embedding vs its f64 reference', () => {
  it('embedding over two vocabulary shards', async () => {
    const rng = mulberry32(1);
    const [V, H] = [300, 37];
    const table = randomFloats(V * H, rng);
    const tokens = Array.from({ length: 29 }, () => Math.floor(rng() * V));
    const info = env.gpu.upload(rowInfo(tokens.map((t) => [t])));
    const out = env.gpu.allocate(tokens.length * H * 4);
    const kernel = await Embedding.create(env.gpu);
    const shards = [{ rowStart: 0, rows: 128 }, { rowStart: 128, rows: 172 }].map((s) => ({ ...s, buffer: env.gpu.upload(table.subarray(s.rowStart * H, (s.rowStart + s.rows) * H)) }));
    const got = await runKernel(env.gpu, (b) => shards.forEach((s) => kernel.encode(b, { table: s.buffer, rows: info, out }, { T: tokens.length, H, rowStart: s.rowStart, rows: s.rows })), out, tokens.length * H);
    expect(maxScaledError(got, embeddingRef(table, H, tokens))).toBe(0);
  });


  it('the backward reference is the adjoint of the gather: <gather(E), dx> = <E, dE>', () => {
    const rng = mulberry32(11);
    const [V, H] = [20, 6];
    const table = randomFloats(V * H, rng);
    const tokens = [3, 7, 3, 19, 0, 3];
    const dx = randomFloats(tokens.length * H, rng);
    const dE = embeddingBackwardRef(dx, H, tokens, new Float64Array(V * H));
    expect(Math.abs(dot(embeddingRef(table, H, tokens), dx) - dot(table, dE))).toBeLessThan(1e-12);
  });

  it('backward over two vocabulary shards: repeated tokens summed, the gradient already in dE kept', async () => {
    const rng = mulberry32(12);
    const [V, H] = [300, 37];
    // Token 5 three times, 200 twice (second shard), the rest once; 127/128 straddle the shard edge.
    const tokens = [5, 200, 5, 127, 128, 299, 0, 200, 5, 42];
    const dx = randomFloats(tokens.length * H, rng);
    const dE0 = randomFloats(V * H, rng); // a tied LM head's gradient, accumulated before
    const { unique, offsets, rows } = groupRowsByToken(tokens);
    const kernel = await EmbeddingBackward.create(env.gpu);
    const shards = [{ rowStart: 0, rows: 128 }, { rowStart: 128, rows: 172 }].map((s) => ({ ...s, dE: env.gpu.upload(dE0.subarray(s.rowStart * H, (s.rowStart + s.rows) * H)) }));
    const b = { dx: env.gpu.upload(dx), tokens: env.gpu.upload(unique), offsets: env.gpu.upload(offsets), rows: env.gpu.upload(rows) };
    const batch = env.gpu.batch('test');
    for (const s of shards) kernel.encode(batch, { ...b, dE: s.dE }, { U: unique.length, H, rowStart: s.rowStart, rows: s.rows });
    batch.submit();
    const got = new Float32Array(V * H);
    for (const s of shards) got.set(new Float32Array(await env.gpu.read(s.dE, s.rows * H * 4)), s.rowStart * H);
    expect(maxScaledError(got, embeddingBackwardRef(dx, H, tokens, dE0))).toBeLessThan(1e-6);
  });
});

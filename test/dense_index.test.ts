import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DenseIndex, IgSearchError, denseIndexBytes } from '../src/entry/node.js';
import { withGpu } from './helpers/gpu.js';
import { mulberry32 } from './helpers/random.js';

const env = withGpu();

// Values in quarters from −0.5 to 0.5: exact in f32, f16 and bf16, and so are the dot products over
// a few dozen dimensions — the reference ranks exactly what the GPU computes, ties included.
function quarters(n: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (Math.floor(rng() * 5) - 2) / 4);
}

/** f64 brute force: every score, best first, ties to the lower id. */
function reference(embeddings: Float32Array, queries: Float32Array, dims: number, k: number) {
  const count = embeddings.length / dims;
  return Array.from({ length: queries.length / dims }, (_, b) => {
    const scored = Array.from({ length: count }, (_, id) => {
      let s = 0;
      for (let d = 0; d < dims; d++) s += queries[b * dims + d]! * embeddings[id * dims + d]!;
      return { id, s };
    });
    scored.sort((x, y) => y.s - x.s || x.id - y.id);
    const top = scored.slice(0, Math.min(k, count));
    return { ids: top.map((t) => t.id), scores: top.map((t) => t.s) };
  });
}

describe('dense index: exact top-k on the GPU', () => {
  const dims = 24;
  const base = quarters(1500 * dims, 5);
  // Duplicate rows (equal scores for every query) across the whole range, shard boundaries included.
  for (const [from, to] of [[3, 1400], [99, 100], [100, 101], [777, 12]]) base.copyWithin(to! * dims, from! * dims, (from! + 1) * dims);
  const queries = quarters(7 * dims, 6);

  it('top-k ids and scores equal an f64 brute force, ties by id, across shard boundaries, every dtype', async () => {
    const expected = Object.fromEntries([1, 3, 10, 64].map((k) => [k, reference(base, queries, dims, k)]));
    for (const dtype of ['f32', 'bf16', ...(env.gpu.hasF16 ? ['f16' as const] : [])] as const) {
      for (const shardRows of [100, 257, 1500]) {
        const index = await DenseIndex.create(env.gpu, base, dims, { dtype, shardRows });
        expect(index.bytes).toBe(denseIndexBytes(1500, dims, dtype));
        for (const k of [1, 3, 10, 64]) expect(await index.search(queries, k), `${dtype}, ${shardRows} rows a shard, k ${k}`).toEqual(expected[k]);
        index.free();
      }
    }
    // The duplicates really tie: some query's top list holds a duplicated pair in id order.
    const tied = expected[64]!.some((hit) => hit.ids.some((id, i) => i > 0 && hit.scores[i] === hit.scores[i - 1] && id > hit.ids[i - 1]!));
    expect(tied).toBe(true);
  });

  it('k beyond the count returns every passage; bad queries and k are typed errors', async () => {
    const small = await DenseIndex.create(env.gpu, base.subarray(0, 5 * dims), dims);
    expect(await small.search(queries.subarray(0, dims), 10)).toEqual(reference(base.subarray(0, 5 * dims), queries.subarray(0, dims), dims, 10));
    await expect(small.search(queries.subarray(0, dims - 1), 3)).rejects.toThrow(/23 query values are not a whole number of 24-dimensional rows/);
    await expect(small.search(queries, 65)).rejects.toThrow(/k must be an integer in \[1, 64\]/);
    small.free();
  });

  it('a saved index reloads bit-identically; a truncated or foreign file is a typed error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-index-'));
    const path = join(dir, 'corpus.index');
    const index = await DenseIndex.create(env.gpu, base, dims, { dtype: 'bf16', model: 'tiny/bert', shardRows: 400 });
    await index.save(path);
    const bytes = readFileSync(path);
    const again = await DenseIndex.load(env.gpu, path, { shardRows: 1000 });
    expect(again.header).toEqual({ format: 'ig-search-dense-index', version: 1, model: 'tiny/bert', dims, count: 1500, dtype: 'bf16' });
    expect(Buffer.from(await again.toBytes()).equals(bytes)).toBe(true);
    expect(await again.search(queries, 5)).toEqual(await index.search(queries, 5));
    index.free();
    again.free();

    const refused = async (data: Uint8Array) => {
      const bad = join(dir, 'bad.index');
      writeFileSync(bad, data);
      const e = await DenseIndex.load(env.gpu, bad).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(IgSearchError);
      expect((e as Error).message.startsWith(`${bad}: `)).toBe(true);
      return (e as Error).message;
    };
    expect(await refused(bytes.subarray(0, bytes.length - 2))).toMatch(/holds 71998 bytes of embeddings; 1500 × 24 bf16 is 72000 \(truncated\)/);
    expect(await refused(bytes.subarray(0, 20))).toMatch(/truncated inside its header/);
    expect(await refused(new TextEncoder().encode('{"id": "d1", "contents": "not an index"}\n'))).toMatch(/not an ig-search dense index/);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true)))) as Record<string, unknown>;
    const other = JSON.stringify({ ...header, dtype: 'int8' }).padEnd(JSON.stringify(header).length);
    const forged = Uint8Array.from(bytes);
    forged.set(new TextEncoder().encode(other), 16);
    expect(await refused(forged)).toMatch(/header field "dtype" is "int8"/);
  });
});

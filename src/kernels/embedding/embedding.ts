import type { BufferSlice, DispatchBatch } from '../../gpu/device.js';
import { defineKernel } from '../../gpu/kernel.js';
import { params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './embedding.wgsl';

export const embeddingKernel = defineKernel({ name: 'embedding', code: source, entryPoint: 'main', bindings: ['read', 'read', 'read_write', 'uniform'] });

/** The same gather from an f16 table (needs `shader-f16`). */
export const embeddingF16Kernel = defineKernel({
  ...embeddingKernel,
  name: 'embedding_f16',
  code: `enable f16;\n${source
    .replace('var<storage, read> table: array<f32>;', 'var<storage, read> table: array<f16>;')
    .replace('fn tableAt(i: u32) -> f32 { return table[i]; }', 'fn tableAt(i: u32) -> f32 { return f32(table[i]); }')}`,
});

/** out[t] = shard[token(t) − rowStart] for rows whose token is in this shard. `meta`: 8 u32 per row, token first. */
export function encodeEmbedding(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  shard: GPUBuffer | BufferSlice,
  meta: GPUBuffer,
  out: GPUBuffer,
  shape: { T: number; H: number; rowStart: number; rows: number },
): void {
  batch.dispatch(kernel, [shard, meta, out, params(shape.T, shape.H, shape.rowStart, shape.rows)], [Math.ceil(shape.H / 64), shape.T]);
}

import type { BufferSlice, DispatchBatch } from '../../gpu/device.js';
import { defineKernel, type Kernel } from '../../gpu/kernel.js';
import { params } from '../../gpu/params.js';
import { BF16_LOAD, type StorageDtype } from '../matmul/matmul.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import rowsSource from '../../model/rows.wgsl';
import source from './embedding.wgsl';
import backwardSource from './embedding.backward.wgsl';

/** The gather for a table stored as `dtype`: the table's declaration and reader composed with the shared source. */
const embeddingFor = (dtype: StorageDtype) => {
  const table = {
    f32: 'var<storage, read> table: array<f32>;\nfn tableAt(i: u32) -> f32 { return table[i]; }',
    f16: 'var<storage, read> table: array<f16>;\nfn tableAt(i: u32) -> f32 { return f32(table[i]); }',
    bf16: `var<storage, read> table: array<u32>;\n${BF16_LOAD('table', 'tableAt')}`,
  }[dtype];
  return defineKernel({ name: dtype === 'f32' ? 'embedding' : `embedding_${dtype}`, code: `${dtype === 'f16' ? 'enable f16;\n' : ''}${rowsSource}\n${source}\n@group(0) @binding(0) ${table}\n`, entryPoint: 'main' });
};

export const embeddingKernel = embeddingFor('f32');
/** The gather for each table storage (f16 needs `shader-f16`; bf16 is packed two per u32 word, widened exactly). */
export const EMBEDDING_KERNELS: Readonly<Record<StorageDtype, Kernel>> = { f32: embeddingKernel, f16: embeddingFor('f16'), bf16: embeddingFor('bf16') };

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

export const embeddingBackwardKernel = defineKernel({
  name: 'embedding_backward',
  code: backwardSource,
  entryPoint: 'main',
});

/** Rows grouped by token, for `embedding_backward`: unique tokens, CSR offsets, row indices. */
export function groupRowsByToken(tokens: ArrayLike<number>): { unique: Uint32Array; offsets: Uint32Array; rows: Uint32Array } {
  const byToken = new Map<number, number[]>();
  for (let r = 0; r < tokens.length; r++) {
    const list = byToken.get(tokens[r]!);
    if (list) list.push(r);
    else byToken.set(tokens[r]!, [r]);
  }
  const unique = Uint32Array.from(byToken.keys());
  const offsets = new Uint32Array(unique.length + 1);
  const rows = new Uint32Array(tokens.length);
  let at = 0;
  unique.forEach((t, u) => {
    for (const r of byToken.get(t)!) rows[at++] = r;
    offsets[u + 1] = at;
  });
  return { unique, offsets, rows };
}

export function encodeEmbeddingBackward(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  b: { dx: GPUBuffer; unique: GPUBuffer; offsets: GPUBuffer; rows: GPUBuffer; dE: GPUBuffer },
  shape: { U: number; H: number; rowStart: number; rows: number },
): void {
  batch.dispatch(kernel, [b.dx, b.unique, b.offsets, b.rows, b.dE, params(shape.U, shape.H, shape.rowStart, shape.rows)], [Math.ceil(shape.H / 64), shape.U]);
}

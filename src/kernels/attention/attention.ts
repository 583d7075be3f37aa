import { IgSearchError } from '../../errors.js';
import type { DispatchBatch } from '../../gpu/device.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import { f32, params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import type { AttentionShape } from '../rope/rope.js';
import rowsSource from '../../model/rows.wgsl';
import source from './attention.wgsl';
import backwardCommon from './attention.backward.wgsl';
import dqSource from './attention.dq.wgsl';
import dkvSource from './attention.dkv.wgsl';

export const attentionKernel = defineKernel({
  name: 'attention',
  code: `${GRID_WGSL}\n${rowsSource}\n${source}`,
  entryPoint: 'main',
});

/** The largest head dimension the kernel's per-invocation arrays hold. */
export const MAX_HEAD_DIM = 256;

/** Causal GQA attention of packed rows over the KV cache (ranges from `meta`). */
export function encodeAttention(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  buffers: { q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; meta: GPUBuffer; out: GPUBuffer },
  shape: AttentionShape,
): void {
  const { T, heads, kvHeads, headDim } = shape;
  if (headDim > MAX_HEAD_DIM || heads % kvHeads !== 0) {
    throw new IgSearchError('SHAPE_MISMATCH', `attention: head dim ${headDim} (max ${MAX_HEAD_DIM}) with ${heads} heads over ${kvHeads} KV heads is not supported`);
  }
  const groups = Math.ceil((T * heads) / 64);
  const b = buffers;
  batch.dispatch(kernel, [b.q, b.kCache, b.vCache, b.meta, b.out, params(T, heads, kvHeads, headDim, f32(1 / Math.sqrt(headDim)), 0, 0, 0)], grid(groups));
}

// Two modules sharing attention.backward.wgsl, each binding 8 storage buffers + the uniform.
export const attentionDqKernel = defineKernel({ name: 'attention_backward_dq', code: `${rowsSource}\n${backwardCommon}\n${dqSource}`, entryPoint: 'dq' });
export const attentionDkvKernel = defineKernel({ name: 'attention_backward_dkv', code: `${rowsSource}\n${backwardCommon}\n${dkvSource}`, entryPoint: 'dkv' });

/**
 * Attention backward for training rows (own sequence only): dQ, then dK and dV. `ends[j]` is the
 * exclusive end row of row j's sequence; `stats` is scratch of T·heads·2 floats.
 */
export function encodeAttentionBackward(
  batch: DispatchBatch,
  kernels: { dq: CompiledKernel; dkv: CompiledKernel },
  b: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; o: GPUBuffer; dO: GPUBuffer; meta: GPUBuffer; ends: GPUBuffer; stats: GPUBuffer; dQ: GPUBuffer; dK: GPUBuffer; dV: GPUBuffer },
  shape: AttentionShape,
): void {
  const { T, heads, kvHeads, headDim } = shape;
  const p = params(T, heads, kvHeads, headDim, f32(1 / Math.sqrt(headDim)), 0, 0, 0);
  // Workgroups of 64 rows × one head (query rows for dQ, key rows for dK/dV).
  const tiles = Math.ceil(T / 64);
  if (tiles > 65535) throw new IgSearchError('LIMIT_EXCEEDED', `attention backward: ${T} rows exceed ${65535 * 64} per pass`, { hint: 'train fewer rows per micro-batch' });
  batch.dispatch(kernels.dq, [b.q, b.k, b.v, b.dO, b.o, b.meta, b.stats, b.dQ, p], [tiles, heads]);
  batch.dispatch(kernels.dkv, [b.q, b.k, b.v, b.dO, b.ends, b.stats, b.dK, b.dV, p], [tiles, kvHeads]);
}

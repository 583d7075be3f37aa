import { IgSearchError } from '../../errors.js';
import type { DispatchBatch } from '../../gpu/device.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import { f32, params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import type { AttentionShape } from '../rope/rope.js';
import rowsSource from '../../model/rows.wgsl';
import source from './attention.wgsl';
import decodeSource from './attention_decode.wgsl';
import onlineSource from './attention.online.wgsl';
import backwardCommon from './attention.backward.wgsl';
import dqSource from './attention.dq.wgsl';
import dkvSource from './attention.dkv.wgsl';

export const attentionKernel = defineKernel({
  name: 'attention',
  code: `${GRID_WGSL}\n${rowsSource}\n${onlineSource}\n${source}`,
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

export const attentionDecodeKernel = defineKernel({
  name: 'attention_decode',
  code: `${GRID_WGSL}\n${rowsSource}\n${onlineSource}\n${decodeSource}`,
  entryPoint: 'main',
});

/**
 * Decode attention with the q/k norm (Qwen3), bias, RoPE and KV-cache write fused in (one dispatch
 * for what `encodeQkNorm` + `encodeRope` + `encodeAttention` do), for rows that attend to no other row
 * of the same dispatch — `attendsOnlyToCache` says when.
 */
export function encodeAttentionDecode(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  b: { qkv: GPUBuffer; bias: GPUBuffer; qkNorm: GPUBuffer; table: GPUBuffer; meta: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer },
  shape: AttentionShape & { qkNormEps?: number },
): void {
  const { T, heads, kvHeads, headDim } = shape;
  if (headDim > MAX_HEAD_DIM || heads % kvHeads !== 0 || headDim % 2 !== 0) {
    throw new IgSearchError('SHAPE_MISMATCH', `attention: head dim ${headDim} (even, max ${MAX_HEAD_DIM}) with ${heads} heads over ${kvHeads} KV heads is not supported`);
  }
  const p = params(T, heads, kvHeads, headDim, f32(1 / Math.sqrt(headDim)), f32(shape.qkNormEps ?? 0), shape.qkNormEps === undefined ? 0 : 1, 0);
  batch.dispatch(kernel, [b.qkv, b.bias, b.qkNorm, b.table, b.meta, b.kCache, b.vCache, b.out, p], grid(Math.ceil((T * heads) / 64)));
}

/**
 * Whether every row of `info` (packed rows, `fields` u32 each, as model/rows.ts lays them out)
 * attends only to cache slots that no row of `info` writes — apart from its own — so that writing
 * the keys and attending can share one dispatch (`encodeAttentionDecode`). True for a decode step
 * (one new token per sequence); false for a prefill, whose rows read each other's keys.
 */
export function attendsOnlyToCache(info: Uint32Array, fields: number): boolean {
  const rows = info.length / fields;
  const written = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) written[r] = info[r * fields + 2]!;
  written.sort();
  for (let r = 1; r < rows; r++) if (written[r] === written[r - 1]) return false;
  // Is any written slot in [from, to)?
  const hits = (from: number, to: number) => {
    let lo = 0;
    let hi = rows;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (written[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    return lo < rows && written[lo]! < to;
  };
  for (let r = 0; r < rows; r++) {
    const [, , slot, ctxStart, ctxLength, selfStart, ctx2Start, ctx2Length] = info.subarray(r * fields, r * fields + 8);
    if (hits(ctxStart!, ctxStart! + ctxLength!) || hits(ctx2Start!, ctx2Start! + ctx2Length!) || hits(selfStart!, slot!)) return false;
  }
  return true;
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

import type { DispatchBatch } from '../../gpu/device.js';
import { defineKernel } from '../../gpu/kernel.js';
import { params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import rowsSource from '../../model/rows.wgsl';
import source from './rope.wgsl';
import backwardSource from './rope.backward.wgsl';

export const ropeKernel = defineKernel({
  name: 'rope',
  code: `${rowsSource}\n${source}`,
  entryPoint: 'main',
  bindings: ['read', 'read', 'read', 'read', 'read_write', 'read_write', 'read_write', 'uniform'],
});

export interface AttentionShape {
  T: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * cos/sin table for positions [0, positions), `[pos][j] = (cos, sin)` of pos·θ^(−2j/d). The
 * inverse frequencies are rounded to f32 first and the angle is the f32 product, as HF computes
 * them in fp32; cos/sin are then taken in f64 and rounded once.
 */
export function ropeTable(positions: number, headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const invFreq = new Float32Array(half);
  for (let j = 0; j < half; j++) invFreq[j] = 1 / Math.fround(theta ** Math.fround((2 * j) / headDim));
  const table = new Float32Array(positions * half * 2);
  for (let pos = 0; pos < positions; pos++) {
    for (let j = 0; j < half; j++) {
      const angle = Math.fround(Math.fround(pos) * invFreq[j]!);
      table[(pos * half + j) * 2] = Math.cos(angle);
      table[(pos * half + j) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

/** Bias + RoPE on the fused q/k/v projection; q to `q`, k/v to the cache rows `meta` names. */
export function encodeRope(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  buffers: { qkv: GPUBuffer; bias: GPUBuffer; meta: GPUBuffer; table: GPUBuffer; q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer },
  shape: AttentionShape,
): void {
  const { T, heads, kvHeads, headDim } = shape;
  const threads = (heads + kvHeads) * (headDim / 2) + kvHeads * headDim;
  const b = buffers;
  batch.dispatch(kernel, [b.qkv, b.bias, b.meta, b.table, b.q, b.kCache, b.vCache, params(T, heads, kvHeads, headDim)], [Math.ceil(threads / 64), T]);
}

export const ropeBackwardKernel = defineKernel({
  name: 'rope_backward',
  code: `${rowsSource}\n${backwardSource}`,
  entryPoint: 'main',
  bindings: ['read', 'read', 'read', 'read', 'read', 'read_write', 'uniform'],
});

/** d(qkv) [T, (heads + 2 kvHeads)·d] from dQ, dK, dV of training rows (kvRow = row). */
export function encodeRopeBackward(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  b: { dQ: GPUBuffer; dK: GPUBuffer; dV: GPUBuffer; meta: GPUBuffer; table: GPUBuffer; dqkv: GPUBuffer },
  shape: AttentionShape,
): void {
  const { T, heads, kvHeads, headDim } = shape;
  const threads = (heads + kvHeads) * (headDim / 2) + kvHeads * headDim;
  batch.dispatch(kernel, [b.dQ, b.dK, b.dV, b.meta, b.table, b.dqkv, params(T, heads, kvHeads, headDim)], [Math.ceil(threads / 64), T]);
}

import type { DispatchBatch } from '../../gpu/device.js';
import { defineKernel } from '../../gpu/kernel.js';
import { f32, params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './qk_norm.wgsl';
import backwardSource from './qk_norm.backward.wgsl';
import reduceSource from './qk_norm.reduce.wgsl';

/** Qwen3's per-head q/k RMSNorm, in place in the fused q/k/v projection (before RoPE). */
export const qkNormKernel = defineKernel({ name: 'qk_norm', code: source, entryPoint: 'main' });

export function encodeQkNorm(batch: DispatchBatch, kernel: CompiledKernel, qkv: GPUBuffer, weight: GPUBuffer, shape: { T: number; heads: number; kvHeads: number; headDim: number; eps: number }): void {
  batch.dispatch(kernel, [qkv, weight, params(shape.T, shape.heads, shape.kvHeads, shape.headDim, f32(shape.eps), 0, 0, 0)], [shape.heads + shape.kvHeads, shape.T]);
}

type QkShape = { T: number; heads: number; kvHeads: number; headDim: number; eps: number };
const shapeParams = (s: QkShape) => params(s.T, s.heads, s.kvHeads, s.headDim, f32(s.eps), 0, 0, 0);

export const qkNormBackwardKernel = defineKernel({ name: 'qk_norm_backward', code: backwardSource, entryPoint: 'main' });
export const qkNormReduceKernel = defineKernel({ name: 'qk_norm_reduce', code: reduceSource, entryPoint: 'main' });

/**
 * dqkv ← d/d(pre-norm q, k) in place (v untouched), given the pre-norm rows `x`; the weight-gradient
 * terms go to `dwRows` (T · (heads + kvHeads) rows of headDim), and, when `dw` is given, their column
 * sums are added to it ([dq_norm, dk_norm]).
 */
export function encodeQkNormBackward(
  batch: DispatchBatch,
  kernels: { backward: CompiledKernel; reduce: CompiledKernel },
  b: { x: GPUBuffer; weight: GPUBuffer; dqkv: GPUBuffer; dwRows: GPUBuffer; dw?: GPUBuffer },
  shape: QkShape,
): void {
  batch.dispatch(kernels.backward, [b.x, b.weight, b.dqkv, b.dwRows, shapeParams(shape)], [shape.heads + shape.kvHeads, shape.T]);
  if (b.dw) batch.dispatch(kernels.reduce, [b.dwRows, b.dw, shapeParams(shape)], [Math.ceil((2 * shape.headDim) / 64)]);
}

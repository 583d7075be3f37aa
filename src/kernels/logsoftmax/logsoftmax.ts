import type { DispatchBatch } from '../../gpu/device.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import { params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './logsoftmax.wgsl';
import backwardSource from './logsoftmax.backward.wgsl';

export const logsoftmaxKernel = defineKernel({
  name: 'logsoftmax_gather',
  code: `${GRID_WGSL}\n${source}`,
  entryPoint: 'main',
});

/**
 * Folds one vocabulary chunk of logits ([T, cols], columns from `colStart`) into the running
 * log-softmax state ([T, 4] f32); the last chunk writes log p(target) of row r to `out[outBase + r]`.
 */
export function encodeLogsoftmaxChunk(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  buffers: { logits: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; out: GPUBuffer },
  chunk: { T: number; cols: number; colStart: number; first: boolean; last: boolean; outBase?: number },
): void {
  const { T } = chunk;
  const flags = (chunk.first ? 1 : 0) | (chunk.last ? 2 : 0);
  const b = buffers;
  batch.dispatch(kernel, [b.logits, b.targets, b.state, b.out, params(T, chunk.cols, chunk.colStart, flags, chunk.outBase ?? 0, 0, 0, 0)], grid(T));
}

export const logsoftmaxBackwardKernel = defineKernel({
  name: 'logsoftmax_gather_backward',
  code: backwardSource,
  entryPoint: 'main',
});

/**
 * Turns one chunk of logits ([T, cols], recomputed) into dz = g · (onehot(goal) − softmax), in place,
 * using the logsumexp the forward left in `state` and the upstream gradient g per row.
 */
export function encodeLogsoftmaxBackward(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  b: { logits: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; upstream: GPUBuffer },
  chunk: { T: number; cols: number; colStart: number },
): void {
  batch.dispatch(kernel, [b.logits, b.targets, b.state, b.upstream, params(chunk.T, chunk.cols, chunk.colStart, 0)], [Math.ceil(chunk.cols / 64), chunk.T]);
}

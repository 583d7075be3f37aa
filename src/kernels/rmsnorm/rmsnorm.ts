import type { DispatchBatch } from '../../gpu/device.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import { f32, params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './rmsnorm.wgsl';
import backwardSource from './rmsnorm.backward.wgsl';

/** Compile with `{ INDIRECT: 1 }` to normalise rows `index[r]` into row r. */
export const rmsnormKernel = defineKernel({ name: 'rmsnorm', code: `${GRID_WGSL}\n${source}`, entryPoint: 'main' });

export function encodeRmsnorm(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  x: GPUBuffer,
  weight: GPUBuffer,
  index: GPUBuffer,
  out: GPUBuffer,
  shape: { T: number; H: number; eps: number },
): void {
  const { T } = shape;
  batch.dispatch(kernel, [x, weight, index, out, params(T, shape.H, f32(shape.eps), 0)], grid(T));
}

export const rmsnormBackwardKernel = defineKernel({
  name: 'rmsnorm_backward',
  code: `${GRID_WGSL}\n${backwardSource}`,
  entryPoint: 'main',
});

/** dx, and per-row weight-gradient contributions dwRows (sum them over rows for dw). */
export function encodeRmsnormBackward(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  b: { x: GPUBuffer; weight: GPUBuffer; dy: GPUBuffer; dx: GPUBuffer; dwRows: GPUBuffer },
  shape: { T: number; H: number; eps: number },
): void {
  const { T } = shape;
  batch.dispatch(kernel, [b.x, b.weight, b.dy, b.dx, b.dwRows, params(T, shape.H, f32(shape.eps), 0)], grid(T));
}

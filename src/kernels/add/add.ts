import type { DispatchBatch } from '../../gpu/device.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import { f32, params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './add.wgsl';
import columnsSource from './columns.wgsl';

export const addKernel = defineKernel({ name: 'add', code: `${GRID_WGSL}\n${source}`, entryPoint: 'main' });

/** out[0..n) += x[0..n). */
export function encodeAdd(batch: DispatchBatch, kernel: CompiledKernel, x: GPUBuffer, out: GPUBuffer, n: number): void {
  const groups = Math.ceil(n / 64);
  batch.dispatch(kernel, [x, out, params(n, 0, 0, 0)], grid(groups));
}

export const columnsKernel = defineKernel({ name: 'columns', code: columnsSource, entryPoint: 'main' });

/** out[:, oOff : oOff+width] = beta · out[…] + scale · x[:, xOff : xOff+width] (row strides ldx, ldo). */
export function encodeColumns(
  batch: DispatchBatch,
  kernel: CompiledKernel,
  x: GPUBuffer,
  out: GPUBuffer,
  s: { T: number; width: number; ldx: number; xOff: number; ldo: number; oOff: number; beta: number; scale: number },
): void {
  batch.dispatch(kernel, [x, out, params(s.T, s.width, s.ldx, s.xOff, s.ldo, s.oOff, f32(s.beta), f32(s.scale))], [Math.ceil(s.width / 64), s.T]);
}

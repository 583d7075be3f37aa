import type { DispatchBatch } from '../../gpu/device.js';
import { defineKernel } from '../../gpu/kernel.js';
import { params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './transpose.wgsl';

export const transposeKernel = defineKernel({ name: 'transpose', code: source, entryPoint: 'main' });

/** out = xᵀ for an R×C row-major matrix. */
export function encodeTranspose(batch: DispatchBatch, kernel: CompiledKernel, x: GPUBuffer, out: GPUBuffer, shape: { R: number; C: number }): void {
  batch.dispatch(kernel, [x, out, params(shape.R, shape.C, 0, 0)], [Math.ceil(shape.C / 16), Math.ceil(shape.R / 16)]);
}

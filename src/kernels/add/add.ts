import type { DispatchBatch } from '../../gpu/device.js';
import { defineKernel } from '../../gpu/kernel.js';
import { params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './add.wgsl';

export const addKernel = defineKernel({ name: 'add', code: source, entryPoint: 'main', bindings: ['read', 'read_write', 'uniform'] });

/** out[0..n) += x[0..n). */
export function encodeAdd(batch: DispatchBatch, kernel: CompiledKernel, x: GPUBuffer, out: GPUBuffer, n: number): void {
  const groups = Math.ceil(n / 64);
  batch.dispatch(kernel, [x, out, params(n, 0, 0, 0)], [Math.min(groups, 65535), Math.ceil(groups / 65535)]);
}

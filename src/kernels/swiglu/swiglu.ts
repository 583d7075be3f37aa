import type { DispatchBatch } from '../../gpu/device.js';
import { defineKernel } from '../../gpu/kernel.js';
import { params } from '../../gpu/params.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import source from './swiglu.wgsl';
import backwardSource from './swiglu.backward.wgsl';

export const swigluKernel = defineKernel({ name: 'swiglu', code: source, entryPoint: 'main' });

/** out [T, I] = silu(gate) · up from the fused projection gu [T, 2I]. */
export function encodeSwiglu(batch: DispatchBatch, kernel: CompiledKernel, gu: GPUBuffer, out: GPUBuffer, shape: { T: number; I: number }): void {
  batch.dispatch(kernel, [gu, out, params(shape.T, shape.I, 0, 0)], [Math.ceil(shape.I / 64), shape.T]);
}

export const swigluBackwardKernel = defineKernel({ name: 'swiglu_backward', code: backwardSource, entryPoint: 'main' });

/** dgu [T, 2I] (gate then up) from dout [T, I]. */
export function encodeSwigluBackward(batch: DispatchBatch, kernel: CompiledKernel, gu: GPUBuffer, dout: GPUBuffer, dgu: GPUBuffer, shape: { T: number; I: number }): void {
  batch.dispatch(kernel, [gu, dout, dgu, params(shape.T, shape.I, 0, 0)], [Math.ceil(shape.I / 64), shape.T]);
}

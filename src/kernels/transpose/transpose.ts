import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { defineKernel } from '../../gpu/kernel.js';
import source from './transpose.wgsl';

export const transposeKernel = defineKernel({ name: 'transpose', code: source, entryPoint: 'main' });

export class Transpose {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<Transpose> {
    return new Transpose(await ComputeKernel.compile(gpu, transposeKernel));
  }

  /** out = xᵀ for an R×C row-major matrix. */
  encode(batch: DispatchBatch, b: { x: GPUBuffer; out: GPUBuffer }, { R, C }: { R: number; C: number }): void {
    this.kernel.dispatch(batch, b, { R, C }, [Math.ceil(C / 16), Math.ceil(R / 16)]);
  }
}

import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { defineKernel } from '../../gpu/kernel.js';
import source from './swiglu.wgsl';
import backwardSource from './swiglu.backward.wgsl';

export const swigluKernel = defineKernel({ name: 'swiglu', code: source, entryPoint: 'main' });
export const swigluBackwardKernel = defineKernel({ name: 'swiglu_backward', code: backwardSource, entryPoint: 'main' });

type Shape = { T: number; I: number };

export class Swiglu {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<Swiglu> {
    return new Swiglu(await ComputeKernel.compile(gpu, swigluKernel));
  }

  /** out [T, I] = silu(gate) · up from the fused projection gu [T, 2I]. */
  encode(batch: DispatchBatch, b: { gu: GPUBuffer; out: GPUBuffer }, { T, I }: Shape): void {
    this.kernel.dispatch(batch, b, { T, I }, [Math.ceil(I / 64), T]);
  }
}

export class SwigluBackward {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<SwigluBackward> {
    return new SwigluBackward(await ComputeKernel.compile(gpu, swigluBackwardKernel));
  }

  /** dgu [T, 2I] (gate then up) from dout [T, I]. */
  encode(batch: DispatchBatch, b: { gu: GPUBuffer; dout: GPUBuffer; dgu: GPUBuffer }, { T, I }: Shape): void {
    this.kernel.dispatch(batch, b, { T, I }, [Math.ceil(I / 64), T]);
  }
}

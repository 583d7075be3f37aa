import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import source from './rmsnorm.wgsl';
import backwardSource from './rmsnorm.backward.wgsl';

export const rmsnormKernel = defineKernel({ name: 'rmsnorm', code: `${GRID_WGSL}\n${source}`, entryPoint: 'main' });

type Shape = { T: number; H: number; eps: number };

/** RMSNorm of T rows of width H; `indirect` normalises rows `index[r]` into row r. */
export class Rmsnorm {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu, options: { indirect?: boolean } = {}): Promise<Rmsnorm> {
    return new Rmsnorm(await ComputeKernel.compile(gpu, rmsnormKernel, { INDIRECT: options.indirect ? 1 : 0 }));
  }

  /** out [T, H] = RMSNorm(x rows) · weight (`index` [T] is read only when indirect). */
  encode(batch: DispatchBatch, b: { x: GPUBuffer; weight: GPUBuffer; index: GPUBuffer; out: GPUBuffer }, { T, H, eps }: Shape): void {
    this.kernel.dispatch(batch, b, { T, H, eps }, grid(T));
  }
}

export const rmsnormBackwardKernel = defineKernel({ name: 'rmsnorm_backward', code: `${GRID_WGSL}\n${backwardSource}`, entryPoint: 'main' });

export class RmsnormBackward {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<RmsnormBackward> {
    return new RmsnormBackward(await ComputeKernel.compile(gpu, rmsnormBackwardKernel));
  }

  /** dx, and per-row weight-gradient contributions dwRows (sum them over rows for dw). */
  encode(batch: DispatchBatch, b: { x: GPUBuffer; weight: GPUBuffer; dy: GPUBuffer; dx: GPUBuffer; dwRows: GPUBuffer }, { T, H, eps }: Shape): void {
    this.kernel.dispatch(batch, b, { T, H, eps }, grid(T));
  }
}

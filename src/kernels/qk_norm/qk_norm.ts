import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { defineKernel } from '../../gpu/kernel.js';
import source from './qk_norm.wgsl';
import backwardSource from './qk_norm.backward.wgsl';
import reduceSource from './qk_norm.reduce.wgsl';

export const qkNormKernel = defineKernel({ name: 'qk_norm', code: source, entryPoint: 'main' });
export const qkNormBackwardKernel = defineKernel({ name: 'qk_norm_backward', code: backwardSource, entryPoint: 'main' });
export const qkNormReduceKernel = defineKernel({ name: 'qk_norm_reduce', code: reduceSource, entryPoint: 'main' });

type QkShape = { T: number; heads: number; kvHeads: number; headDim: number; eps: number };
const fields = ({ T, heads, kvHeads, headDim, eps }: QkShape) => ({ T, heads, kvHeads, headDim, eps });

/** Qwen3's per-head q/k RMSNorm, in place in the fused q/k/v projection (before RoPE). */
export class QkNorm {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<QkNorm> {
    return new QkNorm(await ComputeKernel.compile(gpu, qkNormKernel));
  }

  encode(batch: DispatchBatch, b: { qkv: GPUBuffer; weight: GPUBuffer }, shape: QkShape): void {
    this.kernel.dispatch(batch, b, fields(shape), [shape.heads + shape.kvHeads, shape.T]);
  }
}

export class QkNormBackward {
  private constructor(
    private readonly backward: ComputeKernel,
    private readonly reduce: ComputeKernel,
  ) {}

  static async create(gpu: Gpu): Promise<QkNormBackward> {
    const [backward, reduce] = await Promise.all([ComputeKernel.compile(gpu, qkNormBackwardKernel), ComputeKernel.compile(gpu, qkNormReduceKernel)]);
    return new QkNormBackward(backward, reduce);
  }

  /**
   * dqkv ← d/d(pre-norm q, k) in place (v untouched), given the pre-norm rows `x`; the weight-gradient
   * terms go to `dwRows` (T · (heads + kvHeads) rows of headDim), and, when `dw` is given, their column
   * sums are added to it ([dq_norm, dk_norm]).
   */
  encode(batch: DispatchBatch, b: { x: GPUBuffer; weight: GPUBuffer; dqkv: GPUBuffer; dwRows: GPUBuffer; dw?: GPUBuffer }, shape: QkShape): void {
    const { dw, ...rest } = b;
    this.backward.dispatch(batch, rest, fields(shape), [shape.heads + shape.kvHeads, shape.T]);
    if (dw) this.reduce.dispatch(batch, { dwRows: b.dwRows, dw }, fields(shape), [Math.ceil((2 * shape.headDim) / 64)]);
  }
}

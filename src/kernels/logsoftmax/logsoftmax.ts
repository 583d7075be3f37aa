import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import source from './logsoftmax.wgsl';
import backwardSource from './logsoftmax.backward.wgsl';

export const logsoftmaxKernel = defineKernel({ name: 'logsoftmax_gather', code: `${GRID_WGSL}\n${source}`, entryPoint: 'main' });
export const logsoftmaxBackwardKernel = defineKernel({ name: 'logsoftmax_gather_backward', code: backwardSource, entryPoint: 'main' });

/** Log-softmax over the vocabulary gathered at each row's target, one vocabulary chunk of logits at a time. */
export class LogsoftmaxGather {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<LogsoftmaxGather> {
    return new LogsoftmaxGather(await ComputeKernel.compile(gpu, logsoftmaxKernel));
  }

  /**
   * Folds one vocabulary chunk of logits ([T, cols], columns from `colStart`) into the running
   * log-softmax state ([T, 4] f32); the last chunk writes log p(target) of row r to `out[outBase + r]`.
   */
  encode(
    batch: DispatchBatch,
    b: { logits: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; out: GPUBuffer },
    chunk: { T: number; cols: number; colStart: number; first: boolean; last: boolean; outBase?: number },
  ): void {
    const { T, cols, colStart } = chunk;
    const flags = (chunk.first ? 1 : 0) | (chunk.last ? 2 : 0);
    this.kernel.dispatch(batch, b, { T, cols, colStart, flags, outBase: chunk.outBase ?? 0 }, grid(T));
  }
}

export class LogsoftmaxGatherBackward {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<LogsoftmaxGatherBackward> {
    return new LogsoftmaxGatherBackward(await ComputeKernel.compile(gpu, logsoftmaxBackwardKernel));
  }

  /**
   * Turns one chunk of logits ([T, cols], recomputed) into dz = g · (onehot(target) − softmax), in
   * place, using the logsumexp the forward left in `state` and the upstream gradient g per row.
   */
  encode(batch: DispatchBatch, b: { logits: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; upstream: GPUBuffer }, { T, cols, colStart }: { T: number; cols: number; colStart: number }): void {
    this.kernel.dispatch(batch, b, { T, cols, colStart }, [Math.ceil(cols / 64), T]);
  }
}

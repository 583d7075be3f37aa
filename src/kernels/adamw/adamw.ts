/**
 * AdamW on the GPU with global gradient-norm clipping and a NaN/Inf guard, decided on the GPU: one
 * batch reduces every gradient to partial sums of squares, turns them into the norm, the clip
 * factor and a skip flag (clip.wgsl), and updates every parameter in place unless the norm is not
 * finite (then weights, moments and the step count stay as they were). The host reads three floats
 * afterwards — the only wait of a step.
 */
import { IgSearchError } from '../../errors.js';
import type { Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import adamwSource from './adamw.wgsl';
import clipSource from './clip.wgsl';
import sumsqSource from './sumsq.wgsl';

export const adamwKernel = defineKernel({ name: 'adamw', code: `${GRID_WGSL}\n${adamwSource}`, entryPoint: 'main' });
export const sumsqKernel = defineKernel({ name: 'sumsq', code: `${GRID_WGSL}\n${sumsqSource}`, entryPoint: 'main' });
export const clipKernel = defineKernel({ name: 'grad_clip', code: clipSource, entryPoint: 'main' });

const PER_GROUP = 256 * 16;

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (torch.nn.utils.clip_grad_norm_); undefined: no clipping. */
  maxGradNorm?: number;
}

export interface TrainableTensor {
  name: string;
  /** f32 values, updated in place. */
  param: GPUBuffer;
  /** f32 gradient, same length. */
  grad: GPUBuffer;
  size: number;
}

export interface StepReport {
  /** True when the gradient norm was NaN/Inf: nothing was changed. */
  skipped: boolean;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** Factor the gradients were scaled by (1 when not clipped). */
  clipScale: number;
  /** Optimizer steps taken so far (skipped ones not counted). */
  step: number;
}

export class AdamW {
  /** Steps taken (bias correction uses it). */
  stepCount = 0;
  private pending = false;

  private constructor(
    private readonly gpu: Gpu,
    readonly tensors: readonly TrainableTensor[],
    readonly m: GPUBuffer[],
    readonly v: GPUBuffer[],
    private options: Required<Omit<AdamWOptions, 'maxGradNorm'>> & { maxGradNorm?: number },
    private readonly kernels: { adamw: ComputeKernel; sumsq: ComputeKernel; clip: ComputeKernel },
  ) {}

  static async create(gpu: Gpu, tensors: readonly TrainableTensor[], options: AdamWOptions): Promise<AdamW> {
    const { lr, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01, maxGradNorm } = options;
    for (const [name, value] of [['lr', lr], ['eps', eps], ['weightDecay', weightDecay], ['betas[0]', betas[0]], ['betas[1]', betas[1]]] as const) {
      if (!Number.isFinite(value) || value < 0) throw new IgSearchError('INVALID_ARGUMENT', `AdamW: ${name} must be a finite number ≥ 0, got ${value}`);
    }
    if (betas[0] >= 1 || betas[1] >= 1) throw new IgSearchError('INVALID_ARGUMENT', `AdamW: betas must be < 1, got [${betas}]`);
    if (maxGradNorm !== undefined && !(maxGradNorm > 0)) throw new IgSearchError('INVALID_ARGUMENT', `AdamW: maxGradNorm must be > 0, got ${maxGradNorm}`);
    for (const t of tensors) {
      if (t.param.size < t.size * 4 || t.grad.size < t.size * 4) throw new IgSearchError('SHAPE_MISMATCH', `AdamW: tensor "${t.name}" buffers are smaller than its ${t.size} values`);
    }
    const zeros = (t: TrainableTensor, kind: string) => gpu.upload(new Float32Array(t.size), `${t.name}.${kind}`);
    const [adamw, sumsq, clip] = await Promise.all([ComputeKernel.compile(gpu, adamwKernel), ComputeKernel.compile(gpu, sumsqKernel), ComputeKernel.compile(gpu, clipKernel)]);
    return new AdamW(gpu, tensors, tensors.map((t) => zeros(t, 'exp_avg')), tensors.map((t) => zeros(t, 'exp_avg_sq')), { lr, betas, eps, weightDecay, maxGradNorm }, { adamw, sumsq, clip });
  }

  /** The learning rate of the next step. */
  get lr(): number {
    return this.options.lr;
  }

  /** Sets the learning rate of the next steps (a schedule's value); a positive finite number. */
  set lr(value: number) {
    if (!(Number.isFinite(value) && value >= 0)) throw new IgSearchError('INVALID_ARGUMENT', `AdamW: lr must be a finite number ≥ 0, got ${value}`);
    this.options.lr = value;
  }

  /** Global L2 norm of the current gradients (f32 partial sums per workgroup, added in f64). */
  async gradNorm(): Promise<number> {
    return this.encodeGradNorm().read();
  }

  /**
   * Records the reduction of the current gradients now (later accumulation does not change it) and
   * returns a handle whose `read()` waits for the norm: nothing waits until it is called.
   */
  encodeGradNorm(): { read(): Promise<number> } {
    const batch = this.gpu.batch('grad_norm');
    const parts = this.tensors.map((t) => {
      const groups = Math.ceil(t.size / PER_GROUP);
      const out = this.gpu.allocate(groups * 4, `${t.name}.grad_sumsq`);
      this.kernels.sumsq.dispatch(batch, { x: t.grad, partial: out }, { n: t.size, base: 0 }, grid(groups));
      return { out, groups };
    });
    batch.submit();
    let released = false;
    return {
      read: async () => {
        if (released) throw new IgSearchError('INVALID_ARGUMENT', 'this gradient norm was already read');
        released = true;
        let sum = 0;
        try {
          const all = await Promise.all(parts.map(({ out, groups }) => this.gpu.read(out, groups * 4)));
          for (const part of all) for (const v of new Float32Array(part)) sum += v;
        } finally {
          for (const { out } of parts) this.gpu.pool.release(out);
        }
        return Math.sqrt(sum);
      },
    };
  }

  async step(): Promise<StepReport> {
    return this.encodeStep().read();
  }

  /**
   * Records the whole step — norm, clip factor, skip flag and update — and submits it without
   * waiting; `read()` returns its report (the only readback). Read it before the next step.
   */
  encodeStep(): { read(): Promise<StepReport> } {
    if (this.pending) throw new IgSearchError('INVALID_ARGUMENT', 'AdamW: the previous step has not been read yet');
    const { lr, betas, eps, weightDecay, maxGradNorm } = this.options;
    const gpu = this.gpu;
    const layout = this.tensors.map((t) => Math.ceil(t.size / PER_GROUP));
    const count = layout.reduce((a, b) => a + b, 0);
    const partials = gpu.allocate(count * 4, 'grad_sumsq');
    const control = gpu.allocate(16, 'grad_clip');
    const t = this.stepCount + 1; // taken unless the norm turns out not finite
    const batch = gpu.batch('adamw');
    let base = 0;
    this.tensors.forEach((tensor, i) => {
      const groups = layout[i]!;
      this.kernels.sumsq.dispatch(batch, { x: tensor.grad, partial: partials }, { n: tensor.size, base }, grid(groups));
      base += groups;
    });
    this.kernels.clip.dispatch(batch, { partial: partials, control }, { count, clipping: maxGradNorm === undefined ? 0 : 1, maxNorm: maxGradNorm ?? 0 }, [1]);
    const correction1 = 1 - betas[0] ** t;
    const correction2 = 1 - betas[1] ** t;
    this.tensors.forEach((tensor, i) => {
      const groups = Math.ceil(tensor.size / 64);
      this.kernels.adamw.dispatch(
        batch,
        { param: tensor.param, grad: tensor.grad, m: this.m[i]!, v: this.v[i]!, control },
        { n: tensor.size, lr, beta1: betas[0], beta2: betas[1], eps, weightDecay, correction1, correction2 },
        grid(groups),
      );
    });
    batch.submit();
    this.stepCount = t;
    this.pending = true;
    return {
      read: async () => {
        try {
          const [norm, clipScale, ok] = new Float32Array(await gpu.read(control, 12));
          if (!ok) {
            this.stepCount = t - 1;
            return { skipped: true, gradNorm: norm!, clipScale: 0, step: this.stepCount };
          }
          return { skipped: false, gradNorm: norm!, clipScale: clipScale!, step: t };
        } finally {
          this.pending = false;
          gpu.pool.release(partials);
          gpu.pool.release(control);
        }
      },
    };
  }

  /** Moments and step count, for checkpoints (tensor names as given at creation). */
  async exportState(): Promise<{ step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }> {
    const read = async (buffers: GPUBuffer[]) => new Map(await Promise.all(this.tensors.map(async (t, i) => [t.name, new Float32Array(await this.gpu.read(buffers[i]!, t.size * 4))] as const)));
    return { step: this.stepCount, m: await read(this.m), v: await read(this.v) };
  }

  /** Restores what `exportState` gave (same tensor names and sizes). */
  importState(state: { step: number; m: ReadonlyMap<string, Float32Array>; v: ReadonlyMap<string, Float32Array> }): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new IgSearchError('INVALID_ARGUMENT', `optimizer state: step ${state.step} is not a step count`);
    this.tensors.forEach((t, i) => {
      for (const [kind, map, buffers] of [['m', state.m, this.m], ['v', state.v, this.v]] as const) {
        const values = map.get(t.name);
        if (!values || values.length !== t.size) throw new IgSearchError('SHAPE_MISMATCH', `optimizer state: ${kind} of "${t.name}" has ${values?.length ?? 'no'} values, the tensor has ${t.size}`);
        this.gpu.device.queue.writeBuffer(buffers[i]!, 0, values);
      }
    });
    this.stepCount = state.step;
  }

  free(): void {
    for (const b of [...this.m, ...this.v]) this.gpu.pool.release(b);
  }
}

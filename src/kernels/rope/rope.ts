import type { Llama3RopeScaling } from '../../model/config.js';
import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { defineKernel } from '../../gpu/kernel.js';
import rowsSource from '../../model/rows.wgsl';
import source from './rope.wgsl';
import backwardSource from './rope.backward.wgsl';

export const ropeKernel = defineKernel({
  name: 'rope',
  code: `${rowsSource}\n${source}`,
  entryPoint: 'main',
});

export interface AttentionShape {
  T: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * RoPE's inverse frequencies θ^(−2j/d), j < d/2, and Llama-3's scaling of them when given: wavelengths
 * longer than originalMaxPositions / lowFreqFactor are divided by `factor`, shorter than
 * originalMaxPositions / highFreqFactor kept, and those between interpolated smoothly. `fround`
 * rounds every step to f32 (as HF computes them in fp32); the f64 reference passes the identity.
 */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling?: Llama3RopeScaling, fround: (x: number) => number = Math.fround): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let j = 0; j < half; j++) inv[j] = fround(1 / fround(theta ** fround((2 * j) / headDim)));
  if (!scaling) return inv;
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = scaling;
  for (let j = 0; j < half; j++) {
    const wavelength = (2 * Math.PI) / inv[j]!;
    if (wavelength > old / low) inv[j] = fround(inv[j]! / factor);
    else if (wavelength >= old / high) {
      const smooth = (old / wavelength - low) / (high - low);
      inv[j] = fround((1 - smooth) * (inv[j]! / factor) + smooth * inv[j]!);
    }
  }
  return inv;
}

/**
 * cos/sin table for positions [0, positions), `[pos][j] = (cos, sin)` of pos·invFreq[j]. The
 * inverse frequencies are rounded to f32 first and the angle is the f32 product, as HF computes
 * them in fp32; cos/sin are then taken in f64 and rounded once.
 */
export function ropeTable(positions: number, headDim: number, theta: number, scaling?: Llama3RopeScaling): Float32Array {
  const half = headDim / 2;
  const invFreq = ropeInverseFrequencies(headDim, theta, scaling);
  const table = new Float32Array(positions * half * 2);
  for (let pos = 0; pos < positions; pos++) {
    for (let j = 0; j < half; j++) {
      const angle = Math.fround(Math.fround(pos) * invFreq[j]!);
      table[(pos * half + j) * 2] = Math.cos(angle);
      table[(pos * half + j) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

/** Threads per row of the RoPE kernels: one per rotated pair of q and k, one per value of v. */
const ropeThreads = ({ heads, kvHeads, headDim }: AttentionShape) => (heads + kvHeads) * (headDim / 2) + kvHeads * headDim;

export class Rope {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<Rope> {
    return new Rope(await ComputeKernel.compile(gpu, ropeKernel));
  }

  /** Bias + RoPE on the fused q/k/v projection; q to `q`, k/v to the cache slots `rows` names. */
  encode(batch: DispatchBatch, b: { qkv: GPUBuffer; bias: GPUBuffer; rows: GPUBuffer; table: GPUBuffer; q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer }, shape: AttentionShape): void {
    const { T, heads, kvHeads, headDim } = shape;
    this.kernel.dispatch(batch, b, { T, heads, kvHeads, headDim }, [Math.ceil(ropeThreads(shape) / 64), T]);
  }
}

export const ropeBackwardKernel = defineKernel({ name: 'rope_backward', code: `${rowsSource}\n${backwardSource}`, entryPoint: 'main' });

export class RopeBackward {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<RopeBackward> {
    return new RopeBackward(await ComputeKernel.compile(gpu, ropeBackwardKernel));
  }

  /** d(qkv) [T, (heads + 2 kvHeads)·d] from dQ, dK, dV of training rows (kvRow = row). */
  encode(batch: DispatchBatch, b: { dQ: GPUBuffer; dK: GPUBuffer; dV: GPUBuffer; rows: GPUBuffer; table: GPUBuffer; dqkv: GPUBuffer }, shape: AttentionShape): void {
    const { T, heads, kvHeads, headDim } = shape;
    this.kernel.dispatch(batch, b, { T, heads, kvHeads, headDim }, [Math.ceil(ropeThreads(shape) / 64), T]);
  }
}

/**
 * Batched fp32 matmul, C[b] = A[b] · B[b] or A[b] · B[b]ᵀ, in variants chosen per adapter:
 * `subgroup8` for CPU adapters with 8-lane subgroups (lavapipe under Dawn), `blocked` for other
 * CPU adapters (lavapipe under Deno's wgpu, SwiftShader), `tiled` (shared memory) for GPUs, and
 * `naive`, the one-thread-per-output baseline the benchmark compares against.
 */
import { IgSearchError } from '../../errors.js';
import type { BufferSlice, DispatchBatch, Gpu } from '../../gpu/device.js';
import { defineKernel, type Kernel } from '../../gpu/kernel.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import naiveSource from './naive.wgsl';
import tiledSource from './matmul.wgsl';
import blockedSource from './matmul_blocked.wgsl';
import subgroupSource from './matmul_subgroup8.wgsl';

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  /** Number of independent products (default 1). */
  batch?: number;
  /** B is N×K (the HF `Linear.weight` layout, y = x·Wᵀ) instead of K×N. */
  transposeB?: boolean;
  /** One B shared by every batch entry (weights), instead of one per entry. */
  broadcastB?: boolean;
  /** Row stride of C in elements (default N): write into columns of a wider matrix. */
  ldc?: number;
}

export type MatmulVariant = 'tiled' | 'subgroup8' | 'blocked' | 'naive';

/** How a weight operand is stored: f32, or two bytes per value (f16, or bf16 packed two per u32 word). */
export type StorageDtype = 'f32' | 'f16' | 'bf16';

/** Bytes per stored value. */
export const storageBytes = (dtype: StorageDtype): number => (dtype === 'f32' ? 4 : 2);


const VARIANTS: Record<MatmulVariant, { name: string; source: string; tileRows: number; tileCols: number }> = {
  tiled: { name: 'matmul', source: tiledSource, tileRows: 64, tileCols: 64 },
  subgroup8: { name: 'matmul_subgroup8', source: subgroupSource, tileRows: 16, tileCols: 128 },
  blocked: { name: 'matmul_blocked', source: blockedSource, tileRows: 64, tileCols: 64 },
  naive: { name: 'matmul_naive', source: naiveSource, tileRows: 16, tileCols: 16 },
};

/** WGSL reading element i of a bf16 array stored as u32 words (little-endian: even elements in the low half). */
export const BF16_LOAD = (array: string, fn: string) => `fn ${fn}(i: u32) -> f32 { let w = ${array}[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }`;

/**
 * How B is stored: each variant reads it only through `bAt`, so a storage type is this declaration
 * and reader appended to the variant's source (f16 also needs `enable f16;` first, which goes before it).
 */
const B_STORAGE: Record<StorageDtype, { enable: string; declare: string }> = {
  f32: { enable: '', declare: '@group(0) @binding(1) var<storage, read> b: array<f32>;\nfn bAt(i: u32) -> f32 { return b[i]; }' },
  f16: { enable: 'enable f16;\n', declare: '@group(0) @binding(1) var<storage, read> b: array<f16>;\nfn bAt(i: u32) -> f32 { return f32(b[i]); }' },
  bf16: { enable: '', declare: `@group(0) @binding(1) var<storage, read> b: array<u32>;\n${BF16_LOAD('b', 'bAt')}` },
};

const kernels = new Map<string, Kernel>();

/** The kernel of `variant` reading B as `dtype` (f16 needs `shader-f16`; bf16 is widened exactly by a shift, any device). */
function matmulKernel(variant: MatmulVariant, dtype: StorageDtype): Kernel {
  const key = `${variant}:${dtype}`;
  let kernel = kernels.get(key);
  if (!kernel) {
    const v = VARIANTS[variant];
    const b = B_STORAGE[dtype];
    kernel = defineKernel({ name: dtype === 'f32' ? v.name : `${v.name}_${dtype}b`, code: `${b.enable}${v.source}\n${b.declare}\n`, entryPoint: 'main' });
    kernels.set(key, kernel);
  }
  return kernel;
}

/** The fastest variant this device can run. */
export function pickMatmulVariant(gpu: Gpu): MatmulVariant {
  const { isSoftware, subgroupMinSize, subgroupMaxSize } = gpu.adapter;
  const eightLanes = subgroupMinSize === 8 && subgroupMaxSize === 8;
  if (!isSoftware) return 'tiled';
  return eightLanes && gpu.features.has('subgroups') ? 'subgroup8' : 'blocked';
}

export interface MatmulOptions {
  transposeB?: boolean;
  /**
   * Element type of B: 'f16' reads half-precision B (weights stored at half the bytes; needs the
   * `shader-f16` feature), 'bf16' reads bfloat16 B exactly (half the bytes, any device); both
   * accumulate in f32. Default 'f32'.
   */
  dtypeB?: StorageDtype;
  /** C += A·B (the residual stream adds a projection in place). */
  accumulate?: boolean;
  /** Force a variant (benchmarks, tests); default `pickMatmulVariant(gpu)`. */
  variant?: MatmulVariant;
}

/** A compiled matmul for one (variant, transposeB); encodes dispatches into a `DispatchBatch`. */
export class Matmul {
  private constructor(
    readonly variant: MatmulVariant,
    readonly transposeB: boolean,
    readonly accumulate: boolean,
    readonly dtypeB: StorageDtype,
    private readonly compiled: CompiledKernel,
  ) {}

  static async create(gpu: Gpu, options: MatmulOptions = {}): Promise<Matmul> {
    const variant = options.variant ?? pickMatmulVariant(gpu);
    if (variant === 'subgroup8' && !gpu.features.has('subgroups')) {
      throw new IgSearchError('INVALID_ARGUMENT', 'matmul variant "subgroup8" needs the WebGPU "subgroups" feature, which this device lacks');
    }
    const transposeB = options.transposeB ?? false;
    const accumulate = options.accumulate ?? false;
    const dtypeB = options.dtypeB ?? 'f32';
    if (dtypeB === 'f16' && !gpu.hasF16) throw new IgSearchError('UNSUPPORTED_RUNTIME', 'matmul with f16 B needs the WebGPU "shader-f16" feature, which this device lacks');
    const constants = { TRANSPOSE_B: transposeB ? 1 : 0, ACCUMULATE: accumulate ? 1 : 0 };
    const compiled = await gpu.kernel(matmulKernel(variant, dtypeB), constants);
    return new Matmul(variant, transposeB, accumulate, dtypeB, compiled);
  }

  /** Records C = A·B (or C += A·B) for buffers (or slices) holding f32 data laid out as `shape` says. */
  encode(batch: DispatchBatch, a: GPUBuffer | BufferSlice, b: GPUBuffer | BufferSlice, c: GPUBuffer | BufferSlice, shape: MatmulShape): void {
    if (Boolean(shape.transposeB) !== this.transposeB) {
      throw new IgSearchError('INVALID_ARGUMENT', `this Matmul was compiled with transposeB=${this.transposeB}, shape says ${Boolean(shape.transposeB)}`);
    }
    const { M, N, K, count, sizeA, sizeB, sizeC } = checkShape(shape);
    const bytesB = storageBytes(this.dtypeB);
    for (const [name, resource, bytes] of [['A', a, sizeA * 4], ['B', b, sizeB * bytesB], ['C', c, sizeC * 4]] as const) {
      const { size, label } = 'buffer' in resource ? { size: resource.size, label: resource.buffer.label } : resource;
      if (size < bytes) {
        throw new IgSearchError('SHAPE_MISMATCH', `matmul: buffer ${name} ("${label}") holds ${size} bytes, shape ${describe(shape)} needs ${bytes}`);
      }
    }
    const ldc = shape.ldc ?? N;
    const params = new Uint32Array([M, N, K, count, M * K, shape.broadcastB ? 0 : K * N, M * ldc, ldc]);
    const { tileRows, tileCols } = VARIANTS[this.variant];
    batch.dispatch(this.compiled, [a, b, c, params], [Math.ceil(N / tileCols), Math.ceil(M / tileRows), count]);
  }
}

/**
 * Host-level convenience: uploads `a` and `b`, multiplies on the GPU, returns C. For repeated
 * products keep data on the GPU and use `Matmul.encode`.
 */
export async function matmul(gpu: Gpu, a: Float32Array, b: Float32Array, shape: MatmulShape, options: MatmulOptions = {}): Promise<Float32Array> {
  const { sizeA, sizeB, sizeC } = checkShape(shape);
  if (a.length !== sizeA) throw new IgSearchError('SHAPE_MISMATCH', `matmul: A has ${a.length} elements, shape ${describe(shape)} needs ${sizeA}`);
  if (b.length !== sizeB) throw new IgSearchError('SHAPE_MISMATCH', `matmul: B has ${b.length} elements, shape ${describe(shape)} needs ${sizeB}`);
  const mm = await Matmul.create(gpu, { ...options, transposeB: shape.transposeB ?? false });
  const bufA = gpu.upload(a, 'matmul.A');
  const bufB = gpu.upload(b, 'matmul.B');
  const bufC = gpu.allocate(sizeC * 4, 'matmul.C');
  try {
    const batch = gpu.batch('matmul');
    mm.encode(batch, bufA, bufB, bufC, shape);
    batch.submit();
    return new Float32Array(await gpu.read(bufC, sizeC * 4));
  } finally {
    for (const buffer of [bufA, bufB, bufC]) gpu.pool.release(buffer);
  }
}

function checkShape(shape: MatmulShape) {
  const { M, N, K } = shape;
  const count = shape.batch ?? 1;
  for (const [name, v] of [['M', M], ['N', N], ['K', K], ['batch', count]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new IgSearchError('SHAPE_MISMATCH', `matmul: ${name} must be a non-negative integer, got ${v}`);
    }
  }
  const sizeA = count * M * K;
  const sizeB = (shape.broadcastB ? 1 : count) * K * N;
  const ldc = shape.ldc ?? N;
  if (!Number.isSafeInteger(ldc) || ldc < N) throw new IgSearchError('SHAPE_MISMATCH', `matmul: ldc ${ldc} must be an integer ≥ N = ${N}`);
  const sizeC = M === 0 ? 0 : count * M * ldc - (ldc - N);
  if (Math.max(sizeA, sizeB, sizeC) >= 2 ** 32) {
    throw new IgSearchError('LIMIT_EXCEEDED', `matmul: shape ${describe(shape)} has more than 2^32 elements in one operand`);
  }
  return { M, N, K, count, sizeA, sizeB, sizeC };
}

function describe(shape: MatmulShape): string {
  const t = shape.transposeB ? 'ᵀ' : '';
  return `[${shape.batch ?? 1}] ${shape.M}×${shape.K} · ${shape.transposeB ? `${shape.N}×${shape.K}` : `${shape.K}×${shape.N}`}${t}`;
}

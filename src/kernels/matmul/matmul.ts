/**
 * Batched fp32 matmul, C[b] = A[b] · B[b] or A[b] · B[b]ᵀ, in variants chosen per adapter and shape:
 * `subgroup8` for CPU adapters with 8-lane subgroups (lavapipe under Dawn), `blocked` for other
 * CPU adapters (lavapipe under Deno's wgpu, SwiftShader); on GPUs `wide` (128×128 register-blocked
 * tiles) for many rows, `gemv` (K split over 32 invocations per column) for few rows of N×K weights,
 * `tiled` (64×64) between; and `naive`, the one-thread-per-output baseline the benchmark compares
 * against. Every variant is correct for every shape; the choice is only about speed.
 */
import { IgSearchError } from '../../errors.js';
import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { defineKernel, type Kernel } from '../../gpu/kernel.js';
import { ComputeKernel, type Resource } from '../../gpu/compute.js';
import naiveSource from './naive.wgsl';
import tiledSource from './matmul.wgsl';
import blockedSource from './matmul_blocked.wgsl';
import subgroupSource from './matmul_subgroup8.wgsl';
import wideSource from './matmul_wide.wgsl';
import gemvSource from './matmul_gemv.wgsl';
import commonSource from './matmul.common.wgsl';

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

export type MatmulVariant = 'tiled' | 'wide' | 'gemv' | 'subgroup8' | 'blocked' | 'naive';

/** How a weight operand is stored: f32, or two bytes per value (f16, or bf16 packed two per u32 word). */
export type StorageDtype = 'f32' | 'f16' | 'bf16';

/** Bytes per stored value. */
export const storageBytes = (dtype: StorageDtype): number => (dtype === 'f32' ? 4 : 2);


const VARIANTS: Record<MatmulVariant, { name: string; source: string; tileRows: number; tileCols: number }> = {
  tiled: { name: 'matmul', source: tiledSource, tileRows: 64, tileCols: 64 },
  wide: { name: 'matmul_wide', source: wideSource, tileRows: 128, tileCols: 128 },
  gemv: { name: 'matmul_gemv', source: gemvSource, tileRows: 8, tileCols: 8 },
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

/**
 * What the kernel does to A as it loads it — the step before a projection folded into the projection,
 * one dispatch instead of two:
 * - `none`: A as stored.
 * - `norm`: RMSNorm(A)·B with the norm's weight g: each row's sum of squares accumulates from the
 *   values the kernel loads anyway, A·diag(g) is multiplied, and the row's 1/rms scales the result
 *   (C = rms⁻¹ ⊙ (A·diag(g))·B = RMSNorm(A)·B).
 * - `normIndirect`: the same on rows of A picked by an index (the final norm + LM head on the scored rows).
 * - `swiglu`: A is the fused gate/up projection [M, 2K]; the kernel reads silu(gate)·up (SwiGLU + down_proj).
 */
export type MatmulPrologue = 'none' | 'norm' | 'normIndirect' | 'swiglu';

/**
 * Each variant reads A only through `aRow(base, m)` (where row m starts), `aAt(row, k)` ((value,
 * square for the norm)) and `rowScale(sumOfSquares)` (what multiplies row m of the result), and
 * gathers the row norm statistic only when `ROW_NORM`: a prologue is these declarations appended
 * to the variant's source, like B's storage.
 */
const A_PROLOGUE: Record<MatmulPrologue, string> = {
  none: `@group(0) @binding(0) var<storage, read> a: array<f32>;
const ROW_NORM = false;
fn aRow(base: u32, m: u32) -> u32 { return base + m * p.K; }
fn aAt(row: u32, k: u32) -> vec2<f32> { return vec2<f32>(a[row + k], 0.0); }
fn rowScale(sq: f32) -> f32 { return 1.0; }`,
  norm: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read> normWeight: array<f32>;
override NORM_EPS: f32 = 1e-6;
const ROW_NORM = true;
fn aRow(base: u32, m: u32) -> u32 { return base + m * p.K; }
fn aAt(row: u32, k: u32) -> vec2<f32> { let v = a[row + k]; return vec2<f32>(v * normWeight[k], v * v); }
fn rowScale(sq: f32) -> f32 { return inverseSqrt(sq / f32(p.K) + NORM_EPS); }`,
  normIndirect: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read> normWeight: array<f32>;
@group(0) @binding(5) var<storage, read> rowIndex: array<u32>;
override NORM_EPS: f32 = 1e-6;
const ROW_NORM = true;
fn aRow(base: u32, m: u32) -> u32 { return base + rowIndex[m] * p.K; }
fn aAt(row: u32, k: u32) -> vec2<f32> { let v = a[row + k]; return vec2<f32>(v * normWeight[k], v * v); }
fn rowScale(sq: f32) -> f32 { return inverseSqrt(sq / f32(p.K) + NORM_EPS); }`,
  swiglu: `@group(0) @binding(0) var<storage, read> a: array<f32>;
const ROW_NORM = false;
fn aRow(base: u32, m: u32) -> u32 { return base + m * 2u * p.K; }
fn aAt(row: u32, k: u32) -> vec2<f32> { let g = a[row + k]; return vec2<f32>(g / (1.0 + exp(-g)) * a[row + p.K + k], 0.0); }
fn rowScale(sq: f32) -> f32 { return 1.0; }`,
};

/**
 * The arithmetic of the products: 'f32', or 'f16' — tiles staged and multiplied in half precision,
 * each slab's 8 products summed in f16 and added to f32 accumulators (the `wide` variant; needs
 * `shader-f16`). The type is the `Compute` alias the variant's source is written in.
 */
export type MatmulCompute = 'f32' | 'f16';

/** The variants that multiply in f16 when asked to; the others always multiply in f32. */
const HALF_VARIANTS: ReadonlySet<MatmulVariant> = new Set(['wide']);

const COMPUTE: Record<MatmulCompute, string> = {
  f32: 'alias Compute = f32;\nconst HALF = false;',
  f16: 'alias Compute = f16;\nconst HALF = true;',
};

const kernels = new Map<string, Kernel>();

/**
 * The kernel of `variant` reading B as `dtype` (f16 needs `shader-f16`; bf16 is widened exactly by a
 * shift, any device), A through `prologue`, multiplying in `compute`.
 */
function matmulKernel(variant: MatmulVariant, dtype: StorageDtype, prologue: MatmulPrologue = 'none', compute: MatmulCompute = 'f32'): Kernel {
  const key = `${variant}:${dtype}:${prologue}:${compute}`;
  let kernel = kernels.get(key);
  if (!kernel) {
    const v = VARIANTS[variant];
    const b = B_STORAGE[dtype];
    const name = `${v.name}${dtype === 'f32' ? '' : `_${dtype}b`}${prologue === 'none' ? '' : `_${prologue}`}${compute === 'f32' ? '' : `_${compute}c`}`;
    const enable = b.enable || (compute === 'f16' ? 'enable f16;\n' : '');
    kernel = defineKernel({ name, code: `${enable}${v.source}\n${COMPUTE[compute]}\n${commonSource}\n${A_PROLOGUE[prologue]}\n${b.declare}\n`, entryPoint: 'main' });
    kernels.set(key, kernel);
  }
  return kernel;
}

/** Rows at or below which a GPU multiplies N×K weights with `gemv`; at or above `WIDE_ROWS` (and as many columns), `wide`. */
export const GEMV_ROWS = 16;
export const WIDE_ROWS = 128;

/**
 * The fastest variant this device runs for `shape` (without a shape: for a mid-sized product). CPU
 * adapters have one variant for every shape; GPUs pick by the number of rows.
 */
export function pickMatmulVariant(gpu: Gpu, shape?: Pick<MatmulShape, 'M' | 'N' | 'transposeB'>): MatmulVariant {
  const { isSoftware, subgroupMinSize, subgroupMaxSize } = gpu.adapter;
  const eightLanes = subgroupMinSize === 8 && subgroupMaxSize === 8;
  if (isSoftware) return eightLanes && gpu.features.has('subgroups') ? 'subgroup8' : 'blocked';
  if (!shape) return 'tiled';
  if (shape.transposeB && shape.M <= GEMV_ROWS && Math.ceil(shape.N / VARIANTS.gemv.tileCols) <= gpu.limits.maxComputeWorkgroupsPerDimension) return 'gemv';
  return shape.M >= WIDE_ROWS && shape.N >= WIDE_ROWS ? 'wide' : 'tiled';
}

/** The variants a Matmul compiled without a forced variant may use on this device. */
function candidateVariants(gpu: Gpu, transposeB: boolean): MatmulVariant[] {
  if (gpu.adapter.isSoftware) return [pickMatmulVariant(gpu)];
  return transposeB ? ['tiled', 'wide', 'gemv'] : ['tiled', 'wide'];
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
  /** Force a variant (benchmarks, tests); default `pickMatmulVariant(gpu, shape)` at each product. */
  variant?: MatmulVariant;
  /** What is done to A as it loads (default 'none'; see `MatmulPrologue`). */
  prologue?: MatmulPrologue;
  /** The folded RMSNorm's epsilon (prologues 'norm' and 'normIndirect'; default 1e-6). */
  normEps?: number;
  /**
   * 'f16' lets the `wide` variant (a GPU's products of ≥ 128 rows and columns) multiply in half
   * precision (see `MatmulCompute`): errors grow like 2^-11·√(8K) relative (2–8·10⁻³ measured for
   * K = 20–300), and A and B must lie within f16's range (|x| < 65,504). Needs `shader-f16`; other
   * variants still multiply in f32. Default 'f32'.
   */
  compute?: MatmulCompute;
}

/** The extra operands of a prologue: the norm's weight [K], and for 'normIndirect' the row index [M]. */
export interface PrologueOperands {
  normWeight?: GPUBuffer;
  rowIndex?: GPUBuffer;
}

/** A compiled matmul for one (transposeB, accumulate, B storage, prologue); encodes dispatches into a `DispatchBatch`. */
export class Matmul {
  private constructor(
    private readonly gpu: Gpu,
    /** The forced variant, or undefined: each product picks by its shape. */
    private readonly forced: MatmulVariant | undefined,
    readonly transposeB: boolean,
    readonly accumulate: boolean,
    readonly dtypeB: StorageDtype,
    readonly prologue: MatmulPrologue,
    private readonly kernels: Partial<Record<MatmulVariant, ComputeKernel>>,
  ) {}

  /** The variant a product of `shape` runs with. */
  variantFor(shape: Pick<MatmulShape, 'M' | 'N'>): MatmulVariant {
    return this.forced ?? pickMatmulVariant(this.gpu, { ...shape, transposeB: this.transposeB });
  }

  /** The variant a mid-sized product runs with (what `ig-search doctor` and the benches report). */
  get variant(): MatmulVariant {
    return this.forced ?? pickMatmulVariant(this.gpu);
  }

  static async create(gpu: Gpu, options: MatmulOptions = {}): Promise<Matmul> {
    const variant = options.variant;
    if (variant !== undefined && !(variant in VARIANTS)) throw new IgSearchError('INVALID_ARGUMENT', `matmul variant must be one of ${Object.keys(VARIANTS).join(', ')}, got ${JSON.stringify(variant)}`);
    if (variant === 'subgroup8' && !gpu.features.has('subgroups')) {
      throw new IgSearchError('INVALID_ARGUMENT', 'matmul variant "subgroup8" needs the WebGPU "subgroups" feature, which this device lacks');
    }
    const transposeB = options.transposeB ?? false;
    const accumulate = options.accumulate ?? false;
    const dtypeB = options.dtypeB ?? 'f32';
    if (dtypeB === 'f16' && !gpu.hasF16) throw new IgSearchError('UNSUPPORTED_RUNTIME', 'matmul with f16 B needs the WebGPU "shader-f16" feature, which this device lacks');
    const prologue = options.prologue ?? 'none';
    if (!(prologue in A_PROLOGUE)) throw new IgSearchError('INVALID_ARGUMENT', `matmul prologue must be one of ${Object.keys(A_PROLOGUE).join(', ')}, got ${JSON.stringify(prologue)}`);
    const compute = options.compute ?? 'f32';
    if (compute !== 'f32' && compute !== 'f16') throw new IgSearchError('INVALID_ARGUMENT', `matmul compute must be "f32" or "f16", got ${JSON.stringify(compute)}`);
    if (compute === 'f16' && !gpu.hasF16) throw new IgSearchError('UNSUPPORTED_RUNTIME', 'matmul compute "f16" needs the WebGPU "shader-f16" feature, which this device lacks; use "f32"');
    if (compute === 'f16' && variant !== undefined && !HALF_VARIANTS.has(variant)) {
      throw new IgSearchError('INVALID_ARGUMENT', `matmul variant "${variant}" multiplies in f32 only; compute "f16" is for ${[...HALF_VARIANTS].join(', ')}`);
    }
    const normEps = options.normEps ?? 1e-6;
    if (!(normEps > 0)) throw new IgSearchError('INVALID_ARGUMENT', `normEps must be positive, got ${normEps}`);
    const constants: Record<string, number> = { TRANSPOSE_B: transposeB ? 1 : 0, ACCUMULATE: accumulate ? 1 : 0 };
    if (prologue === 'norm' || prologue === 'normIndirect') constants.NORM_EPS = normEps;
    const variants = variant ? [variant] : candidateVariants(gpu, transposeB);
    const compiled = await Promise.all(variants.map((v) => ComputeKernel.compile(gpu, matmulKernel(v, dtypeB, prologue, HALF_VARIANTS.has(v) ? compute : 'f32'), constants)));
    const kernels = Object.fromEntries(variants.map((v, i) => [v, compiled[i]!]));
    return new Matmul(gpu, variant, transposeB, accumulate, dtypeB, prologue, kernels);
  }

  /**
   * Records C = A·B (or C += A·B) for buffers (or slices) holding f32 data laid out as `shape` says;
   * a prologue's operands (`PrologueOperands`) come last.
   */
  encode(batch: DispatchBatch, a: Resource, b: Resource, c: Resource, shape: MatmulShape, operands: PrologueOperands = {}): void {
    if (Boolean(shape.transposeB) !== this.transposeB) {
      throw new IgSearchError('INVALID_ARGUMENT', `this Matmul was compiled with transposeB=${this.transposeB}, shape says ${Boolean(shape.transposeB)}`);
    }
    const { M, N, K, count, sizeB, sizeC } = checkShape(shape);
    // SwiGLU reads [M, 2K] (gate | up); an indirect norm reads whichever rows its index names (at least one).
    const strideA = this.prologue === 'swiglu' ? 2 * M * K : M * K;
    const sizeA = this.prologue === 'normIndirect' ? (M === 0 ? 0 : K) : count * strideA;
    const bytesB = storageBytes(this.dtypeB);
    const buffers: Record<string, Resource> = { a, b, c };
    if (this.prologue === 'norm' || this.prologue === 'normIndirect') {
      if (!operands.normWeight) throw new IgSearchError('INVALID_ARGUMENT', `matmul prologue "${this.prologue}" needs operands.normWeight`);
      if (operands.normWeight.size < K * 4) throw new IgSearchError('SHAPE_MISMATCH', `matmul: the norm weight ("${operands.normWeight.label}") holds ${operands.normWeight.size} bytes, K = ${K} needs ${K * 4}`);
      buffers.normWeight = operands.normWeight;
    }
    if (this.prologue === 'normIndirect') {
      if (!operands.rowIndex) throw new IgSearchError('INVALID_ARGUMENT', 'matmul prologue "normIndirect" needs operands.rowIndex');
      if (operands.rowIndex.size < M * 4) throw new IgSearchError('SHAPE_MISMATCH', `matmul: the row index ("${operands.rowIndex.label}") holds ${operands.rowIndex.size} bytes, M = ${M} needs ${M * 4}`);
      buffers.rowIndex = operands.rowIndex;
    }
    for (const [name, resource, bytes] of [['A', a, sizeA * 4], ['B', b, sizeB * bytesB], ['C', c, sizeC * 4]] as const) {
      const { size, label } = 'buffer' in resource ? { size: resource.size, label: resource.buffer.label } : resource;
      if (size < bytes) {
        throw new IgSearchError('SHAPE_MISMATCH', `matmul: buffer ${name} ("${label}") holds ${size} bytes, shape ${describe(shape)} needs ${bytes}`);
      }
    }
    const ldc = shape.ldc ?? N;
    const params = { M, N, K, batch: count, strideA, strideB: shape.broadcastB ? 0 : K * N, strideC: M * ldc, ldc };
    const variant = this.variantFor({ M, N });
    const { tileRows, tileCols } = VARIANTS[variant];
    this.kernels[variant]!.dispatch(batch, buffers, params, [Math.ceil(N / tileCols), Math.ceil(M / tileRows), count]);
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

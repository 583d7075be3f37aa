import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel, type Resource } from '../../gpu/compute.js';
import { defineKernel, type Kernel } from '../../gpu/kernel.js';
import { BF16_LOAD, type StorageDtype } from '../matmul/matmul.js';
import rowsSource from '../../model/rows.wgsl';
import source from './embedding.wgsl';
import backwardSource from './embedding.backward.wgsl';

/** The gather for a table stored as `dtype`: the table's declaration and reader composed with the shared source. */
const embeddingFor = (dtype: StorageDtype) => {
  const table = {
    f32: 'var<storage, read> table: array<f32>;\nfn tableAt(i: u32) -> f32 { return table[i]; }',
    f16: 'var<storage, read> table: array<f16>;\nfn tableAt(i: u32) -> f32 { return f32(table[i]); }',
    bf16: `var<storage, read> table: array<u32>;\n${BF16_LOAD('table', 'tableAt')}`,
  }[dtype];
  return defineKernel({ name: dtype === 'f32' ? 'embedding' : `embedding_${dtype}`, code: `${dtype === 'f16' ? 'enable f16;\n' : ''}${rowsSource}\n${source}\n@group(0) @binding(0) ${table}\n`, entryPoint: 'main' });
};

export const embeddingKernel = embeddingFor('f32');
/** The gather for each table storage (f16 needs `shader-f16`; bf16 is packed two per u32 word, widened exactly). */
export const EMBEDDING_KERNELS: Readonly<Record<StorageDtype, Kernel>> = { f32: embeddingKernel, f16: embeddingFor('f16'), bf16: embeddingFor('bf16') };

export class Embedding {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu, options: { table?: StorageDtype } = {}): Promise<Embedding> {
    return new Embedding(await ComputeKernel.compile(gpu, EMBEDDING_KERNELS[options.table ?? 'f32']));
  }

  /** out[t] = table[token(t) − rowStart] for rows whose token is in this shard of the table. `rows`: packed rows (model/rows.ts), token first. */
  encode(batch: DispatchBatch, b: { table: Resource; rows: GPUBuffer; out: GPUBuffer }, { T, H, rowStart, rows }: { T: number; H: number; rowStart: number; rows: number }): void {
    this.kernel.dispatch(batch, b, { T, H, rowStart, rows }, [Math.ceil(H / 64), T]);
  }
}

export const embeddingBackwardKernel = defineKernel({ name: 'embedding_backward', code: backwardSource, entryPoint: 'main' });

/** Rows grouped by token, for `EmbeddingBackward`: unique tokens, CSR offsets, row indices. */
export function groupRowsByToken(tokens: ArrayLike<number>): { unique: Uint32Array; offsets: Uint32Array; rows: Uint32Array } {
  const byToken = new Map<number, number[]>();
  for (let r = 0; r < tokens.length; r++) {
    const list = byToken.get(tokens[r]!);
    if (list) list.push(r);
    else byToken.set(tokens[r]!, [r]);
  }
  const unique = Uint32Array.from(byToken.keys());
  const offsets = new Uint32Array(unique.length + 1);
  const rows = new Uint32Array(tokens.length);
  let at = 0;
  unique.forEach((t, u) => {
    for (const r of byToken.get(t)!) rows[at++] = r;
    offsets[u + 1] = at;
  });
  return { unique, offsets, rows };
}

export class EmbeddingBackward {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<EmbeddingBackward> {
    return new EmbeddingBackward(await ComputeKernel.compile(gpu, embeddingBackwardKernel));
  }

  /** dE[token − rowStart] += Σ dx[row] over each unique token's rows (`groupRowsByToken`), for tokens in this shard. */
  encode(batch: DispatchBatch, b: { dx: GPUBuffer; tokens: GPUBuffer; offsets: GPUBuffer; rows: GPUBuffer; dE: Resource }, { U, H, rowStart, rows }: { U: number; H: number; rowStart: number; rows: number }): void {
    this.kernel.dispatch(batch, b, { U, H, rowStart, rows }, [Math.ceil(H / 64), U]);
  }
}

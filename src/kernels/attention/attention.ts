import { IgSearchError } from '../../errors.js';
import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import type { AttentionShape } from '../rope/rope.js';
import rowsSource from '../../model/rows.wgsl';
import source from './attention.wgsl';
import decodeSource from './attention_decode.wgsl';
import onlineSource from './attention.online.wgsl';
import backwardCommon from './attention.backward.wgsl';
import dqSource from './attention.dq.wgsl';
import dkvSource from './attention.dkv.wgsl';

export const attentionKernel = defineKernel({
  name: 'attention',
  code: `${GRID_WGSL}\n${rowsSource}\n${onlineSource}\n${source}`,
  entryPoint: 'main',
});

/** The largest head dimension the kernel's per-invocation arrays hold. */
export const MAX_HEAD_DIM = 256;

function checkHeads({ heads, kvHeads, headDim }: AttentionShape, even = false): void {
  if (headDim > MAX_HEAD_DIM || heads % kvHeads !== 0 || (even && headDim % 2 !== 0)) {
    throw new IgSearchError('SHAPE_MISMATCH', `attention: head dim ${headDim} (${even ? 'even, ' : ''}max ${MAX_HEAD_DIM}) with ${heads} heads over ${kvHeads} KV heads is not supported`);
  }
}

/** Causal GQA attention of packed rows over the KV cache (ranges from `rows`). */
export class Attention {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu, options: { headDim?: number } = {}): Promise<Attention> {
    return new Attention(await ComputeKernel.compile(gpu, attentionKernel, options.headDim ? { HEAD_DIM: options.headDim } : {}));
  }

  encode(batch: DispatchBatch, b: { q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; rows: GPUBuffer; out: GPUBuffer }, shape: AttentionShape): void {
    checkHeads(shape);
    const { T, heads, kvHeads, headDim } = shape;
    this.kernel.dispatch(batch, b, { T, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) }, grid(Math.ceil((T * heads) / 64)));
  }
}

export const attentionDecodeKernel = defineKernel({
  name: 'attention_decode',
  code: `${GRID_WGSL}\n${rowsSource}\n${onlineSource}\n${decodeSource}`,
  entryPoint: 'main',
});

/**
 * Decode attention with the q/k norm (Qwen3), bias, RoPE and KV-cache write fused in (one dispatch
 * for what `QkNorm` + `Rope` + `Attention` do), for rows that attend to no other row of the same
 * dispatch — `attendsOnlyToCache` says when.
 */
export class AttentionDecode {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu, options: { headDim: number }): Promise<AttentionDecode> {
    return new AttentionDecode(await ComputeKernel.compile(gpu, attentionDecodeKernel, { HEAD_DIM: options.headDim }));
  }

  encode(
    batch: DispatchBatch,
    b: { qkv: GPUBuffer; bias: GPUBuffer; qkNormWeight: GPUBuffer; table: GPUBuffer; rows: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer },
    shape: AttentionShape & { qkNormEps?: number },
  ): void {
    checkHeads(shape, true);
    const { T, heads, kvHeads, headDim, qkNormEps } = shape;
    const qkNorm = qkNormEps === undefined ? 0 : 1;
    this.kernel.dispatch(batch, b, { T, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim), eps: qkNormEps ?? 0, qkNorm }, grid(Math.ceil((T * heads) / 64)));
  }
}

/**
 * Whether every row of `info` (packed rows, `fields` u32 each, as model/rows.ts lays them out)
 * attends only to cache slots that no row of `info` writes — apart from its own — so that writing
 * the keys and attending can share one dispatch (`encodeAttentionDecode`). True for a decode step
 * (one new token per sequence); false for a prefill, whose rows read each other's keys.
 */
export function attendsOnlyToCache(info: Uint32Array, fields: number): boolean {
  const rows = info.length / fields;
  const written = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) written[r] = info[r * fields + 2]!;
  written.sort();
  for (let r = 1; r < rows; r++) if (written[r] === written[r - 1]) return false;
  // Is any written slot in [from, to)?
  const hits = (from: number, to: number) => {
    let lo = 0;
    let hi = rows;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (written[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    return lo < rows && written[lo]! < to;
  };
  for (let r = 0; r < rows; r++) {
    const [, , slot, ctxStart, ctxLength, selfStart, ctx2Start, ctx2Length] = info.subarray(r * fields, r * fields + 8);
    if (hits(ctxStart!, ctxStart! + ctxLength!) || hits(ctx2Start!, ctx2Start! + ctx2Length!) || hits(selfStart!, slot!)) return false;
  }
  return true;
}

// Two modules sharing attention.backward.wgsl, each binding 8 storage buffers + the uniform.
export const attentionDqKernel = defineKernel({ name: 'attention_backward_dq', code: `${rowsSource}\n${backwardCommon}\n${dqSource}`, entryPoint: 'dq' });
export const attentionDkvKernel = defineKernel({ name: 'attention_backward_dkv', code: `${rowsSource}\n${backwardCommon}\n${dkvSource}`, entryPoint: 'dkv' });

/**
 * Attention backward for training rows (own sequence only): dQ, then dK and dV. `ends[j]` is the
 * exclusive end row of row j's sequence; `stats` is scratch of T·heads·2 floats.
 */
export class AttentionBackward {
  private constructor(
    private readonly dq: ComputeKernel,
    private readonly dkv: ComputeKernel,
  ) {}

  static async create(gpu: Gpu, options: { headDim?: number } = {}): Promise<AttentionBackward> {
    const constants: Record<string, number> = options.headDim ? { HEAD_DIM: options.headDim } : {};
    const [dq, dkv] = await Promise.all([ComputeKernel.compile(gpu, attentionDqKernel, constants), ComputeKernel.compile(gpu, attentionDkvKernel, constants)]);
    return new AttentionBackward(dq, dkv);
  }

  encode(
    batch: DispatchBatch,
    b: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; o: GPUBuffer; dO: GPUBuffer; rows: GPUBuffer; ends: GPUBuffer; stats: GPUBuffer; dQ: GPUBuffer; dK: GPUBuffer; dV: GPUBuffer },
    shape: AttentionShape,
  ): void {
    const { T, heads, kvHeads, headDim } = shape;
    const params = { T, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) };
    // Workgroups of 64 rows × one head (query rows for dQ, key rows for dK/dV).
    const tiles = Math.ceil(T / 64);
    if (tiles > 65535) throw new IgSearchError('LIMIT_EXCEEDED', `attention backward: ${T} rows exceed ${65535 * 64} per pass`, { hint: 'train fewer rows per micro-batch' });
    this.dq.dispatch(batch, { q: b.q, k: b.k, v: b.v, dO: b.dO, o: b.o, rows: b.rows, stats: b.stats, dQ: b.dQ }, params, [tiles, heads]);
    this.dkv.dispatch(batch, { q: b.q, k: b.k, v: b.v, dO: b.dO, ends: b.ends, stats: b.stats, dK: b.dK, dV: b.dV }, params, [tiles, kvHeads]);
  }
}

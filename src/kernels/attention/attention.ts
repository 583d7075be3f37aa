import { IgSearchError } from '../../errors.js';
import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import type { AttentionShape } from '../rope/rope.js';
import { rowRanges } from '../../model/rows.js';
import rowsSource from '../../model/rows.wgsl';
import source from './attention.wgsl';
import decodeSource from './attention_decode.wgsl';
import decodeFlashSource from './attention_decode.flash.wgsl';
import decodeCommon from './attention_decode.common.wgsl';
import onlineSource from './attention.online.wgsl';
import backwardCommon from './attention.backward.wgsl';
import dqSource from './attention.dq.wgsl';
import dkvSource from './attention.dkv.wgsl';
import walksSource from './attention.walks.wgsl';
import flashSource from './attention.flash.wgsl';
import flashDqSource from './attention.flash_dq.wgsl';
import flashDkvSource from './attention.flash_dkv.wgsl';
import flashBackwardSource from './attention.flash_backward.wgsl';

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

export const attentionFlashKernel = defineKernel({
  name: 'attention_flash',
  code: `${rowsSource}\n${walksSource}\n${flashSource}`,
  entryPoint: 'main',
});

/**
 * How the attention kernels are shaped. 'rows': one invocation per (row, head), each reading its keys
 * from the cache itself. 'flash': a workgroup per 64 rows of one head stages their keys and values
 * tile by tile in workgroup memory and rescales the online softmax once per tile; it needs a head
 * dimension that is a multiple of 4. Flash is the faster on GPUs and on lavapipe alike (3× there, one
 * long sequence) wherever a tile's rows share their keys — every training and prefill layout;
 * `flashSuits` says when a forward layout does not.
 */
export type AttentionVariant = 'rows' | 'flash';

/** Keys (forward, dQ) or query rows (dK/dV) per staged tile of the flash kernels, whose tiles hold 1,024 floats. */
export function flashTile(headDim: number): number {
  return Math.min(64, Math.floor(1024 / headDim));
}

function flashFits(headDim: number | undefined): headDim is number {
  return headDim !== undefined && Number.isInteger(headDim) && headDim > 0 && headDim % 4 === 0 && headDim <= MAX_HEAD_DIM;
}

/** 'flash' for a head dimension it takes (known at creation), else 'rows'. */
export function pickAttentionVariant(headDim?: number): AttentionVariant {
  return flashFits(headDim) ? 'flash' : 'rows';
}

/** The decode kernel's shape on this adapter: one invocation per (row, head) on a CPU, flash-decoding on a GPU. */
export function pickDecodeVariant(gpu: Gpu): AttentionVariant {
  return gpu.adapter.isSoftware ? 'rows' : 'flash';
}

const TILE_ROWS = 64;

/**
 * Whether the flash forward suits packed rows `info` (ROW_FIELDS u32 each, model/rows.ts): the
 * keys its workgroups stage — a tile walks the union of its rows' spans, merged as
 * attention.walks.wgsl merges them — against the rows variant's, where a tile takes as long as its
 * row with the most keys, within `maxRatio`. A tile of rows after many distinct long contexts is
 * where flash loses: on lavapipe, 64 rows in k groups each after its own 512 keys ran flash/rows
 * 0.39 (k = 1), 0.47 (4), 0.57 (8), 0.84 (16), 1.40 (32) — CPU lanes that take no key skip it, so only
 * the staging is wasted — hence 16 on CPU adapters. On a GPU every staged key costs the tile a
 * synchronised step while one lane may work, so the default there is 2 (not yet measured on one).
 */
export function flashSuits(info: Uint32Array, fields: number, maxRatio = 2): boolean {
  const rows = info.length / fields;
  let flash = 0;
  let perRow = 0;
  for (let first = 0; first < rows; first += TILE_ROWS) {
    let longest = 0;
    const open: ([number, number] | undefined)[] = [undefined, undefined, undefined];
    for (let r = first; r < Math.min(first + TILE_ROWS, rows); r++) {
      const { kvSlot: slot, ctxStart, ctxLength, selfStart, ctx2Start, ctx2Length } = rowRanges(info, r, fields);
      const spans: [number, number][] = [[ctxStart, ctxStart + ctxLength], [ctx2Start, ctx2Start + ctx2Length], [selfStart, slot + 1]];
      longest = Math.max(longest, ctxLength + ctx2Length + slot + 1 - selfStart);
      spans.forEach(([start, end], kind) => {
        if (start >= end) return;
        const walk = open[kind];
        if (walk && start <= walk[1] && end >= walk[0]) {
          flash += Math.max(walk[1], end) - walk[1] + walk[0] - Math.min(walk[0], start);
          walk[0] = Math.min(walk[0], start);
          walk[1] = Math.max(walk[1], end);
        } else {
          flash += end - start;
          open[kind] = [start, end];
        }
      });
    }
    perRow += longest;
  }
  return flash <= maxRatio * perRow;
}

const VARIANTS: readonly AttentionVariant[] = ['rows', 'flash'];

/** The forced variant, checked: a typed error for anything but 'rows' and 'flash'. */
function checkVariant(kernel: string, variant: AttentionVariant | undefined): AttentionVariant | undefined {
  if (variant !== undefined && !VARIANTS.includes(variant)) {
    throw new IgSearchError('INVALID_ARGUMENT', `${kernel}: variant must be ${VARIANTS.map((v) => `"${v}"`).join(' or ')}, got ${JSON.stringify(variant)}`);
  }
  return variant;
}

function flashConstants(kernel: string, headDim: number | undefined, tile: 'KEYS' | 'QUERIES'): Record<string, number> {
  if (!flashFits(headDim)) {
    throw new IgSearchError('INVALID_ARGUMENT', `${kernel}: the flash variant needs options.headDim, a multiple of 4 up to ${MAX_HEAD_DIM} (got ${headDim})`, { hint: "use variant 'rows'" });
  }
  return { HEAD_DIM: headDim, [tile]: flashTile(headDim) };
}

interface AttentionOptions {
  /** The head dimension, fixed in the pipeline (required by 'flash'; 'rows' reads it per dispatch without it). */
  headDim?: number;
  /** Force a variant (tests, benchmarks); default `pickAttentionVariant(headDim)`, and per layout for the forward. */
  variant?: AttentionVariant;
}

/** Causal GQA attention of packed rows over the KV cache (ranges from `rows`). */
export class Attention {
  private constructor(
    private readonly kernels: Partial<Record<AttentionVariant, ComputeKernel>>,
    /** The forced variant, or undefined: each dispatch picks by its layout where flash fits. */
    private readonly forced: AttentionVariant | undefined,
    private readonly headDim: number | undefined,
    /** `flashSuits`'s bound for this adapter. */
    private readonly maxWalkRatio: number,
  ) {}

  static async create(gpu: Gpu, options: AttentionOptions = {}): Promise<Attention> {
    const { headDim } = options;
    const variant = checkVariant('attention', options.variant);
    const variants: AttentionVariant[] = variant ? [variant] : pickAttentionVariant(headDim) === 'flash' ? ['flash', 'rows'] : ['rows'];
    const compiled = await Promise.all(
      variants.map((v) =>
        v === 'flash' ? ComputeKernel.compile(gpu, attentionFlashKernel, flashConstants('attention', headDim, 'KEYS')) : ComputeKernel.compile(gpu, attentionKernel, headDim ? { HEAD_DIM: headDim } : {}),
      ),
    );
    const kernels: Partial<Record<AttentionVariant, ComputeKernel>> = Object.fromEntries(variants.map((v, i) => [v, compiled[i]!]));
    return new Attention(kernels, variant, headDim, gpu.adapter.isSoftware ? 16 : 2);
  }

  /** The variant a layout-blind dispatch runs (what the benches report). */
  get variant(): AttentionVariant {
    return this.forced ?? (this.kernels.flash ? 'flash' : 'rows');
  }

  /** The variant a dispatch over packed rows `info` runs (`flashSuits`), unless one was forced. */
  variantFor(info: Uint32Array | undefined, fields: number): AttentionVariant {
    if (this.forced || !this.kernels.flash || !info) return this.variant;
    return flashSuits(info, fields, this.maxWalkRatio) ? 'flash' : 'rows';
  }

  /** Records the attention of `shape.T` rows with `variant` (from `variantFor` on the host copy of `rows`; default `this.variant`). */
  encode(
    batch: DispatchBatch,
    b: { q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; rows: GPUBuffer; out: GPUBuffer },
    shape: AttentionShape,
    variant: AttentionVariant = this.variant,
  ): void {
    checkHeads(shape);
    checkCompiledHeadDim('attention', this.headDim, shape.headDim);
    if (!this.kernels[variant]) throw new IgSearchError('INVALID_ARGUMENT', `attention: variant '${variant}' was not compiled (this one runs ${Object.keys(this.kernels).join(', ')})`);
    const { T, heads, kvHeads, headDim } = shape;
    const params = { T, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) };
    if (variant === 'flash') {
      this.kernels.flash!.dispatch(batch, { q: b.q, kCache: b.kCache, vCache: b.vCache, rows: b.rows, out: b.out }, params, [Math.ceil(T / TILE_ROWS), heads]);
    } else {
      this.kernels.rows!.dispatch(batch, b, params, grid(Math.ceil((T * heads) / 64)));
    }
  }
}

function checkCompiledHeadDim(kernel: string, compiled: number | undefined, headDim: number): void {
  if (compiled !== undefined && compiled !== headDim) throw new IgSearchError('SHAPE_MISMATCH', `${kernel}: compiled for head dim ${compiled}, called with ${headDim}`);
}

export const attentionDecodeKernel = defineKernel({
  name: 'attention_decode',
  code: `${GRID_WGSL}\n${rowsSource}\n${onlineSource}\n${decodeCommon}\n${decodeSource}`,
  entryPoint: 'main',
});

export const attentionDecodeFlashKernel = defineKernel({
  name: 'attention_decode_flash',
  code: `${GRID_WGSL}\n${rowsSource}\n${onlineSource}\n${decodeCommon}\n${decodeFlashSource}`,
  entryPoint: 'main',
});

/**
 * Decode attention with the q/k norm (Qwen3), bias, RoPE and KV-cache write fused in (one dispatch
 * for what `QkNorm` + `Rope` + `Attention` do), for rows that attend to no other row of the same
 * dispatch — `attendsOnlyToCache` says when. Two shapes: 'rows', one invocation per (row, head) —
 * what a CPU adapter runs best; 'flash', a workgroup of 64 per (row, head) splitting the keys
 * (flash-decoding) — the GPU shape, where rows × heads invocations would leave the device idle.
 */
export class AttentionDecode {
  private constructor(
    private readonly kernel: ComputeKernel,
    readonly variant: AttentionVariant,
  ) {}

  /** Default variant: `pickDecodeVariant(gpu)`. */
  static async create(gpu: Gpu, options: { headDim: number; variant?: AttentionVariant }): Promise<AttentionDecode> {
    const variant = checkVariant('decode attention', options.variant) ?? pickDecodeVariant(gpu);
    const source = variant === 'flash' ? attentionDecodeFlashKernel : attentionDecodeKernel;
    return new AttentionDecode(await ComputeKernel.compile(gpu, source, { HEAD_DIM: options.headDim }), variant);
  }

  encode(
    batch: DispatchBatch,
    b: { qkv: GPUBuffer; bias: GPUBuffer; qkNormWeight: GPUBuffer; table: GPUBuffer; rows: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer },
    shape: AttentionShape & { qkNormEps?: number },
  ): void {
    checkHeads(shape, true);
    const { T, heads, kvHeads, headDim, qkNormEps } = shape;
    const qkNorm = qkNormEps === undefined ? 0 : 1;
    const params = { T, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim), eps: qkNormEps ?? 0, qkNorm };
    // 'flash': a workgroup per (row, head); 'rows': an invocation per (row, head), 64 to a workgroup.
    this.kernel.dispatch(batch, b, params, grid(this.variant === 'flash' ? T * heads : Math.ceil((T * heads) / 64)));
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
  for (let r = 0; r < rows; r++) written[r] = rowRanges(info, r, fields).kvSlot;
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
    const { kvSlot: slot, ctxStart, ctxLength, selfStart, ctx2Start, ctx2Length } = rowRanges(info, r, fields);
    if (hits(ctxStart, ctxStart + ctxLength) || hits(ctx2Start, ctx2Start + ctx2Length) || hits(selfStart, slot)) return false;
  }
  return true;
}

// Two modules sharing attention.backward.wgsl, each binding 8 storage buffers + the uniform.
export const attentionDqKernel = defineKernel({ name: 'attention_backward_dq', code: `${rowsSource}\n${backwardCommon}\n${dqSource}`, entryPoint: 'dq' });
export const attentionDkvKernel = defineKernel({ name: 'attention_backward_dkv', code: `${rowsSource}\n${backwardCommon}\n${dkvSource}`, entryPoint: 'dkv' });
export const attentionFlashDqKernel = defineKernel({ name: 'attention_flash_dq', code: `${rowsSource}\n${walksSource}\n${flashBackwardSource}\n${flashDqSource}`, entryPoint: 'dq' });
export const attentionFlashDkvKernel = defineKernel({ name: 'attention_flash_dkv', code: `${flashBackwardSource}\n${flashDkvSource}`, entryPoint: 'dkv' });

/**
 * Attention backward for training rows (own sequence only): dQ, then dK and dV. `ends[j]` is the
 * exclusive end row of row j's sequence; `stats` is scratch of T·heads·2 floats.
 */
export class AttentionBackward {
  private constructor(
    private readonly dq: ComputeKernel,
    private readonly dkv: ComputeKernel,
    readonly variant: AttentionVariant,
    private readonly headDim: number | undefined,
  ) {}

  static async create(gpu: Gpu, options: AttentionOptions = {}): Promise<AttentionBackward> {
    const { headDim } = options;
    const variant = checkVariant('attention backward', options.variant) ?? pickAttentionVariant(headDim);
    const [dq, dkv] =
      variant === 'flash'
        ? await Promise.all([
            ComputeKernel.compile(gpu, attentionFlashDqKernel, flashConstants('attention backward', headDim, 'KEYS')),
            ComputeKernel.compile(gpu, attentionFlashDkvKernel, flashConstants('attention backward', headDim, 'QUERIES')),
          ])
        : await Promise.all([attentionDqKernel, attentionDkvKernel].map((k) => ComputeKernel.compile(gpu, k, headDim ? { HEAD_DIM: headDim } : {})));
    return new AttentionBackward(dq!, dkv!, variant, headDim);
  }

  encode(
    batch: DispatchBatch,
    b: { q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; o: GPUBuffer; dO: GPUBuffer; rows: GPUBuffer; ends: GPUBuffer; stats: GPUBuffer; dQ: GPUBuffer; dK: GPUBuffer; dV: GPUBuffer },
    shape: AttentionShape,
  ): void {
    checkHeads(shape);
    checkCompiledHeadDim('attention backward', this.headDim, shape.headDim);
    const { T, heads, kvHeads, headDim } = shape;
    const params = { T, heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) };
    // Workgroups of 64 rows × one head (query rows for dQ, key rows for dK/dV).
    const tiles = Math.ceil(T / 64);
    if (tiles > 65535) throw new IgSearchError('LIMIT_EXCEEDED', `attention backward: ${T} rows exceed ${65535 * 64} per pass`, { hint: 'train fewer rows per micro-batch' });
    const kv = { kCache: b.kCache, vCache: b.vCache };
    this.dq.dispatch(batch, { q: b.q, ...kv, dO: b.dO, o: b.o, rows: b.rows, stats: b.stats, dQ: b.dQ }, params, [tiles, heads]);
    this.dkv.dispatch(batch, { q: b.q, ...kv, dO: b.dO, ends: b.ends, stats: b.stats, dK: b.dK, dV: b.dV }, params, [tiles, kvHeads]);
  }
}

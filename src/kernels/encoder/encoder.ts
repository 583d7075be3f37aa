/**
 * The kernels of a BERT-family encoder that the decoder does not have: the embedding sum with its
 * LayerNorm, post-LayerNorm residuals, bias + exact GELU, bidirectional attention over packed
 * sequences, and sentence pooling (mean / CLS / last token, L2-normalised). The projections are
 * the shared `Matmul`.
 */
import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import addNormSource from './add_norm.wgsl';
import attentionSource from './attention.wgsl';
import biasGeluSource from './bias_gelu.wgsl';
import embedNormSource from './embed_norm.wgsl';
import layernormSource from './layernorm.common.wgsl';
import poolSource from './pool.wgsl';

const withNorm = (source: string) => `${GRID_WGSL}\n${layernormSource}\n${source}`;
export const embedNormKernel = defineKernel({ name: 'encoder_embed_norm', code: withNorm(embedNormSource), entryPoint: 'main' });
export const addNormKernel = defineKernel({ name: 'encoder_add_norm', code: withNorm(addNormSource), entryPoint: 'main' });
export const biasGeluKernel = defineKernel({ name: 'encoder_bias_gelu', code: biasGeluSource, entryPoint: 'main' });
export const encoderAttentionKernel = defineKernel({ name: 'encoder_attention', code: `${GRID_WGSL}\n${attentionSource}`, entryPoint: 'main' });
export const poolKernel = defineKernel({ name: 'encoder_pool', code: withNorm(poolSource), entryPoint: 'main' });

/** The widest head the attention kernel holds in registers. */
export const ENCODER_MAX_HEAD_DIM = 128;

export type Pooling = 'mean' | 'cls' | 'last';
const POOLING_MODE: Record<Pooling, number> = { mean: 0, cls: 1, last: 2 };

export class EncoderKernels {
  private constructor(private readonly k: Record<'embedNorm' | 'addNorm' | 'biasGelu' | 'attention' | 'pool', ComputeKernel>) {}

  static async create(gpu: Gpu): Promise<EncoderKernels> {
    const [embedNorm, addNorm, biasGelu, attention, pool] = await Promise.all([embedNormKernel, addNormKernel, biasGeluKernel, encoderAttentionKernel, poolKernel].map((k) => ComputeKernel.compile(gpu, k)));
    return new EncoderKernels({ embedNorm: embedNorm!, addNorm: addNorm!, biasGelu: biasGelu!, attention: attention!, pool: pool! });
  }

  /** out [T, H] = LayerNorm(word[ids] + position[positions] + tokenType[0]). */
  embedNorm(batch: DispatchBatch, b: Record<'ids' | 'positions' | 'word' | 'position' | 'tokenType' | 'gamma' | 'beta' | 'out', GPUBuffer>, s: { T: number; H: number; eps: number }): void {
    this.k.embedNorm.dispatch(batch, b, s, grid(s.T));
  }

  /** x [T, H] = LayerNorm(x + y + bias), in place. */
  addNorm(batch: DispatchBatch, b: Record<'y' | 'bias' | 'gamma' | 'beta' | 'x', GPUBuffer>, s: { T: number; H: number; eps: number }): void {
    this.k.addNorm.dispatch(batch, b, s, grid(s.T));
  }

  /** h [T, N] = gelu(h + bias), in place. */
  biasGelu(batch: DispatchBatch, b: { bias: GPUBuffer; h: GPUBuffer }, s: { T: number; N: number }): void {
    this.k.biasGelu.dispatch(batch, b, s, [Math.ceil(s.N / 64), s.T]);
  }

  /** out [T, heads·headDim] from the fused q/k/v rows [T, 3·heads·headDim] (+ bias); `bounds` [2T]: each row's sequence. */
  attention(batch: DispatchBatch, b: Record<'qkv' | 'bias' | 'bounds' | 'out', GPUBuffer>, s: { T: number; heads: number; headDim: number }): void {
    this.k.attention.dispatch(batch, b, { ...s, scale: 1 / Math.sqrt(s.headDim) }, grid(Math.ceil((s.T * s.heads) / 64)));
  }

  /** out [B, H]: each sequence's pooled row (`bounds` [2B]: its rows), L2-normalised when asked. */
  pool(batch: DispatchBatch, b: Record<'x' | 'bounds' | 'out', GPUBuffer>, s: { B: number; H: number; pooling: Pooling; normalize: boolean }): void {
    this.k.pool.dispatch(batch, b, { B: s.B, H: s.H, mode: POOLING_MODE[s.pooling], normalize: s.normalize ? 1 : 0 }, grid(s.B));
  }
}

/**
 * The one table of where each Hugging Face tensor of a decoder layer lives in the model's fused
 * GPU buffers (q/k/v weights and biases fused, gate/up fused). Upload, checkpoint shapes, gradient
 * names, `readModelTensor`, the optimizer's tensors and the LoRA sites all derive from it.
 */
import type { ModelConfig } from './config.js';

export type LayerBuffer = 'inputNorm' | 'wQkv' | 'bQkv' | 'qkNorm' | 'wO' | 'postNorm' | 'wGateUp' | 'wDown';

/** The buffers of a layer, in the order the optimizer and checkpoints list them. */
export const LAYER_BUFFERS: readonly LayerBuffer[] = ['inputNorm', 'wQkv', 'bQkv', 'qkNorm', 'wO', 'postNorm', 'wGateUp', 'wDown'];

/** Weight matrices (f16 storage applies to these; norms and biases stay f32). */
export const MATRIX_BUFFERS: ReadonlySet<LayerBuffer> = new Set(['wQkv', 'wO', 'wGateUp', 'wDown']);

export interface LayerTensor {
  /** HF name inside the layer (after `model.layers.{i}.`). */
  name: string;
  buffer: LayerBuffer;
  /** First float inside the buffer. */
  offset: number;
  /** HF shape ([out, in] for a linear weight). */
  shape: readonly number[];
}

export const layerPrefix = (layer: number) => `model.layers.${layer}.`;

export function layerTensors(c: ModelConfig): LayerTensor[] {
  const { hiddenSize: H, intermediateSize: I, headDim: d, numHeads: nh, numKvHeads: nkv } = c;
  const fused = (buffer: LayerBuffer, parts: [string, readonly number[]][]): LayerTensor[] => {
    let offset = 0;
    return parts.map(([name, shape]) => {
      const t = { name, buffer, offset, shape };
      offset += shape.reduce((a, b) => a * b, 1);
      return t;
    });
  };
  return [
    ...fused('inputNorm', [['input_layernorm.weight', [H]]]),
    ...fused('wQkv', [['self_attn.q_proj.weight', [nh * d, H]], ['self_attn.k_proj.weight', [nkv * d, H]], ['self_attn.v_proj.weight', [nkv * d, H]]]),
    ...fused('bQkv', [['self_attn.q_proj.bias', [nh * d]], ['self_attn.k_proj.bias', [nkv * d]], ['self_attn.v_proj.bias', [nkv * d]]]),
    ...fused('qkNorm', [['self_attn.q_norm.weight', [d]], ['self_attn.k_norm.weight', [d]]]),
    ...fused('wO', [['self_attn.o_proj.weight', [H, nh * d]]]),
    ...fused('postNorm', [['post_attention_layernorm.weight', [H]]]),
    ...fused('wGateUp', [['mlp.gate_proj.weight', [I, H]], ['mlp.up_proj.weight', [I, H]]]),
    ...fused('wDown', [['mlp.down_proj.weight', [H, I]]]),
  ];
}

/** Floats in each fused buffer of a layer. */
export function layerBufferSizes(c: ModelConfig): Record<LayerBuffer, number> {
  const sizes = Object.fromEntries(LAYER_BUFFERS.map((b) => [b, 0])) as Record<LayerBuffer, number>;
  for (const t of layerTensors(c)) sizes[t.buffer] = Math.max(sizes[t.buffer], t.offset + t.shape.reduce((a, b) => a * b, 1));
  return sizes;
}

export const tensorSize = (t: Pick<LayerTensor, 'shape'>) => t.shape.reduce((a, b) => a * b, 1);

/**
 * Hugging Face `config.json` for the decoder-only causal LMs this package runs — Qwen2 / Qwen2.5 and
 * Llama (Llama-3.x, SmolLM2: the same block without q/k/v biases, with Llama-3 RoPE scaling) — read
 * into the few numbers the forward pass needs, each checked (errors name the file and field).
 */
import { layerPrefix, layerTensors } from './layout.js';
import { IgSearchError } from '../errors.js';

/** Llama-3's RoPE frequency scaling (`rope_scaling.rope_type: "llama3"`). */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface ModelConfig {
  /** 'qwen2' (default), 'llama' or 'qwen3': what config.json says, and what a saved checkpoint writes back. */
  architecture?: 'qwen2' | 'llama' | 'qwen3';
  /** Per-head RMSNorm of queries and keys before RoPE (Qwen3). Default false. */
  qkNorm?: boolean;
  /** Whether q/k/v projections have biases (Qwen2: yes; Llama: `attention_bias`, default no). Default true. */
  attentionBias?: boolean;
  /** Llama-3 RoPE scaling; absent for plain RoPE. */
  ropeScaling?: Llama3RopeScaling;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  vocabSize: number;
  maxPositions: number;
}

type Json = Record<string, unknown>;

/** Upper bounds on the size fields, checked before anything is allocated (the largest real models are far below). */
const SIZE_LIMITS: Record<string, number> = {
  hidden_size: 65_536,
  intermediate_size: 262_144,
  num_hidden_layers: 1_024,
  num_attention_heads: 1_024,
  num_key_value_heads: 1_024,
  vocab_size: 4_194_304,
  max_position_embeddings: 4_194_304,
};

export function readModelConfig(source: string | object, file = 'config.json'): ModelConfig {
  let json: unknown = source;
  if (typeof source === 'string') {
    try {
      json = JSON.parse(source);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `${file}: not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new IgSearchError('INVALID_ARGUMENT', `${file}: expected a JSON object`);
  const o = json as Json;
  const architectures = Array.isArray(o['architectures']) ? (o['architectures'] as unknown[]) : [];
  const type = o['model_type'] ?? (architectures.includes('LlamaForCausalLM') ? 'llama' : undefined);
  if (type !== undefined && type !== 'qwen2' && type !== 'llama' && type !== 'qwen3') {
    throw new IgSearchError('INVALID_ARGUMENT', `${file}: model_type is ${JSON.stringify(type)}; this package runs "qwen2" (Qwen2 / Qwen2.5), "qwen3" and "llama" (Llama-3.x, SmolLM2)`);
  }
  const architecture = type === 'llama' ? 'llama' : type === 'qwen3' ? 'qwen3' : 'qwen2';
  if (o['mlp_bias'] === true) throw new IgSearchError('INVALID_ARGUMENT', `${file}: mlp_bias true is not supported (MLP projections without bias only)`);
  if (architecture === 'llama' && o['hidden_act'] !== undefined && o['hidden_act'] !== 'silu') throw new IgSearchError('INVALID_ARGUMENT', `${file}: hidden_act ${JSON.stringify(o['hidden_act'])} is not supported (SwiGLU with silu only)`);
  const int = (key: string, fallback?: number): number => {
    const v = o[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: ${key} must be a positive integer, found ${JSON.stringify(v)}`);
    const max = SIZE_LIMITS[key];
    if (max !== undefined && (v as number) > max) throw new IgSearchError('LIMIT_EXCEEDED', `${file}: ${key} ${v} is over ${max}, more than any model this package can run`, { hint: 'is the config.json corrupt?' });
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: ${key} must be a positive number, found ${JSON.stringify(v)}`);
    return v;
  };
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const config: ModelConfig = {
    architecture,
    attentionBias: architecture === 'qwen2' ? true : o['attention_bias'] === true,
    ...(architecture === 'qwen3' ? { qkNorm: true } : {}),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim: architecture === 'qwen3' && o['head_dim'] !== undefined && o['head_dim'] !== null ? int('head_dim') : hiddenSize / numHeads,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    tieWordEmbeddings: o['tie_word_embeddings'] === true,
    vocabSize: int('vocab_size'),
    maxPositions: int('max_position_embeddings', 32768),
  };
  if (architecture !== 'qwen3' && hiddenSize % numHeads !== 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`);
  if (numHeads % numKvHeads !== 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  if (config.headDim % 2 !== 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: head dimension ${config.headDim} must be even for RoPE`);
  const headDimField = o['head_dim'];
  if (architecture !== 'qwen3' && headDimField !== undefined && headDimField !== null && headDimField !== config.headDim) {
    throw new IgSearchError('INVALID_ARGUMENT', `${file}: head_dim ${JSON.stringify(headDimField)} differs from hidden_size / num_attention_heads = ${config.headDim}, which this package does not support yet`);
  }
  const rope = o['rope_scaling'] as Json | null | undefined;
  if (rope !== undefined && rope !== null) {
    const kind = rope['rope_type'] ?? rope['type'];
    if (kind === 'llama3') {
      const field = (key: string) => {
        const v = rope[key];
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: rope_scaling.${key} must be a positive number, found ${JSON.stringify(v)}`);
        return v;
      };
      config.ropeScaling = { factor: field('factor'), lowFreqFactor: field('low_freq_factor'), highFreqFactor: field('high_freq_factor'), originalMaxPositions: field('original_max_position_embeddings') };
      if (config.ropeScaling.highFreqFactor <= config.ropeScaling.lowFreqFactor) throw new IgSearchError('INVALID_ARGUMENT', `${file}: rope_scaling.high_freq_factor must exceed low_freq_factor`);
    } else if (kind !== 'default') {
      throw new IgSearchError('INVALID_ARGUMENT', `${file}: rope_scaling.rope_type ${JSON.stringify(kind)} is not supported (plain RoPE, or "llama3")`);
    }
  }
  return config;
}

/** config.json text for a config (what `save` and the fixtures write). */
export function configJson(c: ModelConfig): object {
  const llama = c.architecture === 'llama';
  const qwen3 = c.architecture === 'qwen3';
  const scaling = c.ropeScaling;
  return {
    architectures: [llama ? 'LlamaForCausalLM' : qwen3 ? 'Qwen3ForCausalLM' : 'Qwen2ForCausalLM'],
    model_type: llama ? 'llama' : qwen3 ? 'qwen3' : 'qwen2',
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieWordEmbeddings,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositions,
    ...(llama || qwen3 ? { hidden_act: 'silu', attention_bias: c.attentionBias === true } : {}),
    ...(llama ? { mlp_bias: false } : {}),
    ...(qwen3 ? { head_dim: c.headDim } : {}),
    ...(scaling ? { rope_scaling: { rope_type: 'llama3', factor: scaling.factor, low_freq_factor: scaling.lowFreqFactor, high_freq_factor: scaling.highFreqFactor, original_max_position_embeddings: scaling.originalMaxPositions } } : {}),
    torch_dtype: 'float32',
  };
}

/** Whether a layer tensor is in the checkpoint (q/k/v biases and q/k norms only where the architecture has them). */
/** Width of the fused q/k/v projection's output: (heads + 2 · KV heads) · head_dim. */
export const qkvWidth = (c: ModelConfig) => (c.numHeads + 2 * c.numKvHeads) * c.headDim;

export const hasTensor = (c: ModelConfig, name: string) => (c.attentionBias !== false || !name.endsWith('_proj.bias')) && (c.qkNorm === true || !/\.(q|k)_norm\.weight$/.test(name));

/** Every tensor a Qwen2 checkpoint must hold, with its shape (HF names). */
export function modelTensorShapes(c: ModelConfig): Map<string, number[]> {
  const h = c.hiddenSize;
  const shapes = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocabSize, h]]]);
  const layer = layerTensors(c);
  for (let i = 0; i < c.numLayers; i++) for (const t of layer) if (hasTensor(c, t.name)) shapes.set(`${layerPrefix(i)}${t.name}`, [...t.shape]);
  shapes.set('model.norm.weight', [h]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, h]);
  return shapes;
}

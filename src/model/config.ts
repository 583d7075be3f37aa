/**
 * Hugging Face `config.json` for Qwen2 / Qwen2.5 causal LMs, read into the few numbers the forward
 * pass needs, each checked (errors name the file and field).
 */
import { layerPrefix, layerTensors } from './layout.js';
import { IgSearchError } from '../errors.js';

export interface Qwen2Config {
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

export function readQwen2Config(source: string | object, file = 'config.json'): Qwen2Config {
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
  const type = o['model_type'];
  if (type !== undefined && type !== 'qwen2') {
    throw new IgSearchError('INVALID_ARGUMENT', `${file}: model_type is ${JSON.stringify(type)}; this forward pass implements "qwen2" (Qwen2 / Qwen2.5)`);
  }
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
  const config: Qwen2Config = {
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim: hiddenSize / numHeads,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    tieWordEmbeddings: o['tie_word_embeddings'] === true,
    vocabSize: int('vocab_size'),
    maxPositions: int('max_position_embeddings', 32768),
  };
  if (hiddenSize % numHeads !== 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`);
  if (numHeads % numKvHeads !== 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  if (config.headDim % 2 !== 0) throw new IgSearchError('INVALID_ARGUMENT', `${file}: head dimension ${config.headDim} must be even for RoPE`);
  const rope = o['rope_scaling'];
  if (rope !== undefined && rope !== null) throw new IgSearchError('INVALID_ARGUMENT', `${file}: rope_scaling ${JSON.stringify(rope)} is not supported (plain RoPE only)`);
  return config;
}

/** config.json text for a config (what `save` and the fixtures write). */
export function qwen2ConfigJson(c: Qwen2Config): object {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
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
    torch_dtype: 'float32',
  };
}

/** Every tensor a Qwen2 checkpoint must hold, with its shape (HF names). */
export function qwen2TensorShapes(c: Qwen2Config): Map<string, number[]> {
  const h = c.hiddenSize;
  const shapes = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocabSize, h]]]);
  const layer = layerTensors(c);
  for (let i = 0; i < c.numLayers; i++) for (const t of layer) shapes.set(`${layerPrefix(i)}${t.name}`, [...t.shape]);
  shapes.set('model.norm.weight', [h]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, h]);
  return shapes;
}

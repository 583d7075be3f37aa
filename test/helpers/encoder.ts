/** Encoder directories for retrieval tests (no GPU work here: files only). */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encoderTensorShapes, readEncoderConfig, Tokenizer, type WasmCore } from '../../src/entry/node.js';
import { readSafetensorsHeader, tensorToF32, writeSafetensors } from '../../src/internals.js';
import { mulberry32 } from './random.js';

/** A random-weight BERT over the uncased WordPiece fixture's vocabulary, as a sentence-transformers directory (CLS pooling). */
export function randomEncoderDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig-encoder-'));
  const config = { model_type: 'bert', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 64, type_vocab_size: 2, vocab_size: 3132, layer_norm_eps: 1e-12, hidden_act: 'gelu' };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const rng = mulberry32(17);
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, shape] of encoderTensorShapes(readEncoderConfig(JSON.stringify(config)))) {
    const norm = name.includes('LayerNorm');
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (norm && name.endsWith('weight') ? 1 : 0) + (rng() - 0.5) * (norm ? 0.1 : 0.6));
    tensors.set(name, { data, shape });
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
  cpSync('test/fixtures/wordpiece/uncased.json', join(dir, 'tokenizer.json'));
  mkdirSync(join(dir, '1_Pooling'));
  writeFileSync(join(dir, '1_Pooling/config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }));
  return dir;
}


/**
 * A Qwen3-Embedding-shaped directory from the tiny Qwen3 fixture: its weights saved as an embedding
 * model saves them (no "model." before the names), a byte-level BPE trained on `texts` whose
 * template appends `<|endoftext|>`, and last-token pooling in 1_Pooling/config.json.
 */
export function decoderEmbedderDir(core: WasmCore, texts: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig-embedder-'));
  const source = 'test/fixtures/qwen2/tiny-qwen3';
  cpSync(join(source, 'config.json'), join(dir, 'config.json'));
  const bytes = new Uint8Array(readFileSync(join(source, 'model.safetensors')));
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, info] of readSafetensorsHeader(bytes, 'model.safetensors')) tensors.set(name.replace(/^model\./, ''), { data: tensorToF32(bytes, info), shape: info.shape });
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
  const { json } = Tokenizer.train(core, texts, { vocabSize: 512, specialTokens: ['<|endoftext|>'] });
  const eos = { id: '<|endoftext|>', ids: [0], tokens: ['<|endoftext|>'] };
  const piece = { SpecialToken: { id: '<|endoftext|>', type_id: 0 } };
  const template = { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, piece], pair: [{ Sequence: { id: 'A', type_id: 0 } }, piece, { Sequence: { id: 'B', type_id: 1 } }, piece], special_tokens: { '<|endoftext|>': eos } };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...json, post_processor: template }));
  mkdirSync(join(dir, '1_Pooling'));
  writeFileSync(join(dir, '1_Pooling/config.json'), JSON.stringify({ word_embedding_dimension: 64, pooling_mode_lasttoken: true, pooling_mode_mean_tokens: false }));
  return dir;
}

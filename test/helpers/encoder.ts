/** A random-weight BERT encoder directory for retrieval tests (no GPU work here: files only). */
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encoderTensorShapes, readEncoderConfig } from '../../src/entry/node.js';
import { writeSafetensors } from '../../src/internals.js';
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


/**
 * The models the GPU benchmarks share: the committed fixture and a random model shaped like
 * Qwen2.5-0.5B, written once per run as a real safetensors checkpoint so PyTorch loads the very
 * same weights.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelConfig, type ModelConfig } from 'ig-search';
import { configJson, modelTensorShapes, randomModelTensors, writeSafetensors } from 'ig-search/internals';

export const FIXTURE_DIR = 'test/fixtures/qwen2/tiny-f32';
export const FIXTURE_CONFIG = readModelConfig(readFileSync(`${FIXTURE_DIR}/config.json`, 'utf8'));

export const QWEN05 = readModelConfig({
  model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2,
  vocab_size: 151936, max_position_embeddings: 32768, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
});

/** Writes seeded random weights for `config` to a temporary HF directory; `remove()` deletes it. */
export function writeRandomCheckpoint(config: ModelConfig, label: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `ig-bench-${label}-`));
  const tensors = randomModelTensors(config, 7);
  const shapes = modelTensorShapes(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configJson(config)));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(new Map([...tensors].map(([n, data]) => [n, { data, shape: shapes.get(n)! }]))));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

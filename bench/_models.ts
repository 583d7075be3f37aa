/**
 * The models the GPU benchmarks share: the committed fixture and a random model shaped like
 * Qwen2.5-0.5B, written once per run as a real safetensors checkpoint so PyTorch loads the very
 * same weights.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readQwen2Config, type Qwen2Config } from 'ig-search';
import { qwen2ConfigJson, qwen2TensorShapes, randomQwen2Tensors, writeSafetensors } from 'ig-search/internals';

export const FIXTURE_DIR = 'test/fixtures/qwen2/tiny-f32';
export const FIXTURE_CONFIG = readQwen2Config(readFileSync(`${FIXTURE_DIR}/config.json`, 'utf8'));

export const QWEN05 = readQwen2Config({
  model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2,
  vocab_size: 151936, max_position_embeddings: 32768, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
});

/** Writes seeded random weights for `config` to a temporary HF directory; `remove()` deletes it. */
export function writeRandomCheckpoint(config: Qwen2Config, label: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `ig-bench-${label}-`));
  const tensors = randomQwen2Tensors(config, 7);
  const shapes = qwen2TensorShapes(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(qwen2ConfigJson(config)));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(new Map([...tensors].map(([n, data]) => [n, { data, shape: shapes.get(n)! }]))));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

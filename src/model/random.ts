/**
 * Seeded random Qwen2 weights (HF names and layouts) for tests and benchmarks at real shapes
 * without a download: uniform values scaled like a trained model's (norm weights near 1).
 */
import { seededRandom } from '../util/random.js';
import { modelTensorShapes, type ModelConfig } from './config.js';

/** Uniform floats in [-1, 1) from the shared seeded generator. */
function uniform(seed: number): () => number {
  const next = seededRandom(seed);
  return () => next() * 2 - 1;
}

export function randomModelTensors(config: ModelConfig, seed = 1): Map<string, Float32Array> {
  const rng = uniform(seed);
  const tensors = new Map<string, Float32Array>();
  for (const [name, shape] of modelTensorShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith('norm.weight')) {
      for (let i = 0; i < size; i++) data[i] = 1 + 0.1 * rng();
    } else {
      // Uniform with std ≈ 1/sqrt(fan_in) (embeddings: std ≈ 0.5), so activations stay O(1).
      const fanIn = shape.length === 2 ? shape[1]! : shape[0]!;
      const scale = name.includes('embed_tokens') ? 0.87 : name.endsWith('bias') ? 0.17 : Math.sqrt(3 / fanIn);
      for (let i = 0; i < size; i++) data[i] = scale * rng();
    }
    tensors.set(name, data);
  }
  return tensors;
}

/**
 * Seeded random Qwen2 weights (HF names and layouts) for tests and benchmarks at real shapes
 * without a download: uniform values scaled like a trained model's (norm weights near 1).
 */
import { qwen2TensorShapes, type Qwen2Config } from './config.js';

/** SplitMix32-style generator → uniform floats in [-1, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 2 ** 31 - 1;
  };
}

export function randomQwen2Tensors(config: Qwen2Config, seed = 1): Map<string, Float32Array> {
  const rng = uniform(seed);
  const tensors = new Map<string, Float32Array>();
  for (const [name, shape] of qwen2TensorShapes(config)) {
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

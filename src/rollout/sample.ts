/**
 * Token sampling from one row of logits, on the host: temperature, top-k, top-p (nucleus), a
 * seeded generator. Returns the token and its log-prob under the distribution it was drawn from
 * after temperature (before top-k/top-p truncation), which is what the policy loss compares
 * against (verl scales logits by the temperature the same way).
 */
import { seededRandom } from '../util/random.js';

export { seededRandom };

export interface SamplingOptions {
  /** 0 → greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = all). */
  topP?: number;
  /**
   * Sample only ids below this: the tokenizer's size when the model's embedding matrix is padded
   * past it (Qwen2.5: 151,936 rows, 151,665 tokens). Default: every id.
   */
  vocabLimit?: number;
}

export function sampleToken(logits: Float32Array, options: SamplingOptions, random: () => number): { token: number; logprob: number } {
  const temperature = options.temperature ?? 1;
  if (options.vocabLimit !== undefined && options.vocabLimit < logits.length) logits = logits.subarray(0, Math.max(1, options.vocabLimit));
  const V = logits.length;
  let best = 0;
  for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
  const scale = temperature > 0 ? 1 / temperature : 1;
  const max = logits[best]! * scale;
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(logits[i]! * scale - max);
  const logZ = max + Math.log(sum);
  if (temperature <= 0) return { token: best, logprob: logits[best]! - logZ };

  const topK = options.topK && options.topK > 0 ? Math.min(options.topK, V) : V;
  const topP = options.topP ?? 1;
  let candidates: number[];
  if (topK < V || topP < 1) {
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
    candidates = order.slice(0, topK);
    if (topP < 1) {
      let mass = 0;
      let keep = 0;
      while (keep < candidates.length && mass < topP) mass += Math.exp(logits[candidates[keep++]!]! * scale - logZ);
      candidates = candidates.slice(0, Math.max(1, keep));
    }
  } else {
    candidates = [];
  }
  const weight = (i: number) => Math.exp(logits[i]! * scale - max);
  if (candidates.length) {
    const total = candidates.reduce((t, i) => t + weight(i), 0);
    let u = random() * total;
    for (const i of candidates) {
      u -= weight(i);
      if (u <= 0) return { token: i, logprob: logits[i]! * scale - logZ };
    }
    const last = candidates[candidates.length - 1]!;
    return { token: last, logprob: logits[last]! * scale - logZ };
  }
  let u = random() * sum;
  for (let i = 0; i < V; i++) {
    u -= weight(i);
    if (u <= 0) return { token: i, logprob: logits[i]! * scale - logZ };
  }
  return { token: best, logprob: logits[best]! * scale - logZ };
}

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu, Qwen2Model, readQwen2Config } from '../src/entry/node.js';
import { randomQwen2Tensors } from '../src/model/random.js';
import { qwen2LogprobsRef } from '../src/model/ref.js';
import { mulberry32 } from './helpers/random.js';

// PyTorch fp32 oracles written by scripts/fixtures.py (committed): F32 single file, untied head;
// BF16 in two shards with tied embeddings.
const FIXTURES = ['tiny-f32', 'tiny-bf16'] as const;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await Gpu.request();
});
afterAll(() => gpu?.destroy());

describe.each(FIXTURES)('Qwen2 %s vs PyTorch', (name) => {
  const dir = `test/fixtures/qwen2/${name}`;
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][] };

  it('per-token log-probs match to 1e-4', async () => {
    const model = await Qwen2Model.load(gpu, dir);
    const got = await model.sequenceLogprobs(expected.sequences);
    let worst = 0;
    got.forEach((lp, s) => {
      expect(lp.length).toBe(expected.logprobs[s]!.length);
      lp.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected.logprobs[s]![i]!))));
    });
    expect(worst).toBeLessThan(1e-4);
    model.free();
  });
});

describe('scoring', () => {
  const dir = 'test/fixtures/qwen2/tiny-f32';
  const rng = mulberry32(7);
  const tokens = (n: number) => Array.from({ length: n }, () => Math.floor(rng() * 512));

  it('prefix-cached scoring == uncached == whole-sequence log-probs; batched == one by one; chunked == unchunked', async () => {
    const model = await Qwen2Model.load(gpu, dir);
    const chunked = await Qwen2Model.load(gpu, dir, { maxChunkRows: 5, maxVocabChunk: 64 });
    const items = [
      { prefix: tokens(23), continuations: [tokens(6), tokens(1), tokens(11), []] },
      { prefix: tokens(1), continuations: [tokens(4), tokens(9)] },
      { prefix: tokens(40), continuations: [tokens(3)] },
    ];
    const cached = await model.scoreBatch(items);
    const uncached = await model.scoreBatch(items, { prefixCache: false });
    const small = await chunked.scoreBatch(items);
    for (const [i, item] of items.entries()) {
      const alone = await model.scoreContinuations(item.prefix, item.continuations);
      const whole = await model.sequenceLogprobs(item.continuations.map((c) => [...item.prefix, ...c]));
      item.continuations.forEach((c, j) => {
        const reference = whole[j]!.subarray(item.prefix.length - 1);
        expect(cached[i]![j]!.logprobs.length).toBe(c.length);
        for (const got of [cached, uncached, small]) expectClose(got[i]![j]!.logprobs, reference, 2e-5);
        expectClose(alone[j]!.logprobs, reference, 2e-5);
        if (c.length) expect(cached[i]![j]!.mean).toBeCloseTo(reference.reduce((a, b) => a + b, 0) / c.length, 5);
        else expect(cached[i]![j]!.mean).toBeNaN();
      });
    }
    model.free();
    chunked.free();
  });

  it('a 32k vocabulary matches the f64 reference and never allocates a rows × vocabulary buffer', async () => {
    const config = readQwen2Config({ model_type: 'qwen2', hidden_size: 64, intermediate_size: 96, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 1, vocab_size: 32768, tie_word_embeddings: true, max_position_embeddings: 256, rope_theta: 10000 });
    const weights = randomQwen2Tensors(config, 5);
    const model = await Qwen2Model.create(gpu, config, weights);
    const sequences = [0, 1, 2].map(() => Array.from({ length: 24 }, () => Math.floor(rng() * 32768)));
    const before = gpu.pool.stats().liveBytes;
    gpu.pool.resetPeak();
    const got = await model.sequenceLogprobs(sequences);
    const peak = gpu.pool.stats().peakLiveBytes - before;
    const rows = sequences.reduce((n, s) => n + s.length - 1, 0);
    expect(peak).toBeLessThan(rows * 32768 * 4);
    sequences.forEach((s, i) => expectClose(got[i]!, qwen2LogprobsRef(config, weights, s), 1e-4));
    model.free();
  });
});

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst).toBeLessThan(tolerance);
}

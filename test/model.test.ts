import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu, Qwen2Model } from '../src/entry/node.js';

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

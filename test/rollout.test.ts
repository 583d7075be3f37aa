import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeSession, generate, Gpu, CausalLM, sampleToken, seededRandom } from '../src/entry/node.js';
import { ROW_FIELDS } from '../src/internals.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await Gpu.request();
});
afterAll(() => gpu?.destroy());

const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best]! ? i : best), 0);

describe.each(['tiny-f32', 'tiny-bf16', 'tiny-llama', 'tiny-qwen3'])('decoding with a KV cache (%s)', (name) => {
  const dir = `test/fixtures/qwen2/${name}`;
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { greedy: { prompt: number[]; tokens: number[] } };

  it('greedy decoding equals the PyTorch greedy fixture (full recomputation every step)', async () => {
    const model = await CausalLM.load(gpu, dir);
    const { prompt, tokens } = expected.greedy;
    // Three copies of the prompt (prefilled once) and one other prompt in the same batch.
    const out = await generate(model, [prompt, prompt, [5, 6, 7], prompt], { temperature: 0, maxNewTokens: tokens.length });
    for (const s of [0, 1, 3]) {
      expect(Array.from(out[s]!.tokens)).toEqual(tokens);
      expect(out[s]!.finish).toBe('length');
    }
    model.free();
  });

  it('the cached logits at every step equal a fresh full forward of the whole sequence', async () => {
    const model = await CausalLM.load(gpu, dir);
    const prompt = [3, 1, 4, 1, 5, 9, 2, 6];
    const [gen] = await generate(model, [prompt], { temperature: 0.8, seed: 3, maxNewTokens: 10 });
    const session = new DecodeSession(model, [prompt], 16);
    let logits = (await session.start())[0]!;
    const seq = [...prompt];
    for (const token of gen!.tokens) {
      // Fresh: the whole sequence in one forward, new cache, logits of its last row.
      const info = new Uint32Array(seq.length * ROW_FIELDS);
      seq.forEach((t, k) => info.set([t, k, k, 0, 0, 0, 0, 0], k * ROW_FIELDS));
      const cache = model.createKvCache(seq.length);
      const fresh = (await model.forwardRows(info, cache, { logitsRows: [seq.length - 1] })).logits;
      cache.free();
      let worst = 0;
      fresh.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - logits[i]!))));
      expect(worst).toBeLessThan(1e-4);
      seq.push(token);
      logits = (await session.append([0], [[token]]))[0]!;
    }
    session.free();
    model.free();
  });
});

describe('sampling', () => {
  it('seeded sampling is reproducible; another seed gives another sample; stop tokens end a sequence', async () => {
    const model = await CausalLM.load(gpu, 'test/fixtures/qwen2/tiny-f32');
    const a = await generate(model, [[1, 2, 3], [9, 8]], { seed: 42, maxNewTokens: 12, topP: 0.9 });
    const c = await generate(model, [[1, 2, 3]], { seed: 43, maxNewTokens: 12, topP: 0.9 });
    expect(Array.from(a[0]!.tokens)).toEqual(Array.from((await generate(model, [[1, 2, 3], [9, 8]], { seed: 42, maxNewTokens: 12, topP: 0.9 }))[0]!.tokens));
    expect(a[0]!.tokens.length).toBe(12);
    expect(Array.from(c[0]!.tokens)).not.toEqual(Array.from(a[0]!.tokens));
    // Stop tokens end a sequence and are kept.
    const stop = a[0]!.tokens[3]!;
    const stopped = await generate(model, [[1, 2, 3]], { seed: 42, maxNewTokens: 12, topP: 0.9, stopTokens: [stop] });
    expect(stopped[0]!.finish).toBe('stop');
    expect(stopped[0]!.tokens[stopped[0]!.tokens.length - 1]).toBe(stop);
    model.free();
  });

  it('sampleToken: greedy, top-k 1, and frequencies that follow the softmax', () => {
    const logits = Float32Array.from([0, 1, 2, 0.5]);
    const random = seededRandom(1);
    expect(sampleToken(logits, { temperature: 0 }, random).token).toBe(2);
    expect(sampleToken(logits, { topK: 1 }, random).token).toBe(2);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, {}, random).token]!++;
    const z = Array.from(logits).reduce((s, v) => s + Math.exp(v), 0);
    counts.forEach((n, i) => expect(n / 20000).toBeCloseTo(Math.exp(logits[i]!) / z, 1));
    const { logprob } = sampleToken(logits, { temperature: 0 }, random);
    expect(logprob).toBeCloseTo(2 - Math.log(z), 6);
    expect(argmax(logits)).toBe(2);
  });
});

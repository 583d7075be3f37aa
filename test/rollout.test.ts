import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecodeSession, generate, CausalLM, sampleToken, seededRandom } from '../src/entry/node.js';
import { attendsOnlyToCache, ROW_FIELDS } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();

const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best]! ? i : best), 0);

describe.each(['tiny-f32', 'tiny-bf16', 'tiny-llama', 'tiny-qwen3'])('decoding with a KV cache (%s)', (name) => {
  const dir = `test/fixtures/qwen2/${name}`;
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { greedy: { prompt: number[]; tokens: number[] } };

  it.each(['rows', 'flash'] as const)('greedy decoding equals the PyTorch greedy fixture (full recomputation every step): %s attention', async (attentionVariant) => {
    const model = await CausalLM.load(env.gpu, dir, { attentionVariant });
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
    const model = await CausalLM.load(env.gpu, dir);
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

describe('the fused decode step', () => {
  // Rows: [token, position, kvSlot, ctxStart, ctxLength, selfStart, ctx2Start, ctx2Length].
  // A 4-token shared context in slots 0–3; sequence 1 in slots 4–6 attends to it as one range,
  // sequence 2 in slots 10–12 as two ranges ([0, 2) then [2, 4)).
  const context = [[7, 0, 0, 0, 0, 0, 0, 0], [3, 1, 1, 0, 0, 0, 0, 0], [9, 2, 2, 0, 0, 0, 0, 0], [4, 3, 3, 0, 0, 0, 0, 0]];
  const prefill = [...context, [11, 4, 4, 0, 4, 4, 0, 0], [12, 5, 5, 0, 4, 4, 0, 0], [21, 4, 10, 0, 2, 10, 2, 2], [22, 5, 11, 0, 2, 10, 2, 2]];
  const step = [[13, 6, 6, 0, 4, 4, 0, 0], [23, 6, 12, 0, 2, 10, 2, 2]];
  const pack = (rows: number[][]) => Uint32Array.from(rows.flat());

  it('applies exactly when no row reads a slot another row of the dispatch writes', () => {
    expect(attendsOnlyToCache(pack(step), ROW_FIELDS)).toBe(true);
    expect(attendsOnlyToCache(pack(prefill), ROW_FIELDS)).toBe(false); // rows read each other's keys
    expect(attendsOnlyToCache(pack([[1, 0, 0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 0]]), ROW_FIELDS)).toBe(false); // one slot written twice
    expect(attendsOnlyToCache(pack([[1, 4, 4, 0, 0, 4, 0, 0], [2, 0, 9, 0, 0, 9, 4, 1]]), ROW_FIELDS)).toBe(false); // a second context range holds slot 4
    expect(attendsOnlyToCache(pack([[1, 4, 4, 0, 0, 4, 0, 0], [2, 0, 9, 0, 0, 9, 5, 1]]), ROW_FIELDS)).toBe(true);
  });

  it.each(['tiny-f32', 'tiny-qwen3', 'tiny-llama'].flatMap((name) => (['rows', 'flash'] as const).map((variant) => [name, variant] as const)))('%s, %s attention: a decode step over shared context ranges equals one prefill of all the rows, in 5 dispatches per layer', async (name, attentionVariant) => {
    const model = await CausalLM.load(env.gpu, `test/fixtures/qwen2/${name}`, { attentionVariant });
    const cache = model.createKvCache(16);
    await model.forwardRows(pack(prefill), cache);
    const before = env.gpu.dispatchCount;
    const fused = (await model.forwardRows(pack(step), cache, { logitsRows: [0, 1] })).logits;
    // Embedding (one vocabulary shard), 5 per layer, LM head with the final norm folded in (one shard).
    expect(env.gpu.dispatchCount - before).toBe(5 * model.config.numLayers + 2);
    cache.free();
    const whole = model.createKvCache(16);
    const reference = (await model.forwardRows(pack([...prefill, ...step]), whole, { logitsRows: [prefill.length, prefill.length + 1] })).logits;
    whole.free();
    let worst = 0;
    reference.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - fused[i]!))));
    expect(worst).toBeLessThan(1e-5);
    model.free();
  });
});

describe('sampling', () => {
  it('seeded sampling is reproducible; another seed gives another sample; stop tokens end a sequence', async () => {
    const model = await CausalLM.load(env.gpu, 'test/fixtures/qwen2/tiny-f32');
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

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireF16 } from './helpers/f16.js';
import { IgSearchError, CausalLM, modelGradients, readModelConfig, scoreInformationGain } from '../src/entry/node.js';
import { f32ToF16, logprobsRef, randomModelTensors, readCheckpoint, tensorToF32 } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';
import { mulberry32 } from './helpers/random.js';

// PyTorch fp32 oracles written by scripts/fixtures.py (committed): F32 single file, untied head;
// BF16 in two shards with tied embeddings; Llama (no q/k/v bias, Llama-3 RoPE scaling, tied); Qwen3
// (per-head q/k norms, head_dim 32 ≠ hidden / heads).
const FIXTURES = ['tiny-f32', 'tiny-bf16', 'tiny-llama', 'tiny-qwen3'] as const;

const env = withGpu();

describe.each(FIXTURES)('Qwen2 %s vs PyTorch', (name) => {
  const dir = `test/fixtures/qwen2/${name}`;
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][] };

  it.each(['rows', 'flash'] as const)('per-token log-probs match to 2e-5 (measured worst 1.05e-5, bf16 fixture): %s attention', async (attentionVariant) => {
    const model = await CausalLM.load(env.gpu, dir, { attentionVariant });
    const got = await model.sequenceLogprobs(expected.sequences);
    let worst = 0;
    got.forEach((lp, s) => {
      expect(lp.length).toBe(expected.logprobs[s]!.length);
      lp.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected.logprobs[s]![i]!))));
    });
    expect(worst).toBeLessThan(2e-5);
    model.free();
  });
});

describe('scoring', () => {
  const dir = 'test/fixtures/qwen2/tiny-f32';
  const rng = mulberry32(7);
  const tokens = (n: number) => Array.from({ length: n }, () => Math.floor(rng() * 512));

  it('prefix-cached scoring == uncached == whole-sequence log-probs; batched == one by one; chunked == unchunked', async () => {
    const model = await CausalLM.load(env.gpu, dir);
    const chunked = await CausalLM.load(env.gpu, dir, { maxChunkRows: 5, maxVocabChunk: 64 });
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

  it.each(['rows', 'flash'] as const)('three-level paths (trajectory → documents → answer) and IG scores match whole-sequence scoring: %s attention', async (attentionVariant) => {
    const model = await CausalLM.load(env.gpu, dir, { maxChunkRows: 16, attentionVariant });
    const steps = [0, 1, 2].map(() => ({ prefix: tokens(30), real: tokens(12), random: tokens(9), answers: [tokens(3), tokens(1), tokens(5)] }));
    steps[1]!.random = steps[1]!.real; // equal documents: IG must be exactly 0
    const shared = await scoreInformationGain(model, steps);
    const naive = await scoreInformationGain(model, steps, { prefixCache: false });
    for (const [i, step] of steps.entries()) {
      const best = async (docs: number[]) => {
        const whole = await model.sequenceLogprobs(step.answers.map((a) => [...step.prefix, ...docs, ...a]));
        return Math.max(...whole.map((lp, j) => lp.subarray(lp.length - step.answers[j]!.length).reduce((x, y) => x + y, 0) / step.answers[j]!.length));
      };
      const [real, random] = [await best(step.real), await best(step.random)];
      for (const got of [shared[i]!, naive[i]!]) {
        expect(got.real).toBeCloseTo(real, 4);
        expect(got.random).toBeCloseTo(random, 4);
        expect(got.ig).toBeCloseTo(real - random, 4);
      }
    }
    expect(shared[1]!.ig).toBe(0);
    // scoreLast reaching back across segment boundaries.
    const path = { segments: [tokens(5), tokens(4), tokens(3)], scoreLast: 9 };
    const [got] = await model.scorePaths([path, { ...path, scoreLast: 2 }]);
    const whole = (await model.sequenceLogprobs([path.segments.flat()]))[0]!;
    expectClose(got!, whole.subarray(whole.length - 9), 2e-5);
    model.free();
  });

  it('a 32k vocabulary matches the f64 reference and never allocates a rows × vocabulary buffer', async () => {
    const config = readModelConfig({ model_type: 'qwen2', hidden_size: 64, intermediate_size: 96, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 1, vocab_size: 32768, tie_word_embeddings: true, max_position_embeddings: 256, rope_theta: 10000 });
    const weights = randomModelTensors(config, 5);
    const model = await CausalLM.create(env.gpu, config, weights);
    const sequences = [0, 1, 2].map(() => Array.from({ length: 24 }, () => Math.floor(rng() * 32768)));
    const before = env.gpu.pool.stats().liveBytes;
    env.gpu.pool.resetPeak();
    const got = await model.sequenceLogprobs(sequences);
    const peak = env.gpu.pool.stats().peakLiveBytes - before;
    const rows = sequences.reduce((n, s) => n + s.length - 1, 0);
    expect(peak).toBeLessThan(rows * 32768 * 4);
    sequences.forEach((s, i) => expectClose(got[i]!, logprobsRef(config, weights, s), 1e-4));
    model.free();
  });
});

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst).toBeLessThan(tolerance);
}

describe('bad checkpoints and inputs are typed errors, found before any GPU work', () => {
  const source = 'test/fixtures/qwen2/tiny-f32';
  const copy = (mutate: (files: { config: any; weights: Uint8Array }) => void): string => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-qwen2-'));
    const files = { config: JSON.parse(readFileSync(`${source}/config.json`, 'utf8')), weights: new Uint8Array(readFileSync(`${source}/model.safetensors`)) };
    mutate(files);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(files.config));
    writeFileSync(join(dir, 'model.safetensors'), files.weights);
    return dir;
  };
  const failure = async (dir: string) => {
    try {
      await CausalLM.load(env.gpu, dir);
    } catch (e) {
      expect(e).toBeInstanceOf(IgSearchError);
      return (e as IgSearchError).message;
    }
    throw new Error('loaded');
  };
  const header = (bytes: Uint8Array) => {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    return { n, text: new TextDecoder().decode(bytes.subarray(8, 8 + n)) };
  };
  const withHeader = (bytes: Uint8Array, edit: (text: string) => string) => {
    const { n, text } = header(bytes);
    const edited = new TextEncoder().encode(edit(text));
    expect(edited.length).toBe(n); // same-length edits keep the data offsets valid
    bytes.set(edited, 8);
  };

  it('config/weights mismatch, missing tensor, truncated file, bad header, unsupported dtype', async () => {
    expect(await failure(copy((f) => (f.config.intermediate_size = 170)))).toMatch(/tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[176,64\], config\.json implies \[170,64\]/);
    expect(await failure(copy((f) => (f.config.model_type = 'gemma2')))).toMatch(/config\.json: model_type is "gemma2"; this package runs "qwen2" .*, "qwen3" and "llama"/);
    expect(await failure(copy((f) => (f.config.rope_scaling = { rope_type: 'yarn', factor: 4 })))).toMatch(/rope_scaling\.rope_type "yarn" is not supported/);
    expect(await failure(copy((f) => (f.config.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, original_max_position_embeddings: 64 })))).toMatch(/rope_scaling\.high_freq_factor must be a positive number/);
    expect(await failure(copy((f) => (f.config.head_dim = 32)))).toMatch(/head_dim 32 differs from hidden_size \/ num_attention_heads = 16/);
    expect(await failure(copy((f) => (f.config.num_key_value_heads = 3)))).toMatch(/num_attention_heads 4 is not a multiple of num_key_value_heads 3/);
    expect(await failure(copy((f) => withHeader(f.weights, (t) => t.replace('model.norm.weight', 'model.norm.weigh_'))))).toMatch(/tensor "model\.norm\.weight" \(shape \[64\]\) is missing/);
    expect(await failure(copy((f) => (f.weights = f.weights.subarray(0, f.weights.length - 100))))).toMatch(/model\.safetensors: tensor ".*": data_offsets end \d+ is past the \d+ data bytes \(truncated file\?\)/);
    expect(await failure(copy((f) => (f.weights = f.weights.subarray(0, 5))))).toMatch(/too short for a safetensors file/);
    expect(await failure(copy((f) => withHeader(f.weights, (t) => t.replace('{', '[')))).then((m) => m)).toMatch(/header is not valid JSON/);
    expect(await failure(copy((f) => withHeader(f.weights, (t) => t.replace('"F32"', '"I32"'))))).toMatch(/dtype I32 is not supported/);
    expect(await failure('test/fixtures/qwen2/no-such-model')).toMatch(/config\.json: not found/);
  });

  it('token ids outside the vocabulary, too many positions, an empty prefix', async () => {
    const model = await CausalLM.load(env.gpu, source);
    await expect(model.sequenceLogprobs([[1, 2, 512]])).rejects.toThrow(/sequences\[0\]\[2\] = 512 is not a token id \(vocab_size 512\)/);
    await expect(model.scoreContinuations([1], [[3, -1]])).rejects.toThrow(/continuations\[0\]\[1\] = -1/);
    await expect(model.sequenceLogprobs([new Array(129).fill(1)])).rejects.toThrow(/129 positions exceed max_position_embeddings 128/);
    await expect(model.scoreContinuations(new Array(100).fill(1), [new Array(29).fill(1)])).rejects.toThrow(/129 positions exceed/);
    await expect(model.scoreContinuations([], [[1]])).rejects.toThrow(/prefix is empty/);
    model.free();
  });

  it('F16 and BF16 widen exactly', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000, 0x3555]);
    const bf16 = new Uint16Array([0x3f80, 0xc0a0, 0x7f80, 0x0001]);
    const info = (dtype: 'F16' | 'BF16', n: number) => ({ name: 'x', dtype, shape: [n], begin: 0, end: 2 * n });
    expect(Array.from(tensorToF32(new Uint8Array(f16.buffer), info('F16', 7)))).toEqual([1, -2, 65504, 2 ** -24, Infinity, -0, Math.fround(0.333251953125)]);
    expect(Array.from(tensorToF32(new Uint8Array(bf16.buffer), info('BF16', 4)))).toEqual([1, -5, Infinity, Math.fround(2 ** -133)]);
  });
});

describe('f16 weights (shader-f16)', () => {
  it('f32 → f16 rounds to nearest even and round-trips every half exactly', () => {
    const halves = new Uint16Array(65536).map((_, i) => i);
    const wide = tensorToF32(new Uint8Array(halves.buffer), { name: 'all', dtype: 'F16', shape: [65536], begin: 0, end: 131072 });
    const back = f32ToF16(wide);
    for (let i = 0; i < 65536; i++) if (!Number.isNaN(wide[i]!)) expect(back[i], `0x${i.toString(16)}`).toBe(i);
    // Random floats: the chosen half is a nearest one.
    const rng = mulberry32(9);
    const x = Float32Array.from({ length: 20000 }, () => (rng() - 0.5) * 2 ** Math.floor(rng() * 40 - 28));
    const h = tensorToF32(new Uint8Array(f32ToF16(x).buffer), { name: 'x', dtype: 'F16', shape: [x.length], begin: 0, end: 2 * x.length });
    x.forEach((v, i) => {
      const bits = f32ToF16(Float32Array.of(v))[0]!;
      const neighbours = [bits - 1, bits + 1].filter((b) => (b & 0x7fff) < 0x7c00 && b >= 0 && (b & 0x8000) === (bits & 0x8000));
      for (const n of neighbours) {
        const other = tensorToF32(new Uint8Array(Uint16Array.of(n).buffer), { name: 'n', dtype: 'F16', shape: [1], begin: 0, end: 2 })[0]!;
        expect(Math.abs(h[i]! - v)).toBeLessThanOrEqual(Math.abs(other - v));
      }
    });
  });

  it('an f16-weight model equals the f32 model on the same rounded weights, and stays near PyTorch', async (ctx) => {
    requireF16(env.gpu.hasF16, () => ctx.skip()); // a device without shader-f16 gets the typed error (tested elsewhere)
    const dir = 'test/fixtures/qwen2/tiny-f32';
    const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][] };
    const { config, tensors } = await readCheckpoint(dir);
    const rounded = new Map([...tensors].map(([name, t]) => {
      const matrix = /(proj|embed_tokens|lm_head)\.weight$/.test(name);
      return [name, matrix ? tensorToF32(new Uint8Array(f32ToF16(t).buffer), { name, dtype: 'F16', shape: [t.length], begin: 0, end: 2 * t.length }) : t];
    }));
    const half = await CausalLM.create(env.gpu, config, tensors, { weights: 'f16' });
    const full = await CausalLM.create(env.gpu, config, rounded);
    const [a, b] = [await half.sequenceLogprobs(expected.sequences), await full.sequenceLogprobs(expected.sequences)];
    a.forEach((lp, i) => {
      expectClose(lp, b[i]!, 1e-4);
      expectClose(lp, expected.logprobs[i]!, 0.05);
    });
    expect(half.weightDtype).toBe('f16');
    half.free();
    full.free();
  });

  it('f16 compute (wide matmuls) stays within f16 summation error of the f32 model, and the training forward runs with it', async (ctx) => {
    requireF16(env.gpu.hasF16, () => ctx.skip());
    const dir = 'test/fixtures/qwen2/tiny-f32';
    const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][] };
    const half = await CausalLM.load(env.gpu, dir, { matmulVariant: 'wide', compute: 'f16' });
    const full = await CausalLM.load(env.gpu, dir, { matmulVariant: 'wide' });
    const [a, b] = [await half.sequenceLogprobs(expected.sequences), await full.sequenceLogprobs(expected.sequences)];
    let worst = 0;
    a.forEach((lp, i) => lp.forEach((v, t) => (worst = Math.max(worst, Math.abs(v - b[i]![t]!)))));
    // Every product of 2 layers and the LM head (K ≤ 176) summed in f16 slabs: log-probs move by up to
    // 1.7e-2 nats here (measured), against ≤ 2e-5 in f32.
    expect(worst).toBeGreaterThan(1e-4);
    expect(worst).toBeLessThan(5e-2);
    a.forEach((lp, i) => expectClose(lp, expected.logprobs[i]!, 5e-2));
    const grads = await modelGradients(half, expected.sequences, expected.sequences.map((s) => s.slice(1).map(() => 1)));
    // The training pass runs the unfused layer (the norm before the product, not folded into it), so its
    // f16 roundings fall elsewhere: as close to the f32 model, not equal to the inference pass.
    grads.logprobs.forEach((lp, i) => expectClose(lp, b[i]!, 5e-2)); // measured 1.8e-2
    grads.free();
    half.free();
    full.free();
    await expect(CausalLM.load(env.gpu, dir, { matmulVariant: 'subgroup8', compute: 'f16' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

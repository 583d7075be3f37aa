import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BertEncoder, IgSearchError, readEncoderConfig } from '../src/entry/node.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();
const DIR = 'test/fixtures/bert/tiny-bert';
// Written by scripts/fixtures.py: a hand-written fp32 PyTorch BertModel run on the sequences padded to
// the longest with an attention mask; the encoder runs them packed.
const expected = JSON.parse(readFileSync(`${DIR}/expected.json`, 'utf8')) as { sequences: number[][]; hidden: number[][]; mean: number[][]; cls: number[][] };

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

describe('BERT encoder against PyTorch (tiny random BertModel, a batch of 1, 5, 17 and 40 tokens)', () => {
  it('hidden states, mean- and CLS-pooled normalised embeddings within 1e-5', async () => {
    const encoder = await BertEncoder.load(env.gpu, DIR);
    const hidden = await encoder.hiddenStates(expected.sequences);
    hidden.forEach((h, i) => expect(maxDiff(h, expected.hidden[i]!), `sequence ${i}`).toBeLessThan(1e-5));
    const mean = await encoder.embed(expected.sequences);
    mean.forEach((v, i) => expect(maxDiff(v, expected.mean[i]!), `mean ${i}`).toBeLessThan(1e-5));
    const cls = await encoder.embed(expected.sequences, { pooling: 'cls' });
    cls.forEach((v, i) => expect(maxDiff(v, expected.cls[i]!), `cls ${i}`).toBeLessThan(1e-5));
    encoder.free();
  });

  it('a sequence encodes the same alone, in a batch, and across passes of a few rows', async () => {
    const small = await BertEncoder.load(env.gpu, DIR, { maxRows: 41 }); // 1 + 5 + 17 rows in one pass, the 40 in another
    const together = await small.embed(expected.sequences);
    const alone = await Promise.all(expected.sequences.map(async (s) => (await small.embed([s]))[0]!));
    together.forEach((v, i) => expect(maxDiff(v, alone[i]!)).toBeLessThan(1e-6));
    together.forEach((v, i) => expect(maxDiff(v, expected.mean[i]!)).toBeLessThan(1e-5));
    small.free();
  });

  it('bad input is a typed error naming what is wrong', async () => {
    const encoder = await BertEncoder.load(env.gpu, DIR);
    await expect(encoder.embed([[1, 2], []])).rejects.toThrow(/sequences\[1\] is empty/);
    await expect(encoder.embed([[1, 300]])).rejects.toThrow(/sequences\[0\]\[1\] = 300 is not a token id of this model \(vocabulary 300\)/);
    await expect(encoder.embed([Array(49).fill(1)])).rejects.toThrow(/49 tokens exceed max_position_embeddings 48/);
    encoder.free();
    await expect(encoder.embed([[1]])).rejects.toThrow(IgSearchError);
    const config = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8')) as Record<string, unknown>;
    expect(() => readEncoderConfig(JSON.stringify({ ...config, hidden_act: 'relu' }), 'x/config.json')).toThrow(/x\/config\.json: field "hidden_act" must be "gelu"/);
    expect(() => readEncoderConfig(JSON.stringify({ ...config, model_type: 'qwen2' }))).toThrow(/field "model_type" must be "bert"/);
    expect(() => readEncoderConfig(JSON.stringify({ ...config, num_attention_heads: 5 }))).toThrow(/must divide hidden_size 32/);
  });
});

describe('decoder embeddings (Qwen3-Embedding recipe) through CausalLM', () => {
  it('last-token hidden states of a Qwen3-shaped model, normalised and not, within 1e-5 of PyTorch, in one packed batch', async () => {
    const { CausalLM } = await import('../src/entry/node.js');
    const fixture = JSON.parse(readFileSync('test/fixtures/qwen2/tiny-qwen3/embedding.json', 'utf8')) as { sequences: number[][]; embeddings: number[][]; raw: number[][] };
    const model = await CausalLM.load(env.gpu, 'test/fixtures/qwen2/tiny-qwen3');
    const unit = await model.embedLastToken(fixture.sequences);
    unit.forEach((v, i) => expect(maxDiff(v, fixture.embeddings[i]!), `sequence ${i}`).toBeLessThan(1e-5));
    const raw = await model.embedLastToken(fixture.sequences, { normalize: false });
    raw.forEach((v, i) => expect(maxDiff(v, fixture.raw[i]!) / Math.max(...fixture.raw[i]!.map(Math.abs)), `raw ${i}`).toBeLessThan(1e-5));
    await expect(model.embedLastToken([[1], []])).rejects.toThrow(/sequences\[1\] is empty/);
    model.free();
  });
});

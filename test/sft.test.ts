import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index, buildWorld, Gpu, loadWasmCore, CausalLM, readModelConfig, supervisedWarmStart, Tokenizer, type WasmCore } from '../src/entry/node.js';
import { randomModelTensors, scriptedTrajectory } from '../src/internals.js';
import { searchR1Prompt } from '../src/rollout/search_r1.js';

let gpu: Gpu;
let core: WasmCore;
beforeAll(async () => {
  gpu = await Gpu.request();
  core = await loadWasmCore();
});
afterAll(() => gpu?.destroy());

const TAGS = ['<think>', '</think>', '<search>', '</search>', '<information>', '</information>', '<answer>', '</answer>'];

describe('SFT warm start on scripted trajectories', () => {
  it('builds masked Search-R1 trajectories and lowers the loss of a fresh tiny Qwen2', async () => {
    const world = buildWorld({ seed: 2, people: 6, films: 3, companies: 3, cities: 3, countries: 2, distractors: 2 });
    const index = Bm25Index.build(core, world.passages);
    const tokenizer = Tokenizer.train(core, [...world.passages.map((p) => p.contents), searchR1Prompt('x'), ...world.questions.map((q) => q.question), 'I need to find out about more I have the answer.'], { vocabSize: 600, specialTokens: TAGS }).tokenizer;
    const q = world.questions.find((x) => x.hops === 2)!;
    const example = await scriptedTrajectory(world, index, tokenizer, q, false);
    const text = tokenizer.decode(example.tokens);
    expect(text).toContain(`<answer> ${q.golden_answers[0]} </answer>`);
    const policyText = tokenizer.decode(example.tokens.filter((_, i) => example.mask[i]));
    expect((policyText.match(/<search>/g) ?? []).length).toBe(2); // one search per hop
    expect(policyText).not.toContain('<information>');
    expect(policyText).toContain('<search>');

    const config = readModelConfig({ model_type: 'qwen2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: tokenizer.vocabSize, max_position_embeddings: 2048, tie_word_embeddings: true });
    const model = await CausalLM.create(gpu, config, randomModelTensors(config, 11));
    const losses = await supervisedWarmStart(gpu, model, tokenizer, world, index, { steps: 25, batch: 2, lr: 5e-3, seed: 1 });
    expect(losses.every(Number.isFinite)).toBe(true);
    const head = losses.slice(0, 3).reduce((a, b) => a + b, 0) / 3;
    const tail = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
    expect(tail).toBeLessThan(0.7 * head);
    model.free();
    index.free();
  });
});

describe('`ig-search sft --init` continues an earlier warm start', () => {
  it('keeps the tokenizer and weights of the same world, adds up the steps, and refuses another world', async () => {
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { main } = await import('../src/cli/main.js');
    const { quiet } = await import('./helpers/cli.js');
    const dir = mkdtempSync(join(tmpdir(), 'ig-sft-init-'));
    const world = ['--people', '4', '--films', '2', '--companies', '2', '--cities', '2', '--countries', '2', '--distractors', '1'];
    expect(await quiet(() => main(['sft', '--out', join(dir, 'a'), '--steps', '2', '--batch', '1', '--hidden', '32', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--intermediate', '64', ...world]))).toBe(0);
    const shape = JSON.parse(readFileSync(join(dir, 'a', 'config.json'), 'utf8'));
    expect([shape.hidden_size, shape.num_hidden_layers, shape.num_attention_heads, shape.num_key_value_heads, shape.intermediate_size]).toEqual([32, 1, 2, 1, 64]);
    expect(await quiet(() => main(['sft', '--out', join(dir, 'b'), '--init', join(dir, 'a'), '--steps', '3', '--batch', '1', '--lr-schedule', 'cosine', ...world]))).toBe(0);
    const [a, b] = ['a', 'b'].map((d) => JSON.parse(readFileSync(join(dir, d, 'sft.json'), 'utf8')));
    expect(b.steps).toBe(5);
    expect(JSON.parse(readFileSync(join(dir, 'b', 'config.json'), 'utf8')).hidden_size).toBe(32); // the earlier run's shape
    expect(b.losses.length).toBe(3);
    expect(b.lrSchedule).toBe('cosine');
    expect(b.continued.losses).toEqual(a.losses);
    expect(readFileSync(join(dir, 'b', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(dir, 'a', 'tokenizer.json'), 'utf8'));
    // The continuation starts where the first run ended: its first loss is below the fresh model's first.
    expect(b.losses[0]).toBeLessThan(a.losses[0]);
    await expect(quiet(() => main(['sft', '--out', join(dir, 'c'), '--init', join(dir, 'a'), '--steps', '1', ...world.slice(0, -2), '--distractors', '2']))).rejects.toThrow(/--init: .* was trained on another world/);
    await expect(quiet(() => main(['sft', '--out', join(dir, 'c'), '--steps', '1', '--lr-schedule', 'linear', ...world]))).rejects.toThrow(/--lr-schedule: "linear"/);
    await expect(quiet(() => main(['sft', '--out', join(dir, 'c'), '--steps', '1', '--hidden', '30', '--heads', '4', ...world]))).rejects.toThrow(/hidden_size 30 is not a multiple of num_attention_heads 4/);
  }, 300_000);
});

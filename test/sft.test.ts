import { describe, expect, it } from 'vitest';
import { Bm25Index, buildWorld, CausalLM, DEMO_DEFAULTS, loadDemoPolicy, readModelConfig, supervisedWarmStart, Tokenizer } from '../src/entry/node.js';
import { freshExamples, randomModelTensors, scriptedTrajectory } from '../src/internals.js';
import { searchR1Prompt } from '../src/rollout/search_r1.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu({ core: true });

const TAGS = ['<think>', '</think>', '<search>', '</search>', '<information>', '</information>', '<answer>', '</answer>'];

describe('SFT warm start on scripted trajectories', () => {
  it('builds masked Search-R1 trajectories and lowers the loss of a fresh tiny Qwen2', async () => {
    const world = buildWorld({ seed: 2, people: 6, films: 3, companies: 3, cities: 3, countries: 2, distractors: 2 });
    const index = Bm25Index.build(env.core, world.passages);
    const tokenizer = Tokenizer.train(env.core, [...world.passages.map((p) => p.contents), searchR1Prompt('x'), ...world.questions.map((q) => q.question), 'I need to find out about more I have the answer.'], { vocabSize: 600, specialTokens: TAGS }).tokenizer;
    const q = world.questions.find((x) => x.hops === 2)!;
    const example = await scriptedTrajectory(world, index, tokenizer, q, false);
    const text = tokenizer.decode(example.tokens);
    expect(text).toContain(`<answer> ${q.golden_answers[0]} </answer>`);
    const policyText = tokenizer.decode(example.tokens.filter((_, i) => example.mask[i]));
    expect((policyText.match(/<search>/g) ?? []).length).toBe(2); // one search per hop
    expect(policyText).not.toContain('<information>');
    expect(policyText).toContain('<search>');

    const config = readModelConfig({ model_type: 'qwen2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: tokenizer.vocabSize, max_position_embeddings: 2048, tie_word_embeddings: true });
    const model = await CausalLM.create(env.gpu, config, randomModelTensors(config, 11));
    const losses = await supervisedWarmStart(env.gpu, model, tokenizer, world, index, { steps: 25, batch: 2, lr: 5e-3, seed: 1 });
    expect(losses.every(Number.isFinite)).toBe(true);
    const head = losses.slice(0, 3).reduce((a, b) => a + b, 0) / 3;
    const tail = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
    expect(tail).toBeLessThan(0.7 * head);
    model.free();
    index.free();
  });
});

describe('fresh-name worlds mixed into SFT', () => {
  it('use every question of another seed whose names the world does not share, and refuse a world that shares them all', async () => {
    const shape = { people: 6, films: 3, companies: 3, cities: 3, countries: 2, distractors: 2 };
    const world = buildWorld({ seed: 2, ...shape });
    const other = buildWorld({ seed: 9, ...shape });
    const index = Bm25Index.build(env.core, world.passages);
    const otherIndex = Bm25Index.build(env.core, other.passages);
    const tokenizer = Tokenizer.train(env.core, [...world.passages.map((p) => p.contents), searchR1Prompt('x'), 'I need to find out about more'], { vocabSize: 500, specialTokens: TAGS }).tokenizer;
    const names = new Set(world.entities.map((e) => e.name.toLowerCase()));
    const otherName = new Map(other.entities.map((e) => [e.id, e.name]));
    const kept = other.questions.filter((q) => !q.chain.some((id) => names.has(otherName.get(id)!.toLowerCase())) && !q.golden_answers.some((a) => names.has(a.toLowerCase())));
    expect(kept.length).toBeGreaterThan(0);
    const fresh = await freshExamples(world, [{ world: other, index: otherIndex }], tokenizer, () => false);
    expect(fresh.length).toBe(kept.length);
    // Each is the other world's trajectory: its query copies the other world's entity.
    const first = tokenizer.decode(fresh[0]!.tokens);
    expect(first).toContain(`<search> ${otherName.get(kept[0]!.chain[0]!)} </search>`);
    expect(first).toContain(`<answer> ${kept[0]!.golden_answers[0]} </answer>`);
    const config = readModelConfig({ model_type: 'qwen2', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: tokenizer.vocabSize, max_position_embeddings: 2048, tie_word_embeddings: true });
    const model = await CausalLM.create(env.gpu, config, randomModelTensors(config, 3));
    await expect(supervisedWarmStart(env.gpu, model, tokenizer, world, index, { steps: 1, batch: 1, augment: [{ world, index }] })).rejects.toThrow(/every question of the augment worlds names an entity of the world/);
    await expect(supervisedWarmStart(env.gpu, model, tokenizer, world, index, { steps: 1, batch: 1, augment: [{ world: other, index: otherIndex }], augmentFraction: 2 })).rejects.toThrow(/augmentFraction must be in \[0, 1\], got 2/);
    model.free();
    index.free();
    otherIndex.free();
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
    expect(a.augment).toBeUndefined();
    expect(readFileSync(join(dir, 'b', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(dir, 'a', 'tokenizer.json'), 'utf8'));
    // The continuation starts where the first run ended: its first loss is below the fresh model's first.
    expect(b.losses[0]).toBeLessThan(a.losses[0]);
    await expect(quiet(() => main(['sft', '--out', join(dir, 'c'), '--init', join(dir, 'a'), '--steps', '1', ...world.slice(0, -2), '--distractors', '2']))).rejects.toThrow(/--init: .* was trained on another world/);
    expect(await quiet(() => main(['sft', '--out', join(dir, 'd'), '--init', join(dir, 'a'), '--steps', '1', '--batch', '1', '--augment', '2', '--augment-fraction', '0.25', ...world]))).toBe(0);
    const d = JSON.parse(readFileSync(join(dir, 'd', 'sft.json'), 'utf8'));
    expect(d.augment.fraction).toBe(0.25);
    expect(d.augment.worlds.length).toBe(2);
    expect(new Set([...d.augment.worlds, d.seed]).size).toBe(3);
    await expect(quiet(() => main(['sft', '--out', join(dir, 'c'), '--steps', '1', '--augment-fraction', '1.5', ...world]))).rejects.toThrow(/--augment-fraction: must be in \[0, 1\], got 1.5/);
    await expect(quiet(() => main(['sft', '--out', join(dir, 'c'), '--steps', '1', '--lr-schedule', 'linear', ...world]))).rejects.toThrow(/--lr-schedule: "linear"/);
    await expect(quiet(() => main(['sft', '--out', join(dir, 'c'), '--steps', '1', '--hidden', '30', '--heads', '4', ...world]))).rejects.toThrow(/hidden_size 30 is not a multiple of num_attention_heads 4/);
  }, 300_000);
});

describe('the demo budget and the demo world', () => {
  it('every scripted trajectory of the committed world fits DEMO_DEFAULTS (tokens after the prompt, searches)', async () => {
    // Held because a budget shorter than the world's multi-hop trajectories cuts each of them off
    // before the answer: multi-hop EM is then 0 for every algorithm, which no comparison can detect.
    const policy = await loadDemoPolicy(env.core, new URL('../assets/demo-policy', import.meta.url).pathname);
    const longest: Record<number, number> = {};
    for (const q of policy.world.questions) {
      const example = await scriptedTrajectory(policy.world, policy.index, policy.tokenizer, q, false, DEMO_DEFAULTS.docsPerSearch);
      const after = example.tokens.length - example.mask.indexOf(1);
      longest[q.chain.length] = Math.max(longest[q.chain.length] ?? 0, after);
    }
    expect(Object.keys(longest).map(Number).sort()).toEqual([1, 2, 3]);
    expect(Math.max(...Object.keys(longest).map(Number))).toBeLessThanOrEqual(DEMO_DEFAULTS.maxTurns);
    expect(Math.max(...Object.values(longest))).toBeLessThanOrEqual(DEMO_DEFAULTS.maxTokens);
    expect(longest[2]!).toBeGreaterThan(longest[1]!); // measured lengths, not a constant: each hop adds its documents
    policy.index.free();
  });
});

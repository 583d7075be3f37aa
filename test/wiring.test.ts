// The trainer's wiring and the "computed once" claims, pinned by counting what the engine does.
import { describe, expect, it } from 'vitest';
import { Bm25Index, buildWorld, DecodeSession, IgSearchTrainer, CausalLM, Tokenizer, type Retriever, type SearchTrajectory } from '../src/entry/node.js';
import { byPrediction, packBatch, readCheckpoint } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu({ core: true });

const fixture = async () => {
  const { config, tensors } = await readCheckpoint('test/fixtures/qwen2/tiny-f32');
  return CausalLM.create(env.gpu, { ...config, maxPositions: 1024 }, tensors);
};

describe('computed once, counted', () => {
  it('scoring computes a shared prefix once (and once per path without the cache)', async () => {
    const model = await fixture();
    const prefix = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 500);
    const continuations = [[1, 2, 3], [4, 5], [6, 7, 8, 9]];
    let before = model.rowsForwarded;
    await model.scoreContinuations(prefix, continuations);
    expect(model.rowsForwarded - before).toBe(40 + 3 + 2 + 4);
    before = model.rowsForwarded;
    await model.scoreContinuations(prefix, continuations, { prefixCache: false });
    expect(model.rowsForwarded - before).toBe(3 * 40 + 3 + 2 + 4);
    model.free();
  });

  it('generation prefills identical prompts once', async () => {
    const model = await fixture();
    const prompt = Array.from({ length: 30 }, (_, i) => (i * 11 + 1) % 500);
    const other = Array.from({ length: 12 }, (_, i) => (i * 5 + 2) % 500);
    const session = new DecodeSession(model, [prompt, prompt, prompt, other], 4);
    const before = model.rowsForwarded;
    await session.start();
    expect(model.rowsForwarded - before).toBe(30 + 12);
    session.free();
    model.free();
  });
});

describe('the trainer’s wiring', () => {
  it('trajectory token j of rollout i is entry P_i + j − 1 of the training pass (the row that predicts it)', () => {
    const trajectory = (tokens: number[]): SearchTrajectory => ({ tokens: Uint32Array.from(tokens), policyMask: new Uint8Array(tokens.length).fill(1), logprobs: new Float32Array(tokens.length), searches: [], answer: undefined, finish: 'answer', text: '' });
    const batch = packBatch([{ question: 'q', golden_answers: ['a'] }], 2, [Uint32Array.from([10, 11, 12]), Uint32Array.from([10, 11, 12])], [trajectory([20, 21]), trajectory([30, 31, 32])]);
    const rows = byPrediction(batch, [1, 2, 3, 4, 5]);
    expect(rows.map((r) => Array.from(r))).toEqual([
      [0, 0, 1, 2], // predicts 11, 12, 20, 21
      [0, 0, 3, 4, 5], // predicts 11, 12, 30, 31, 32
    ]);
    expect(batch.sequences.map((s) => Array.from(s))).toEqual([[10, 11, 12, 20, 21], [10, 11, 12, 30, 31, 32]]);
  });

  it('a rollout whose retrieval failed is out of the loss: the loss is exactly the other rollout’s −Â', async () => {
    const TAGS = ['<think>', '</think>', '<search>', '</search>', '<information>', '</information>', '<answer>', '</answer>'];
    const world = buildWorld({ seed: 3, people: 8, films: 4, companies: 4, cities: 4, countries: 2, distractors: 4 });
    const { searchR1Prompt } = await import('../src/rollout/search_r1.js');
    const tokenizer = Tokenizer.train(env.core, [...world.passages.map((p) => p.contents), searchR1Prompt('x'), ...world.questions.map((q) => q.question)], { vocabSize: 512, specialTokens: TAGS }).tokenizer;
    const model = await fixture();
    const index = Bm25Index.build(env.core, world.passages);
    const q = world.questions.find((x) => x.hops === 1)!;
    const gold = q.golden_answers[0]!;
    // Rollout 0 answers right at once; rollout 1 searches and its retriever fails.
    const scripts = [`<answer> ${gold} </answer>`, '<search> who </search>'].map((t) => Array.from(tokenizer.encode(t, { addSpecialTokens: false })));
    const down: Retriever = { search: async () => Promise.reject(new Error('retriever down')) };
    const filler = tokenizer.encode('a', { addSpecialTokens: false })[0]!;
    const trainer = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { algo: 'grpo', groupSize: 2, maxTokens: 64, maxTurns: 1, docsPerSearch: 1, lr: 1e-3, seed: 1, retriever: down, script: (s, _turn, position) => scripts[s]![position] ?? filler });
    const m = await trainer.step([q]);
    expect(m.rewards).toEqual([1, 0]);
    expect(m.trajectories.map((t) => t.finish)).toEqual(['answer', 'retrieval_failed']);
    expect(m.retrievalFailures).toBe(1);
    // On-policy the ratio is 1, so each unmasked token contributes −A; token-mean over rollout 0 alone is −Â_0.
    const advantage = (1 - 0.5) / (Math.SQRT1_2 + 1e-6); // (R − mean) / (unbiased std + ε) for rewards [1, 0]
    expect(m.loss).toBeCloseTo(-advantage, 5);
    expect(m.allFailGroups).toBe(0);
    expect(m.allFailGradNorm).toBe(0);
    trainer.free();
    model.free();
    index.free();
  });
});

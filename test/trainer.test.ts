import { describe, expect, it } from 'vitest';
import { withGpu } from './helpers/gpu.js';
import { IgSearchTrainer } from '../src/entry/node.js';
import { worldSetup } from './helpers/world.js';

const env = withGpu({ core: true });

const setup = () => worldSetup(env.gpu, env.core);

describe('IG-Search trainer step (fixture model, synthetic world, scripted policy)', () => {
  it('an all-fail group: GRPO gives no gradient, IG-Search still pushes the query tokens', async () => {
    const results: Record<string, { gradNorm: number; ig: number[]; queryAdvantage: number; reward: number; loss: number; allFailGroups: number; allFailGradNorm: number }> = {};
    for (const algo of ['grpo', 'ig-search'] as const) {
      const { world, tokenizer, model, index } = await setup();
      const q = world.questions.find((x) => x.hops === 1)!;
      const first = world.entities.find((e) => e.id === q.chain[0])!;
      const turns = [`<search> ${first.name} </search>`, '<answer> nobody </answer>'].map((t) => Array.from(tokenizer.encode(t, { addSpecialTokens: false })));
      const filler = tokenizer.encode('a', { addSpecialTokens: false })[0]!;
      const trainer = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { algo, groupSize: 2, maxTokens: 96, maxTurns: 1, docsPerSearch: 1, lr: 1e-3, seed: 5, script: (_s, turn, position) => turns[turn]?.[position] ?? filler });
      const m = await trainer.step([q]);
      expect(m.reward).toBe(0); // every rollout answers "nobody"
      expect(m.searchesPerRollout).toBe(1);
      expect(m.trajectories.every((t) => t.finish === 'answer')).toBe(true);
      expect(m.truncated).toBe(0);
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(Object.values(m.timing).every((v) => v >= 0)).toBe(true);
      results[algo] = m;
      trainer.free();
      model.free();
      index.free();
    }
    expect(results['grpo']!.gradNorm).toBe(0);
    expect(results['grpo']!.ig).toEqual([]);
    expect(results['ig-search']!.ig.length).toBe(2);
    expect(results['ig-search']!.ig.every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
    expect(results['ig-search']!.queryAdvantage).toBeGreaterThan(0);
    expect(results['ig-search']!.gradNorm).toBeGreaterThan(0);
    // The one group failed entirely: its gradient is the whole step's, recorded before the update.
    for (const algo of ['grpo', 'ig-search']) expect(results[algo]!.allFailGroups).toBe(1);
    expect(results['grpo']!.allFailGradNorm).toBe(0);
    expect(results['ig-search']!.allFailGradNorm).toBeCloseTo(results['ig-search']!.gradNorm, 5);
  });
});

describe('rollouts cut off at maxTokens', () => {
  it('are counted in the step metrics (a policy that never answers, 24 tokens)', async () => {
    const { world, tokenizer, model, index } = await setup();
    const q = world.questions.find((x) => x.hops === 2)!;
    const filler = tokenizer.encode('a', { addSpecialTokens: false })[0]!;
    const trainer = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { algo: 'grpo', groupSize: 3, maxTokens: 24, maxTurns: 1, docsPerSearch: 1, lr: 1e-3, seed: 5, script: () => filler });
    const m = await trainer.step([q]);
    expect(m.trajectories.map((t) => [t.finish, t.tokens.length])).toEqual(Array(3).fill(['length', 24]));
    expect(m.truncated).toBe(3);
    trainer.free();
    model.free();
    index.free();
  });
});

describe('the update’s forwards', () => {
  it('without KL each trained token is forwarded once; under LoRA the base is the KL reference, scored without the adapters', async () => {
    const { world, tokenizer, model, index } = await setup();
    const q = world.questions.find((x) => x.hops === 2)!;
    const plain = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { algo: 'ig-search', groupSize: 2, maxTokens: 48, maxTurns: 1, docsPerSearch: 1, lr: 1e-3, seed: 2 });
    const m = await plain.step([q]);
    const prompt = tokenizer.encode((await import('../src/rollout/template.js')).promptText(tokenizer, (await import('../src/rollout/search_r1.js')).searchR1Prompt(q.question)), { addSpecialTokens: false }).length;
    const rows = m.trajectories.reduce((n, t) => n + prompt + t.tokens.length, 0);
    expect(m.rows).toBe(rows);
    expect(m.forwardRows.update).toBe(rows - (2 - 1) * (prompt - 1)); // the prompt but its last token once per group
    expect(m.forwardRows.reference).toBe(0);
    plain.free();

    const { LoraAdapters } = await import('../src/entry/node.js');
    const lora = LoraAdapters.create(model, { rank: 2, alpha: 4, targets: ['q_proj', 'v_proj'], seed: 1 });
    const tuned = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { algo: 'grpo', groupSize: 2, maxTokens: 48, maxTurns: 1, docsPerSearch: 1, lr: 1e-3, seed: 2, klBeta: 0.01 }, lora);
    const seen: unknown[] = [];
    const original = model.scorePaths.bind(model);
    let scoring = false;
    model.scorePaths = async (paths, options, name) => {
      seen.push(options?.adapters);
      scoring = true;
      try {
        return await original(paths, options, name);
      } finally {
        scoring = false;
      }
    };
    const decoded: unknown[] = []; // the adapters of every forward outside the reference's scoring: the rollout's
    const forwardRows = model.forwardRows.bind(model);
    model.forwardRows = async (info, cache, want) => {
      if (!scoring) decoded.push(want?.adapters);
      return forwardRows(info, cache, want);
    };
    const t = await tuned.step([q]);
    expect(decoded.length).toBeGreaterThan(1);
    expect(decoded.every((a) => a === lora)).toBe(true); // the policy rolls out with its adapters
    expect(t.forwardRows.update).toBe(t.rows - (prompt - 1));
    expect(t.forwardRows.reference).toBe(t.forwardRows.update); // the same rows, prompt shared the same way
    expect(seen).toEqual([undefined]); // the reference: one scoring call, on the base weights
    tuned.free();
    model.free();
    index.free();
  });
});

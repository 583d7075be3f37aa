import { describe, expect, it } from 'vitest';
import { withGpu } from './helpers/gpu.js';
import { IgSearchTrainer } from '../src/entry/node.js';
import { packBatch, turnValueSpans } from '../src/rl/batch.js';
import { searchR1Prompt } from '../src/rollout/search_r1.js';
import { scoreInformationGainFromCache } from '../src/scoring/ig.js';
import { worldSetup } from './helpers/world.js';

const env = withGpu({ core: true });

const setup = () => worldSetup(env.gpu, env.core);

describe('turns of a packed batch', () => {
  it('turn k ends where search k’s information starts; the answer turn runs to the end; appended notes are not policy tokens', () => {
    const tokens = Uint32Array.from({ length: 20 }, (_, i) => i);
    // Policy 0–4, information 5–8, policy 9–11, a note 12–13, policy 14–15, information 16–17, policy 18–19.
    const policyMask = Uint8Array.from(tokens, (i) => (i >= 5 && i < 9) || i === 12 || i === 13 || i === 16 || i === 17 ? 0 : 1);
    const search = (span: [number, number], information: [number, number]) => ({ query: 'q', span, information, documents: [] });
    const t = { tokens, policyMask, logprobs: new Float32Array(20), searches: [search([2, 4], [5, 9]), search([14, 15], [16, 18])], answer: 'x', finish: 'answer' as const, text: '' };
    const batch = packBatch([{ question: 'q', golden_answers: ['x'] }], 1, [Uint32Array.of(1, 2)], [t]);
    expect(batch.turnCounts).toEqual([3]);
    expect([batch.turns.start, batch.turns.end]).toEqual([[0, 9, 18], [5, 16, 20]]);
    const spans = turnValueSpans(batch, [1, 2, 3]);
    expect(spans).toEqual({ rollout: [0, 0, 0, 0], start: [0, 9, 14, 18], end: [5, 12, 16, 20], value: [1, 2, 2, 3] });
  });
});

describe('the step-level baselines train through the same step (fixture model, scripted policy)', () => {
  it('gigpo, igpo, mr-search and stepsearch: one search turn and one answer turn per rollout, rollout 0 right, rollout 1 wrong', async () => {
    const { world, tokenizer, model, index } = await setup();
    const q = world.questions.find((x) => x.hops === 1)!;
    const first = world.entities.find((e) => e.id === q.chain[0])!;
    const turns = (answer: string) => [`<search> ${first.name} </search>`, `<answer> ${answer} </answer>`].map((t) => Array.from(tokenizer.encode(t, { addSpecialTokens: false })));
    const scripts = [turns(q.golden_answers[0]!), turns('nobody')];
    const filler = tokenizer.encode('a', { addSpecialTokens: false })[0]!;
    const question = { ...q, supporting: q.chain };
    try {
      for (const algo of ['gigpo', 'igpo', 'mr-search', 'stepsearch'] as const) {
        const trainer = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { algo, groupSize: 2, maxTokens: 96, maxTurns: 1, docsPerSearch: 1, lr: 1e-4, seed: 5, script: (s, turn, position) => scripts[s]![turn]?.[position] ?? filler });
        const m = await trainer.step([question]);
        trainer.free();
        expect(m.algo).toBe(algo);
        expect(m.rewards).toEqual([1, 0]);
        expect(m.searchesPerRollout).toBe(1);
        expect(Number.isFinite(m.loss) && m.gradNorm > 0).toBe(true);
        if (algo === 'igpo') {
          // One probe turn per rollout (the search turn; the answer turn earns the outcome).
          expect(m.stepRewards.length).toBe(2);
          expect(m.stepRewards.every((r) => Number.isFinite(r) && Math.abs(r) <= 1)).toBe(true);
          expect(m.forwardRows.ig).toBe(m.igTokens);
        }
        if (algo === 'mr-search') expect(m.ig.length).toBe(2);
        if (algo === 'stepsearch') {
          // The search names the entity whose passage is the supporting one: a positive gain, nothing repeated.
          expect(m.stepRewards.length).toBe(2);
          expect(m.stepRewards.every((r) => r > 0 && r <= 1)).toBe(true);
          expect(m.stepRewards[0]).toBeCloseTo(m.stepRewards[1]!, 12);
        }
      }
    } finally {
      model.free();
      index.free();
    }
  });

  it('stepsearch refuses questions without supporting passages, naming the field', async () => {
    const { world, tokenizer, model, index } = await setup();
    const trainer = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { algo: 'stepsearch', groupSize: 2, maxTokens: 32, maxTurns: 1, docsPerSearch: 1 });
    try {
      await expect(trainer.step([world.questions[0]!])).rejects.toThrow(/"supporting" passage ids/);
    } finally {
      trainer.free();
      model.free();
      index.free();
    }
  });

  it('a probe without random documents scores p(gold | prompt) and p(gold | block), equal to the full IG probe’s real branch', async () => {
    const { world, tokenizer, model, index } = await setup();
    const q = world.questions.find((x) => x.hops === 2)!;
    const { rolloutSearchAgentWithCache } = await import('../src/rollout/search_r1.js');
    const { promptText } = await import('../src/rollout/template.js');
    const { Bm25Retriever } = await import('../src/retrieval/retriever.js');
    const prompt = tokenizer.encode(promptText(tokenizer, searchR1Prompt(q.question)), { addSpecialTokens: false });
    const name = world.entities.find((e) => e.id === q.chain[0])!.name;
    const script = Array.from(tokenizer.encode(`<search> ${name} </search>`, { addSpecialTokens: false }));
    const { trajectories, cache } = await rolloutSearchAgentWithCache(model, [prompt], { tokenizer, retriever: new Bm25Retriever(index), maxTurns: 1, maxTokens: 64, docsPerSearch: 1, script: (_s, turn, p) => (turn === 0 ? script[p] : undefined) });
    try {
      const answerPrefix = Array.from(tokenizer.encode('<answer>', { addSpecialTokens: false }));
      const answers = q.golden_answers.map((a) => Array.from(tokenizer.encode(` ${a}`, { addSpecialTokens: false })));
      const s = trajectories[0]!.searches[0]!;
      const random = Array.from(tokenizer.encode('<information> nothing here </information>', { addSpecialTokens: false })).concat(answerPrefix);
      const full = await scoreInformationGainFromCache(model, cache, [{ sequence: 0, information: s.information, random, answerPrefix, answers }]);
      const probes = await scoreInformationGainFromCache(model, cache, [
        { sequence: 0, information: [0, 0], answerPrefix, answers },
        { sequence: 0, information: s.information, answerPrefix, answers },
      ]);
      expect(probes.scores[1]!.real).toBeCloseTo(full.scores[0]!.real, 5);
      expect(Number.isNaN(probes.scores[1]!.random)).toBe(true);
      expect(probes.rows).toBe(probes.newTokens);
      // After the prompt alone: the same as scoring "<answer> gold" right after the prompt from scratch.
      const direct = await model.scorePaths([{ segments: [prompt, Uint32Array.from([...answerPrefix, ...answers[0]!])], scoreLast: answers[0]!.length }]);
      const mean = direct[0]!.reduce((a, b) => a + b, 0) / answers[0]!.length;
      if (answers.length === 1) expect(probes.scores[0]!.real).toBeCloseTo(mean, 4);
      else expect(probes.scores[0]!.real).toBeGreaterThanOrEqual(mean - 1e-4);
    } finally {
      cache.cache.free();
      model.free();
      index.free();
    }
  });
});

describe('IG-Search-γ: forward credit from the searches a query made possible', () => {
  it('discountedReturns accumulates backwards inside each rollout, and refuses a bad γ or layout', async () => {
    const { discountedReturns } = await import('../src/rl/advantage.js');
    // Rollouts with 2, 0 and 3 searches, γ = .5 (f64 by hand).
    const out = discountedReturns(env.core, [1, 2, 4, 8, 16], { groupSizes: [2, 1], turns: [2, 0, 3] }, 0.5);
    expect(Array.from(out)).toEqual([1 + 0.5 * 2, 2, 4 + 0.5 * (8 + 0.5 * 16), 8 + 0.5 * 16, 16]);
    expect(() => discountedReturns(env.core, [1, 2], { groupSizes: [1], turns: [2] }, 1.5)).toThrow(/gamma must be in \[0, 1\]/);
    expect(() => discountedReturns(env.core, [1, 2], { groupSizes: [1], turns: [3] }, 1)).toThrow(/turns sum to 3/);
    expect(() => discountedReturns(env.core, [1, Number.NaN], { groupSizes: [1], turns: [2] }, 1)).toThrow(/values\[1\] is NaN/);
  });

  it('γ = 0 trains exactly as ig-search; its signal adds γ × the next search’s IG to each search', async () => {
    const { world, tokenizer, model, index } = await setup();
    const q = world.questions.find((x) => x.hops === 2)!;
    const [first, second] = q.chain.map((id) => world.entities.find((e) => e.id === id)!.name);
    const turns = [`<search> ${first} </search>`, `<search> ${second} </search>`, `<answer> ${q.golden_answers[0]} </answer>`].map((t) => Array.from(tokenizer.encode(t, { addSpecialTokens: false })));
    const vague = [`<search> the </search>`, turns[1]!, `<answer> nobody </answer>`].map((t) => (typeof t === 'string' ? Array.from(tokenizer.encode(t, { addSpecialTokens: false })) : t));
    const scripts = [turns, vague];
    const filler = tokenizer.encode('a', { addSpecialTokens: false })[0]!;
    const question = { ...q, supporting: q.chain };
    const identity = { deadZone: 0, negativeScale: 1, clip: 1e9, normalize: 'none' as const };
    const base = { groupSize: 2, maxTokens: 160, maxTurns: 2, docsPerSearch: 1, lr: 1e-4, seed: 5, igShaping: identity, script: (s: number, turn: number, position: number) => scripts[s]![turn]?.[position] ?? filler };
    try {
      const steps = [];
      for (const [algo, gamma] of [['ig-search', undefined], ['ig-search-gamma', 0]] as const) {
        const fresh = await setup(); // the same fixture weights, world and (deterministically trained) tokenizer
        const trainer = new IgSearchTrainer(env.gpu, env.core, fresh.model, fresh.tokenizer, fresh.index, { ...base, algo, ...(gamma === undefined ? {} : { turnCredit: { gamma } }) });
        steps.push(await trainer.step([question]));
        trainer.free();
        fresh.model.free();
        fresh.index.free();
      }
      expect(steps[1]!.algo).toBe('ig-search-gamma');
      expect(steps[1]!.ig).toEqual(steps[0]!.ig);
      expect(steps[1]!.queryAdvantage).toBe(steps[0]!.queryAdvantage);
      expect(steps[1]!.loss).toBe(steps[0]!.loss);

      const trainer = new IgSearchTrainer(env.gpu, env.core, model, tokenizer, index, { ...base, algo: 'ig-search-gamma' });
      const { perSearch, trajectories } = await trainer.signals([question], 1, { gammas: [0, 0.5] });
      trainer.free();
      expect(trajectories.map((t) => t.searches.length)).toEqual([2, 2]);
      for (const p of perSearch) {
        const next = perSearch.find((o) => o.rollout === p.rollout && o.search === p.search + 1);
        const raw = p.values['ig_raw']!;
        expect(p.values['ig_shaped']).toBe(raw); // identity shaping
        expect(p.values['ig_gamma@0']).toBe(raw);
        expect(p.values['ig_gamma@0.5']).toBeCloseTo(raw + 0.5 * (next?.values['ig_raw'] ?? 0), 12);
        expect(p.values['ig_gamma']).toBeCloseTo(raw + 0.9 * (next?.values['ig_raw'] ?? 0), 12);
      }
    } finally {
      model.free();
      index.free();
    }
  });
});

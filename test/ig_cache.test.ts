import { describe, expect, it } from 'vitest';
import { Bm25Retriever, formatInformation, loadDemoPolicy, CausalLM, rolloutSearchAgentWithCache, scoreInformationGain, scoreInformationGainFromCache, searchR1Prompt, type CachedIgStep, type IgStep } from '../src/entry/node.js';
import { promptText } from '../src/rollout/template.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu({ core: true });

describe('IG scoring from the rollout’s KV cache', () => {
  it('equals the recomputing path to 1e-4 and forwards only the random documents and the answer probes', async () => {
    const POLICY = 'assets/demo-policy';
    const policy = await loadDemoPolicy(env.core, POLICY);
    const model = await CausalLM.load(env.gpu, POLICY);
    const { tokenizer, world, index } = policy;
    const questions = world.questions.filter((q) => q.split === 'train').slice(0, 4);
    const prompts = questions.flatMap((q) => {
      const p = tokenizer.encode(promptText(tokenizer, searchR1Prompt(q.question)), { addSpecialTokens: false });
      return [p, p];
    });
    const { trajectories, cache } = await rolloutSearchAgentWithCache(model, prompts, { tokenizer, retriever: new Bm25Retriever(index), docsPerSearch: 2, maxTurns: 3, maxTokens: 160, temperature: 1, seed: 4 });
    const answerPrefix = Array.from(tokenizer.encode('<answer>', { addSpecialTokens: false }));
    const recomputing: IgStep[] = [];
    const cached: CachedIgStep[] = [];
    let expectedRows = 0;
    trajectories.forEach((t, i) => {
      const q = questions[Math.floor(i / 2)]!;
      const answers = q.golden_answers.map((a) => Array.from(tokenizer.encode(` ${a}`, { addSpecialTokens: false })));
      t.searches.forEach((s, k) => {
        const docs = index.documents(index.sampleRandom(2, { seed: i * 31 + k, excludeAnswers: [...q.golden_answers] })).map((p) => ({ id: p.id, title: p.contents.split('\n')[0]!, text: p.contents.split('\n').slice(1).join('\n').trim(), score: 0 }));
        const random = [...tokenizer.encode(formatInformation(docs), { addSpecialTokens: false }), ...answerPrefix];
        recomputing.push({ prefix: [...prompts[i]!, ...t.tokens.subarray(0, s.information[0])], real: [...t.tokens.subarray(s.information[0], s.information[1]), ...answerPrefix], random, answers });
        cached.push({ sequence: i, information: s.information, random, answerPrefix, answers });
        expectedRows += answerPrefix.length + random.length + 2 * answers.reduce((n, a) => n + a.length - 1, 0);
      });
    });
    expect(cached.length).toBeGreaterThan(4); // the demo policy searches
    const want = await scoreInformationGain(model, recomputing);
    const before = model.rowsForwarded;
    const got = await scoreInformationGainFromCache(model, cache, cached);
    cache.cache.free();
    expect(got.rows).toBe(expectedRows);
    expect(got.newTokens).toBe(expectedRows); // zero recomputed tokens
    expect(model.rowsForwarded - before).toBe(expectedRows);
    got.scores.forEach((s, i) => {
      expect(Math.abs(s.real - want[i]!.real), `step ${i} real`).toBeLessThan(1e-4);
      expect(Math.abs(s.random - want[i]!.random), `step ${i} random`).toBeLessThan(1e-4);
    });
    // Not a vacuous comparison: the retrieved documents change the answer's score.
    expect(got.scores.some((s) => Math.abs(s.ig) > 0.1)).toBe(true);
    model.free();
    index.free();
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index, buildWorld, IgSearchError, loadWasmCore, parseCorpusJsonl, worldCorpusJsonl, worldQuestionsJsonl, type WasmCore } from '../src/entry/node.js';

let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

describe('synthetic multi-hop world', () => {
  const world = buildWorld({ seed: 7 });
  const passageOf = new Map(world.passages.map((p) => [p.id, p.contents]));

  it('is a pure function of the seed', () => {
    expect(buildWorld({ seed: 7 })).toEqual(world);
    expect(buildWorld({ seed: 8 }).passages[0]!.contents).not.toBe(world.passages[0]!.contents);
  });

  it('every answer is in the last hop’s passage; multi-hop answers are not in the first hop’s', () => {
    let hidden = 0;
    let multi = 0;
    for (const q of world.questions) {
      expect(passageOf.get(q.chain[q.chain.length - 1]!)).toContain(q.golden_answers[0]);
      expect(q.chain.length).toBe(q.hops);
      if (q.hops > 1) {
        multi++;
        if (!passageOf.get(q.chain[0]!)!.includes(q.golden_answers[0]!)) hidden++;
      }
    }
    expect(hidden / multi).toBeGreaterThan(0.95);
    const hops = [1, 2, 3].map((h) => world.questions.filter((q) => q.hops === h).length);
    expect(hops.every((n) => n > 0)).toBe(true);
    const test = world.questions.filter((q) => q.split === 'test').length;
    expect(test / world.questions.length).toBeCloseTo(0.2, 1);
  });

  it('BM25 finds the first hop’s passage for most questions; JSONL round-trips', () => {
    const corpus = parseCorpusJsonl(worldCorpusJsonl(world));
    expect(corpus.passages.length).toBe(world.passages.length);
    const index = Bm25Index.build(core, corpus.passages);
    const hits = index.searchBatch(world.questions.map((q) => q.question), 3);
    const found = world.questions.filter((q, i) => hits[i]!.some((h) => h.id === q.chain[0])).length;
    expect(found / world.questions.length).toBeGreaterThan(0.9);
    index.free();
    const train = worldQuestionsJsonl(world, 'train').trim().split('\n').map((l) => JSON.parse(l));
    expect(train.length).toBe(world.questions.filter((q) => q.split === 'train').length);
    expect(Object.keys(train[0]!).sort()).toEqual(['golden_answers', 'hops', 'id', 'question', 'supporting']);
    // The supporting passages are the chain's, one per hop, and exist in the corpus.
    const ids = new Set(world.passages.map((p) => p.id));
    for (const q of train) expect(q.supporting.length === q.hops && q.supporting.every((id: string) => ids.has(id))).toBe(true);
  });

  it('bad options are typed errors', () => {
    expect(() => buildWorld({ people: 0 })).toThrow(IgSearchError);
    expect(() => buildWorld({ testFraction: 1 })).toThrow(/testFraction/);
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { SFT_WORLD } from '../src/cli/sft.js';
import { Bm25Index, buildWorld, IgSearchError, loadWasmCore, parseCorpusJsonl, WORLD_SPLITS, worldCorpusJsonl, worldQuestionsJsonl, type WasmCore } from '../src/entry/node.js';

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
    expect(() => buildWorld({ testFraction: 0.5, validationFraction: 0.5 })).toThrow(/validationFraction/);
    expect(() => buildWorld({ validationFraction: -0.1 })).toThrow(/validationFraction/);
  });

  it('without validationFraction (worlds before v0.3) questions are split one by one into train and test only', () => {
    expect(world.questions.some((q) => q.split === 'validation')).toBe(false);
    // Some entity has questions in both splits: the per-question split the entity split replaces.
    const splitsOf = new Map<string, Set<string>>();
    for (const q of world.questions) splitsOf.set(q.chain[0]!, (splitsOf.get(q.chain[0]!) ?? new Set()).add(q.split));
    expect([...splitsOf.values()].some((s) => s.size > 1)).toBe(true);
  });
});

describe('the demo world’s three splits', () => {
  const world = buildWorld({ seed: 1, ...SFT_WORLD });
  const of = (split: string) => world.questions.filter((q) => q.split === split);

  it('holds ≥ 2,000 test and ≥ 500 validation questions of every hop count, and a training pool larger than both', () => {
    const [train, validation, test] = WORLD_SPLITS.map(of);
    expect(test!.length).toBeGreaterThanOrEqual(2000);
    expect(validation!.length).toBeGreaterThanOrEqual(500);
    expect(train!.length).toBeGreaterThan(test!.length + validation!.length);
    expect(train!.length + validation!.length + test!.length).toBe(world.questions.length);
    for (const split of [train, validation, test]) for (const h of [1, 2, 3]) expect(split!.filter((q) => q.hops === h).length).toBeGreaterThanOrEqual(30);
    expect(test!.length / world.questions.length).toBeCloseTo(SFT_WORLD.testFraction, 2);
    expect(validation!.length / world.questions.length).toBeCloseTo(SFT_WORLD.validationFraction, 2);
  });

  it('splits are disjoint: no question text and no entity a question names is in two splits', () => {
    const owner = new Map<string, string>();
    const texts = new Map<string, string>();
    for (const q of world.questions) {
      expect(owner.get(q.chain[0]!) ?? q.split).toBe(q.split);
      owner.set(q.chain[0]!, q.split);
      expect(texts.get(q.question) ?? q.split).toBe(q.split);
      texts.set(q.question, q.split);
    }
    expect(new Set(world.questions.map((q) => q.question)).size).toBe(world.questions.length);
    // Names of validation and test entities never appear in a training question.
    const trainText = of('train').map((q) => q.question).join('\n');
    const byId = new Map(world.entities.map((e) => [e.id, e.name]));
    const held = [...owner].filter(([, split]) => split !== 'train').map(([id]) => byId.get(id)!);
    expect(held.filter((name) => trainText.includes(name))).toEqual([]);
  });

  it('is rebuilt identically from its options (what sft.json records), and each split has its JSONL', () => {
    expect(buildWorld({ seed: 1, ...SFT_WORLD }).questions).toEqual(world.questions);
    for (const split of WORLD_SPLITS) expect(worldQuestionsJsonl(world, split).trim().split('\n').length).toBe(of(split).length);
  });
});

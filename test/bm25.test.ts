import BM25 from 'okapibm25';
import { beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index, IgSearchError, bm25Terms, loadWasmCore, parseCorpusJsonl, passageTitle, type WasmCore } from '../src/entry/node.js';
import { Bm25Oracle, bm25TermsRef } from '../src/retrieval/bm25.oracle.js';
import { mulberry32 } from './helpers/random.js';

let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

const passages = (texts: string[]) => texts.map((contents, i) => ({ id: `d${i}`, contents }));

describe('BM25 ranking', () => {
  it('hand-checked small corpus', () => {
    const index = Bm25Index.build(core, passages(['apple banana', 'apple apple cherry', 'banana cherry date', 'eggplant']), { k1: 1.2, b: 0.75 });
    // "apple": N = 4, df = 2 → idf = ln(1 + 2.5/2.5) = ln 2; avgdl = 9/4.
    // doc 1 (tf 2, |d| 3): ln2·2·2.2/(2 + 1.2·(0.25 + 0.75·3/2.25)) = ln2·4.4/3.5
    // doc 0 (tf 1, |d| 2): ln2·2.2/(1 + 1.2·(0.25 + 0.75·2/2.25)) = ln2·2.2/2.1
    const hits = index.search('Apple!', 10);
    expect(hits.map((h) => h.id)).toEqual(['d1', 'd0']);
    expect(hits[0]!.score).toBeCloseTo((Math.LN2 * 4.4) / 3.5, 12);
    expect(hits[1]!.score).toBeCloseTo((Math.LN2 * 2.2) / 2.1, 12);
    expect(index.search('cherry banana', 1)[0]!.id).toBe('d2'); // the only passage with both
    expect(index.search('zucchini', 3)).toEqual([]);
    expect(index.size).toBe(4);
    index.free();
  });

  it('scores every passage exactly as okapibm25 (npm) does, on a random Zipf corpus', () => {
    // okapibm25 matches terms by substring; fixed-width code words make that exact.
    const rng = mulberry32(21);
    const word = (i: number) => `w${String(i).padStart(6, '0')}`;
    const zipf = () => Math.floor(300 * rng() ** 3);
    const docs = Array.from({ length: 200 }, () => Array.from({ length: 5 + Math.floor(rng() * 60) }, () => word(zipf())).join(' '));
    const index = Bm25Index.build(core, passages(docs), { k1: 0.9, b: 0.4 });
    for (let q = 0; q < 40; q++) {
      const keywords = Array.from({ length: 1 + Math.floor(rng() * 4) }, () => word(zipf()));
      const theirs = BM25(docs, keywords, { k1: 0.9, b: 0.4 }) as number[];
      const ours = index.search(keywords.join(' '), docs.length);
      const expected = theirs.map((score, doc) => ({ doc, score })).filter((h) => h.score > 0);
      expected.sort((a, b) => b.score - a.score || a.doc - b.doc);
      expect(ours.map((h) => h.doc)).toEqual(expected.map((h) => h.doc));
      ours.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.score, 9));
    }
    index.free();
  });

  it('agrees with the plain TypeScript reference on multilingual text, and batch == one by one', () => {
    const rng = mulberry32(22);
    const vocab = ['Paris', 'paris', 'Straße', 'STRASSE', '東京', 'tokyo', 'ΣΟΦΙΑ', 'σοφια', 'İzmir', 'café', '1969', '٣', 'x_y', 'naïve', "O'Neil"];
    const text = () => Array.from({ length: 3 + Math.floor(rng() * 25) }, () => vocab[Math.floor(rng() * vocab.length)]! + (rng() < 0.3 ? ', ' : ' ')).join('');
    const docs = Array.from({ length: 120 }, text);
    const index = Bm25Index.build(core, passages(docs));
    const ref = new Bm25Oracle(docs);
    const queries = Array.from({ length: 30 }, () => text().slice(0, 40));
    const batch = index.searchBatch(queries, 5);
    queries.forEach((q, i) => {
      expect(bm25Terms(core, q)).toEqual(bm25TermsRef(q));
      const expected = ref.search(q, 5);
      expect(batch[i]!.map((h) => h.doc)).toEqual(expected.map((h) => h.doc));
      batch[i]!.forEach((h, j) => expect(h.score).toBeCloseTo(expected[j]!.score, 9));
      expect(index.search(q, 5)).toEqual(batch[i]);
    });
    index.free();
  });
});

describe('BM25 index files', () => {
  const corpus = [
    '{"id": "1", "contents": "\\"Ada Lovelace\\"\\nAda Lovelace wrote the first program."}',
    '{"id": 2, "contents": "\\"Charles Babbage\\"\\nBabbage designed the Analytical Engine."}',
    '',
    '{"id": "3", "contents": "\\"Analytical Engine\\"\\nA proposed mechanical computer."}',
  ].join('\n');

  it('builds from Search-R1 JSONL; ids and titles come through', () => {
    const index = Bm25Index.fromJsonl(core, corpus);
    const [hit] = index.search('who designed the analytical engine', 1);
    expect(hit!.id).toBe('2');
    expect(passageTitle(hit!.contents)).toBe('Charles Babbage');
    index.free();
  });

  it('serialize → load gives identical results; corrupted or truncated bytes are typed errors, never traps', () => {
    const index = Bm25Index.fromJsonl(core, corpus);
    const bytes = index.serialize();
    const loaded = Bm25Index.load(core, bytes);
    expect(loaded.search('engine', 3)).toEqual(index.search('engine', 3));
    expect(() => Bm25Index.load(core, bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
    expect(() => Bm25Index.load(core, new Uint8Array([1, 2, 3]))).toThrow(/truncated|magic/);
    const rng = mulberry32(23);
    let rejected = 0;
    for (let i = 0; i < 300; i++) {
      const mutated = bytes.slice();
      for (let j = 0; j < 1 + Math.floor(rng() * 4); j++) mutated[Math.floor(rng() * mutated.length)] = Math.floor(rng() * 256);
      try {
        const m = Bm25Index.load(core, mutated);
        m.search('engine program', 3); // a mutation that still validates must still be searchable
        m.free();
      } catch (e) {
        expect(e).toBeInstanceOf(IgSearchError);
        expect((e as IgSearchError).code).not.toBe('WASM_PANIC');
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(0);
    index.free();
    loaded.free();
  });

  it('malformed corpus lines are reported with their line number, or skipped on request', () => {
    const bad = `${corpus}\n{"id": "4", "contents": 5}\nnot json`;
    expect(() => parseCorpusJsonl(bad)).toThrow(/corpus:5: field "contents" must be a string/);
    const { passages: ok, skipped } = parseCorpusJsonl(bad, { skipBadLines: true });
    expect(ok.length).toBe(3);
    expect(skipped.map((s) => s.line)).toEqual([5, 6]);
  });

  it('a freed index refuses further use', () => {
    const index = Bm25Index.fromJsonl(core, corpus);
    index.free();
    expect(() => index.search('x')).toThrow(/freed/);
  });
});

describe('counterfactual document sampler', () => {
  const docs = Array.from({ length: 500 }, (_, i) => (i % 10 === 0 ? `Passage ${i} mentions Marie Curie.` : `Passage ${i} is about something else.`));

  it('is deterministic per seed, draws distinct documents, and differs across seeds', () => {
    const index = Bm25Index.build(core, passages(docs));
    const a = index.sampleRandom(8, { seed: 42 });
    expect(index.sampleRandom(8, { seed: 42 })).toEqual(a);
    expect(new Set(a).size).toBe(8);
    expect(index.sampleRandom(8, { seed: 43 })).not.toEqual(a);
    expect(index.sampleRandom(3, { seed: 2 ** 40 + 7 }).length).toBe(3);
    index.free();
  });

  it('never returns a document containing a gold answer or an excluded document', () => {
    const index = Bm25Index.build(core, passages(docs));
    for (let seed = 0; seed < 50; seed++) {
      const exclude = [1, 2, 3];
      const drawn = index.sampleRandom(20, { seed, excludeAnswers: ['marie CURIE'], excludeDocs: exclude });
      expect(drawn.length).toBe(20);
      for (const d of drawn) {
        expect(docs[d]).not.toMatch(/Curie/);
        expect(exclude).not.toContain(d);
      }
    }
    index.free();
  });

  it('returns fewer when fewer are eligible (tiny corpus)', () => {
    const index = Bm25Index.build(core, passages(['gold here: Paris', 'nothing', 'also nothing']));
    expect(index.sampleRandom(5, { seed: 1, excludeAnswers: ['paris'] }).sort()).toEqual([1, 2]);
    index.free();
  });
});

describe('memory', () => {
  it('Wasm memory stays flat over many searches (allocator bytes in use, not pages)', () => {
    const index = Bm25Index.build(core, passages(Array.from({ length: 300 }, (_, i) => `doc ${i} ${'word'.repeat(i % 7)}`)));
    for (let i = 0; i < 200; i++) index.search(`doc ${i}`, 5);
    const before = core.allocatedBytes;
    const pages = core.memoryBytes;
    expect(before).toBeGreaterThan(0); // the index itself is counted
    for (let i = 0; i < 5000; i++) index.search(`doc ${i % 300} word`, 5);
    expect(core.allocatedBytes).toBe(before);
    expect(core.memoryBytes).toBe(pages);
    index.free();
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { IgSearchError, computeRewards, extractAnswer, loadWasmCore, normalizeAnswer, type WasmCore } from '../src/entry/node.js';
import { exactMatchRef, extractAnswerRef, f1Ref, normalizeAnswerRef } from '../src/rl/oracle.js';
import { mulberry32 } from './helpers/random.js';

let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

// Pieces that exercise every normalisation rule: articles as whole words and inside words,
// ASCII punctuation (incl. underscore), non-ASCII punctuation (kept), case, Unicode letters and
// digits, and Python-only whitespace (U+001F) beside JS-only whitespace (U+FEFF, kept by Python).
const PIECES = [
  'the', 'The', 'THE', 'a', 'A', 'an', 'An', 'theory', 'anthem', 'bathe', 'Paris', 'paris', 'New', 'York',
  '1969', '½', '٣', 'Straße', 'İstanbul', 'ΣΟΦΙΑ', 'café', '東京', 'Ärzte', 'x_y', "O'Neil", 'U.S.', '—', '«',
  '»', '¿', '!', ',', '.', '-', '_', '"', ' ', ' ', '  ', '\t', '\n', '\u001f', '\u00a0', '\u3000', '\ufeff', '🙂',
];

function randomAnswer(rng: () => number): string {
  let s = '';
  const n = Math.floor(rng() * 8);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rng() * PIECES.length)]! + (rng() < 0.6 ? ' ' : '');
  return s;
}

describe('answer normalisation matches the SQuAD reference', () => {
  it('5000 random strings built from tricky pieces', () => {
    const rng = mulberry32(10);
    for (let i = 0; i < 5000; i++) {
      const s = randomAnswer(rng);
      expect(normalizeAnswer(core, s), JSON.stringify(s)).toBe(normalizeAnswerRef(s));
    }
  });

  it('hand-checked cases', () => {
    expect(normalizeAnswer(core, 'The Eiffel Tower.')).toBe('eiffel tower');
    expect(normalizeAnswer(core, 'an apple, a pear & THE plum')).toBe('apple pear plum');
    expect(normalizeAnswer(core, 'theatre of the absurd')).toBe('theatre of absurd');
    expect(normalizeAnswer(core, 'U.S.A.')).toBe('usa');
    expect(normalizeAnswer(core, '  «Paris»  ')).toBe('«paris»');
  });
});

describe('answer extraction', () => {
  it('takes the last <answer>, trims it, and gives nothing for an unclosed last tag', () => {
    expect(extractAnswer(core, '<think>x</think><answer> Paris </answer>')).toBe('Paris');
    expect(extractAnswer(core, '<answer>Rome</answer> no wait <answer>Paris</answer>')).toBe('Paris');
    expect(extractAnswer(core, '<answer>Rome</answer> no wait <answer>Par')).toBeUndefined();
    expect(extractAnswer(core, 'I do not know')).toBeUndefined();
    expect(extractAnswer(core, '</answer><answer></answer>')).toBe('');
  });

  it('agrees with the reference on random tag soup', () => {
    const rng = mulberry32(11);
    const bits = ['<answer>', '</answer>', 'Paris', ' ', '<search>q</search>', '<answer', 'answer>', '\n', '\u001f', '\ufeff'];
    for (let i = 0; i < 2000; i++) {
      let s = '';
      for (let j = 0; j < 8; j++) s += bits[Math.floor(rng() * bits.length)];
      expect(extractAnswer(core, s)).toBe(extractAnswerRef(s));
    }
  });
});

describe('batched EM / F1 rewards', () => {
  it('match the reference for random responses and several gold answers each', () => {
    const rng = mulberry32(12);
    const responses: string[] = [];
    const golds: string[][] = [];
    for (let i = 0; i < 1000; i++) {
      const gold = Array.from({ length: 1 + Math.floor(rng() * 3) }, () => randomAnswer(rng));
      const answer = rng() < 0.4 ? gold[0]!.toUpperCase() + '.' : randomAnswer(rng);
      responses.push(rng() < 0.8 ? `<think>hmm</think> <answer>${answer}</answer>` : `<answer>${answer}`);
      golds.push(gold);
    }
    const em = computeRewards(core, responses, golds);
    const f1 = computeRewards(core, responses, golds, { metric: 'f1' });
    responses.forEach((r, i) => {
      const answer = extractAnswerRef(r);
      expect(em[i]).toBe(answer === undefined ? 0 : exactMatchRef(answer, golds[i]!));
      expect(f1[i]).toBeCloseTo(answer === undefined ? 0 : f1Ref(answer, golds[i]!), 12);
    });
    expect(em.reduce((a, b) => a + b, 0)).toBeGreaterThan(100); // the test set has real matches
  });

  it('scores bare answers with extract: false', () => {
    expect(Array.from(computeRewards(core, ['the Beatles', 'Stones'], [['Beatles'], ['beatles']], { extract: false }))).toEqual([1, 0]);
  });

  it('mismatched lengths and bad metric are typed errors', () => {
    expect(() => computeRewards(core, ['a'], [])).toThrow(IgSearchError);
    expect(() => computeRewards(core, ['a'], [['a']], { metric: 'bleu' as 'em' })).toThrow(/metric must be/);
    expect(() => computeRewards(core, ['\ud800'], [['a']])).toThrow(/lone UTF-16 surrogate/);
  });
});

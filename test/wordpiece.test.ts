import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { IgSearchError, Tokenizer, loadWasmCore, type WasmCore } from '../src/entry/node.js';
import { mulberry32 } from './helpers/random.js';

// Two BERT-style WordPiece vocabularies (uncased: lowercase + strip accents; cased: neither), built by
// scripts/wordpiece-fixtures.mjs: no npm package ships a BERT-family tokenizer.json. The oracle is
// @huggingface/tokenizers (pure JS). Where that port departs from Hugging Face's Rust `tokenizers`
// (which wrote the models' files, and which the core follows), the fuzzed alphabet leaves the
// character out and a test below pins the Rust behaviour instead:
//   - it spaces CJK ideographs by UTF-16 code unit, so astral ones (U+20000…) are not spaced;
//   - its lowercase applies the final-sigma rule (Σ → ς at a word's end); HF's is per character.
// Both keep unassigned code points (\p{Cn}) and drop control, format and private-use ones. A second
// fixture, written by Hugging Face tokenizers itself (scripts/wordpiece-offsets.py), checks ids and
// offsets with none of the departures left out.
const NAMES = ['uncased', 'cased'] as const;
const text = (name: string) => readFileSync(`test/fixtures/wordpiece/${name}.json`, 'utf8');

let core: WasmCore;
const ours: Record<string, Tokenizer> = {};
const oracle: Record<string, HfTokenizer> = {};

beforeAll(async () => {
  core = await loadWasmCore();
  for (const name of NAMES) {
    ours[name] = Tokenizer.fromJSON(core, text(name));
    oracle[name] = new HfTokenizer(JSON.parse(text(name)), {});
  }
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCodePoint(from + i));
const POOLS: string[][] = [
  range(0x61, 0x7a), range(0x41, 0x5a), range(0x30, 0x39),
  [...'àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŁłŒœŠšŽžĐđİıǕǖẞßǅǈ'],
  range(0x300, 0x36f), // combining marks, on their own or after a letter
  range(0x4e00, 0x4e80), range(0x9f00, 0x9fa0), range(0xf900, 0xf930), // CJK, compatibility ideographs
  range(0xac00, 0xac40), range(0x3040, 0x30ff), // Hangul syllables, kana
  [...range(0x391, 0x3a9).filter((c) => c !== 'Σ'), ...range(0x3b1, 0x3c9)], range(0x410, 0x44f), range(0x621, 0x64a), range(0x660, 0x669),
  [...'!"#%&\'()*,-./:;?@[\\]_{}«»—–…¿¡、。，！？「」・'], [...'$+<=>^`|~©®°±×÷€£¥§¶'],
  [...range(0x0, 0x1f), ...range(0x7f, 0x9f), ...range(0x200b, 0x200f), '\u2060', '\ufeff', '\ufffd', ...range(0xe000, 0xe010)],
  [' ', ' ', ' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\u2028', '\u2003'],
  range(0x1f600, 0x1f64f),
];

function fuzzed(rng: () => number, words: string[]): string {
  const parts: string[] = [];
  const n = 1 + Math.floor(rng() * 12);
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (r < 0.35) {
      const w = words[Math.floor(rng() * words.length)]!;
      parts.push(rng() < 0.2 ? w.toUpperCase() : rng() < 0.2 ? w[0]!.toUpperCase() + w.slice(1) : w);
    } else if (r < 0.9) {
      const pool = POOLS[Math.floor(rng() * POOLS.length)]!;
      parts.push(Array.from({ length: 1 + Math.floor(rng() * 6) }, () => pool[Math.floor(rng() * pool.length)]!).join(''));
    } else if (r < 0.96) {
      parts.push(Array.from({ length: 95 + Math.floor(rng() * 20) }, () => String.fromCharCode(97 + Math.floor(rng() * 26))).join('')); // around max_input_chars_per_word
    } else {
      parts.push(rng() < 0.5 ? '[SEP]' : '[MASK]');
    }
    parts.push(rng() < 0.7 ? ' ' : '');
  }
  return parts.join('').replace(/Σ/gu, 'σ'); // upper-cased Greek words: the final-sigma departure above
}

describe.each(NAMES)('WordPiece (%s) against @huggingface/tokenizers', (name) => {
  it('ids are identical on 10,000 fuzzed strings (accents, CJK, punctuation, controls, over-long words)', () => {
    const rng = mulberry32(name === 'uncased' ? 71 : 72);
    const words = Object.keys((JSON.parse(text(name)) as { model: { vocab: Record<string, number> } }).model.vocab).filter((t) => !t.startsWith('##') && !t.startsWith('['));
    const strings = Array.from({ length: 10_000 }, () => fuzzed(rng, words));
    const got = ours[name]!.encodeBatch(strings);
    let unknown = 0;
    let pieces = 0;
    strings.forEach((s, i) => {
      const expected = oracle[name]!.encode(s).ids;
      if (got[i]!.length !== expected.length || got[i]!.some((v, j) => v !== expected[j])) expect(Array.from(got[i]!), JSON.stringify(s)).toEqual(expected);
      unknown += expected.filter((id) => id === 1).length;
      pieces += expected.length - 2;
    });
    // The fuzz reaches the paths it is for: unknown words, and more pieces than words.
    expect(unknown).toBeGreaterThan(1000);
    expect(pieces).toBeGreaterThan(strings.length * 8);
  });

  it('decode gives the oracle’s text back, special tokens skipped or kept', () => {
    const rng = mulberry32(73);
    const words = ['The', 'unaffable', 'résumé', 'café', 'running', "don't", 'Москва', '北京', 'ids', 'hello,', 'world.', '¿qué?'];
    for (let i = 0; i < 300; i++) {
      const s = Array.from({ length: 1 + Math.floor(rng() * 8) }, () => words[Math.floor(rng() * words.length)]!).join(' ');
      const ids = oracle[name]!.encode(s).ids;
      for (const skip of [true, false]) expect(ours[name]!.decode(ids, { skipSpecialTokens: skip }), s).toBe(oracle[name]!.decode(ids, { skip_special_tokens: skip }));
    }
  });
});

describe('WordPiece where the JS oracle departs from Hugging Face tokenizers (Rust)', () => {
  it('astral CJK ideographs are spaced out, Σ lowercased per character; unassigned code points stay in their word', () => {
    const t = ours['uncased']!;
    const id = (s: string) => t.tokenToId(s)!;
    const unk = id('[UNK]');
    // "北" is in the vocabulary; U+20000 is not: spaced, each is a word of its own.
    expect(Array.from(t.encode('北\u{20000}北', { addSpecialTokens: false }))).toEqual([id('北'), unk, id('北')]);
    expect(Array.from(t.encode('a\u0378b', { addSpecialTokens: false }))).toEqual([unk]); // HF tokenizers 0.22: one unknown word
    expect(Array.from(t.encode('οδοΣ', { addSpecialTokens: false }))).toEqual(Array.from(t.encode('οδοσ', { addSpecialTokens: false })));
  });
});

describe('WordPiece tokenizer.json errors', () => {
  const base = () => JSON.parse(text('uncased')) as Record<string, Record<string, unknown>>;
  const refused = (mutate: (j: Record<string, Record<string, unknown>>) => void) => {
    const j = base();
    mutate(j);
    try {
      Tokenizer.fromJSON(core, j);
    } catch (e) {
      expect(e).toBeInstanceOf(IgSearchError);
      return (e as Error).message;
    }
    throw new Error('loaded');
  };

  it('name the field: unknown token, normalizer, pre-tokenizer, word length', () => {
    expect(refused((j) => (j['model']!['unk_token'] = '<unk>'))).toMatch(/model\.unk_token: "<unk>" is not in model\.vocab/);
    expect(refused((j) => (j['normalizer'] = { type: 'NFKC' }))).toMatch(/normalizer\.type: .*BertNormalizer.*"NFKC"/);
    expect(refused((j) => (j['pre_tokenizer'] = { type: 'Metaspace' }))).toMatch(/pre_tokenizer\.type: .*"Metaspace"/);
    expect(refused((j) => (j['model']!['max_input_chars_per_word'] = 0))).toMatch(/model\.max_input_chars_per_word: expected a positive integer/);
    expect(refused((j) => (j['model']!['type'] = 'Unigram'))).toMatch(/model\.type: only "BPE" and "WordPiece"/);
  });

});

describe('WordPiece against Hugging Face tokenizers (Rust), through a committed fixture', () => {
  // scripts/wordpiece-offsets.py: 500 fuzzed strings per vocabulary, encoded by the Rust library itself
  // (astral CJK, unassigned code points and Σ included: none of the JS port's departures apply).
  const fixture = JSON.parse(readFileSync('test/fixtures/wordpiece/offsets.json', 'utf8')) as { cases: Record<string, { text: string; ids: number[]; offsets: number[] }[]> };

  it.each(NAMES)('%s: ids and each token\'s [start, end) in UTF-16 units are identical', (name) => {
    const rows = fixture.cases[name]!;
    expect(rows.length).toBe(500);
    let normalizedAway = 0;
    for (const row of rows) {
      const got = ours[name]!.encodeWithOffsets(row.text);
      expect(Array.from(got.ids), JSON.stringify(row.text)).toEqual(row.ids);
      expect(Array.from(got.offsets), JSON.stringify(row.text)).toEqual(row.offsets);
      // The fixture reaches tokens whose text differs from what they cover (accents, case, CJK spacing).
      row.ids.forEach((id, i) => {
        const covered = row.text.slice(row.offsets[2 * i]!, row.offsets[2 * i + 1]!);
        const token = ours[name]!.idToToken(id) ?? '';
        if (covered && !token.startsWith('[') && covered !== token.replace(/^##/, '')) normalizedAway++;
      });
    }
    if (name === 'uncased') expect(normalizedAway).toBeGreaterThan(200);
  });
});

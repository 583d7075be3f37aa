import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { IgSearchError, Tokenizer, loadWasmCore, type WasmCore } from '../src/entry/node.js';
import { mulberry32 } from './helpers/random.js';

let core: WasmCore;
let corpus: string[];
beforeAll(async () => {
  core = await loadWasmCore();
  const text = readFileSync('node_modules/typescript/README.md', 'utf8') + readFileSync('node_modules/vitest/README.md', 'utf8') + readFileSync('node_modules/rollup/README.md', 'utf8'); // locked files: the same corpus on every run
  corpus = text.split('\n').filter((l) => l.trim() !== '');
});

describe('BPE trainer', () => {
  it('writes a tokenizer.json of exactly the requested size that HF tokenizers load with identical ids', () => {
    const { tokenizer, json } = Tokenizer.train(core, corpus, { vocabSize: 600, specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] });
    expect(tokenizer.vocabSize).toBe(600);
    expect(tokenizer.tokenToId('<|im_start|>')).toBe(1);
    const oracle = new HfTokenizer(json, {});
    const rng = mulberry32(41);
    const samples = [...corpus.slice(0, 200), '<|im_start|>user\nHello, world! 東京 🦊 12345<|im_end|>', ...Array.from({ length: 200 }, () => String.fromCodePoint(...Array.from({ length: 12 }, () => 32 + Math.floor(rng() * 2000))))];
    for (const s of samples) {
      const ids = tokenizer.encode(s);
      expect(Array.from(ids), s).toEqual(oracle.encode(s).ids);
      expect(tokenizer.decode(ids)).toBe(s.normalize('NFC'));
    }
  });

  it('learns the corpus: frequent words become single tokens and text gets shorter', () => {
    const { tokenizer } = Tokenizer.train(core, corpus, { vocabSize: 1000 });
    expect(tokenizer.encode(' the').length).toBe(1);
    const bytes = corpus.slice(0, 100).join('\n');
    expect(tokenizer.encode(bytes).length).toBeLessThan(new TextEncoder().encode(bytes).length / 2.5);
  });

  it('is deterministic, and minFrequency stops it early', () => {
    const a = Tokenizer.train(core, corpus, { vocabSize: 500 }).json;
    const b = Tokenizer.train(core, corpus, { vocabSize: 500 }).json;
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    const sparse = Tokenizer.train(core, ['abc abd', 'xyz'], { vocabSize: 5000, minFrequency: 2 });
    expect(sparse.tokenizer.vocabSize).toBeLessThan(270); // only pairs seen twice were merged
  });

  it('bad options are typed errors', () => {
    expect(() => Tokenizer.train(core, corpus, { vocabSize: 100 })).toThrow(IgSearchError);
    expect(() => Tokenizer.train(core, corpus, { vocabSize: 300, specialTokens: ['x', 'x'] })).toThrow(/duplicates/);
    expect(() => Tokenizer.train(core, corpus, { vocabSize: 300, pattern: 'p50k' as 'gpt2' })).toThrow(/pattern must be/);
  });
});

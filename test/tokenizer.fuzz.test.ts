import { beforeAll, describe, expect, it } from 'vitest';
import { IgSearchError, Tokenizer, loadWasmCore, type WasmCore } from '../src/entry/node.js';
import { byteChars } from '../src/tokenizer/bytes.js';
import { mulberry32 } from './helpers/random.js';

let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

function smallTokenizerJson() {
  const chars = byteChars();
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  const merges: string[] = [];
  for (const [a, b] of [['t', 'h'], ['th', 'e'], ['Ġ', 't'], ['Ġt', 'h'], ['Ġth', 'e'], ['i', 'n'], ['Ġ', 'a'], ['e', 'r'], ['a', 'n']]) {
    vocab[a! + b!] = Object.keys(vocab).length;
    merges.push(`${a} ${b}`);
  }
  return {
    model: { type: 'BPE', vocab, merges },
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    decoder: { type: 'ByteLevel' },
    post_processor: null,
    added_tokens: [{ id: 300, content: '<|end|>', special: true, lstrip: false, rstrip: false, single_word: false, normalized: false }],
  };
}

function expectTypedOrOk(f: () => unknown): 'ok' | 'rejected' {
  try {
    f();
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(IgSearchError);
    expect((e as IgSearchError).code).not.toBe('WASM_PANIC');
    return 'rejected';
  }
}

describe('tokenizer fuzzing: never a trap, never a crash', () => {
  it('100,000 random byte strings as tokenizer.json are all rejected with typed errors', () => {
    const rng = mulberry32(31);
    for (let i = 0; i < 100_000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(rng() * 40) }, () => Math.floor(rng() * 256));
      if (rng() < 0.3) bytes[0] = 0x7b; // '{': reach deeper into the parser
      expect(expectTypedOrOk(() => Tokenizer.fromJSON(core, bytes))).toBe('rejected');
    }
  });

  it('2,000 structural mutations of a valid tokenizer.json load or fail cleanly; what loads still round-trips', () => {
    const rng = mulberry32(32);
    const base = smallTokenizerJson();
    const reference = Tokenizer.fromJSON(core, base); // the unmutated file is valid and merges as written
    expect(Array.from(reference.encode('the'))).toEqual([257]);
    expect(Array.from(reference.encode(' the'))).toEqual([32, 257]); // t+h (rank 0) wins over Ġ+t (rank 2)
    expect(Array.from(reference.encode(' ta'))).toEqual([258, 97]); // Ġt, a
    reference.free();
    const junk = [null, 0, -1, 1.5, 1e9, '', 'x', [], {}, true, 'Unigram', ['a'], { Regex: '.*' }];
    let loaded = 0;
    for (let i = 0; i < 2000; i++) {
      const json = structuredClone(base) as Record<string, unknown>;
      // Walk to a random node and replace or delete one of its fields.
      let node: Record<string, unknown> = json;
      for (let depth = 0; depth < 3; depth++) {
        const keys = Object.keys(node);
        const key = keys[Math.floor(rng() * keys.length)]!;
        const child = node[key];
        if (depth < 2 && child && typeof child === 'object' && rng() < 0.6) node = child as Record<string, unknown>;
        else {
          if (rng() < 0.3) delete node[key];
          else node[key] = junk[Math.floor(rng() * junk.length)];
          break;
        }
      }
      const outcome = expectTypedOrOk(() => {
        const tok = Tokenizer.fromJSON(core, json);
        const text = 'the theater <|end|> in an era ✓';
        const back = tok.decode(tok.encode(text));
        // A mutation may switch add_prefix_space on: then the decoded text gains that one space.
        expect([text, ` ${text}`]).toContain(back);
        tok.free();
      });
      if (outcome === 'ok') loaded++;
    }
    expect(loaded).toBeGreaterThan(0);
    expect(loaded).toBeLessThan(2000);
  });

  it('100,000 random byte strings as text: encode then decode gives the (lossily decoded) text back', () => {
    const tok = Tokenizer.fromJSON(core, smallTokenizerJson());
    const rng = mulberry32(33);
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    const texts: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(rng() * 24) }, () => Math.floor(rng() * 256));
      texts.push(decoder.decode(bytes).normalize('NFC'));
    }
    const encoded = tok.encodeBatch(texts);
    texts.forEach((t, i) => {
      if (tok.decode(encoded[i]!) !== t) expect(tok.decode(encoded[i]!)).toBe(t);
    });
    // Random id arrays: in range decode to some string, out of range is a typed OUT_OF_RANGE.
    for (let i = 0; i < 2000; i++) {
      const ids = Array.from({ length: 1 + Math.floor(rng() * 10) }, () => Math.floor(rng() * 320));
      const outcome = expectTypedOrOk(() => tok.decode(ids));
      expect(outcome).toBe(ids.every((id) => id < 265 || id === 300) ? 'ok' : 'rejected'); // 256 bytes + 9 merges, and <|end|>
    }
    tok.free();
  });
});

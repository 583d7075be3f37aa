/**
 * Trains a byte-level BPE tokenizer (Rust core) and writes it as a Hugging Face `tokenizer.json`
 * object: special tokens first (ids 0…k−1), then the 256 bytes, then the learned merges — a file
 * that this package, transformers.js and HF tokenizers all load.
 */
import { IgSearchError } from '../errors.js';
import { byteChars } from './bytes.js';
import { checkFiniteOption } from '../wasm/args.js';
import type { WasmCore } from '../wasm/core.js';
import { PATTERN_CODES, REGEX_OF } from './config.js';

export interface TrainOptions {
  /** Total vocabulary size, special tokens and the 256 byte tokens included. */
  vocabSize: number;
  /** Added as special tokens with ids 0…k−1 (e.g. `<|endoftext|>`, `<|im_start|>`). */
  specialTokens?: readonly string[];
  /** Stop merging when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  /** Pre-tokenizer regex family (default 'qwen2'). */
  pattern?: 'gpt2' | 'cl100k' | 'qwen2' | 'o200k';
}

export function trainTokenizerJson(core: WasmCore, texts: readonly string[], options: TrainOptions): object {
  const specials = [...(options.specialTokens ?? [])];
  if (new Set(specials).size !== specials.length) throw new IgSearchError('INVALID_ARGUMENT', 'specialTokens contains duplicates');
  const vocabSize = checkFiniteOption(options.vocabSize, 'vocabSize', { min: specials.length + 256 });
  if (!Number.isInteger(vocabSize)) throw new IgSearchError('INVALID_ARGUMENT', `vocabSize must be an integer, got ${vocabSize}`);
  const minFrequency = checkFiniteOption(options.minFrequency ?? 2, 'minFrequency', { min: 1 });
  const pattern = options.pattern ?? 'qwen2';
  if (!(pattern in REGEX_OF)) throw new IgSearchError('INVALID_ARGUMENT', `pattern must be "gpt2", "cl100k", "qwen2" or "o200k", got ${String(pattern)}`);
  const wanted = vocabSize - specials.length - 256;
  const { tokens, merges } = core.scoped((s) => {
    const blob = s.strings(texts, 'texts');
    const count = core.call('ig_tok_train', (x) => x.ig_tok_train(blob.ptr, blob.len, blob.offsets, texts.length, PATTERN_CODES[pattern], wanted, Math.floor(minFrequency)));
    const bytes = core.takeOutBytes();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const learned: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; ) {
      const len = view.getUint32(at, true);
      learned.push(bytes.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    return { tokens: learned, merges: core.takeIds().subarray(0, count * 2) };
  });
  const chars = byteChars();
  const strings = [...chars, ...tokens.map((t) => Array.from(t, (b) => chars[b]).join(''))];
  const vocab: Record<string, number> = {};
  specials.forEach((t, i) => (vocab[t] = i));
  strings.forEach((t, i) => (vocab[t] = specials.length + i));
  const mergePairs: [string, string][] = [];
  for (let i = 0; i < merges.length; i += 2) mergePairs.push([strings[merges[i]!]!, strings[merges[i + 1]!]!]);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: REGEX_OF[pattern] }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: mergePairs,
    },
  };
}

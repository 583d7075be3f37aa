/**
 * tiktoken encodings (cl100k_base, gpt2/r50k…) as Hugging Face `tokenizer.json` objects, so the
 * same Rust BPE runs them. Ranks become ids; merges are recovered the standard way (as HF's
 * TikTokenConverter does): for every token, each split into two tokens of the vocabulary is a
 * merge, ordered by the rank of the token it builds, then by the ranks of its halves.
 */
import { IgSearchError } from '../errors.js';
import { byteChars } from './bytes.js';

/** The js-tiktoken / tiktoken-npm encoder file: `{ pat_str, special_tokens, bpe_ranks }`. */
export interface TiktokenFile {
  pat_str: string;
  special_tokens: Record<string, number>;
  /** Lines of `<ignored> <first rank> <base64 token> <base64 token> …`. */
  bpe_ranks: string;
}

function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function tokenizerJsonFromTiktoken(file: TiktokenFile): object {
  if (typeof file?.bpe_ranks !== 'string' || typeof file.pat_str !== 'string') {
    throw new IgSearchError('INVALID_ARGUMENT', 'tiktoken file: expected { pat_str, special_tokens, bpe_ranks }');
  }
  const chars = byteChars();
  const vocab = new Map<string, number>(); // a Map: tokens like "constructor" must not hit Object.prototype
  const tokens: string[] = [];
  for (const [lineNo, line] of file.bpe_ranks.split('\n').entries()) {
    if (!line) continue;
    const [, first, ...encoded] = line.split(' ');
    const start = Number(first);
    if (!Number.isInteger(start)) throw new IgSearchError('INVALID_ARGUMENT', `tiktoken file: bpe_ranks line ${lineNo + 1}: bad rank ${first}`);
    encoded.forEach((b64, i) => {
      const token = Array.from(base64Bytes(b64), (b) => chars[b]).join('');
      vocab.set(token, start + i);
      tokens[start + i] = token;
    });
  }
  const merges: [string, string, number, number, number][] = [];
  for (const token of tokens) {
    if (token === undefined) continue;
    const symbols = Array.from(token);
    if (symbols.length < 2) continue;
    for (let i = 1; i < symbols.length; i++) {
      const left = symbols.slice(0, i).join('');
      const right = symbols.slice(i).join('');
      const l = vocab.get(left);
      const r = vocab.get(right);
      if (l !== undefined && r !== undefined) merges.push([left, right, vocab.get(token)!, l, r]);
    }
  }
  merges.sort((a, b) => a[2] - b[2] || a[3] - b[3] || a[4] - b[4]);
  return {
    model: { type: 'BPE', vocab: Object.fromEntries(vocab), merges: merges.map(([l, r]) => [l, r]), ignore_merges: false },
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: file.pat_str }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
      ],
    },
    decoder: { type: 'ByteLevel' },
    post_processor: null,
    added_tokens: Object.entries(file.special_tokens ?? {}).map(([content, id]) => ({ id, content, special: true, lstrip: false, rstrip: false, single_word: false, normalized: false })),
  };
}

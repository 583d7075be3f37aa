/**
 * Reads a Hugging Face `tokenizer.json` (already JSON-parsed) into the packed form the Rust core
 * takes, checking every field it relies on. Errors name the JSON path (`model.merges[12]`,
 * `pre_tokenizer.pretokenizers[0].pattern.Regex`) and say what was found.
 */
import { IgSearchError } from '../errors.js';

export const PATTERN_CODES = { none: 0, gpt2: 1, cl100k: 2, qwen2: 3, o200k: 4 } as const;

const KNOWN_REGEXES: Record<string, keyof typeof PATTERN_CODES> = {
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+": 'gpt2',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'cl100k',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'qwen2',
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'o200k',
};

/** The exact regex strings of the supported families (as they appear in tokenizer.json). */
export const REGEX_OF = Object.fromEntries(Object.entries(KNOWN_REGEXES).map(([regex, name]) => [name, regex])) as Record<'gpt2' | 'cl100k' | 'qwen2' | 'o200k', string>;

export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
}

export interface TokenizerSpec {
  vocab: Map<string, number>;
  /** [left, right, merged] ids, in rank order. */
  merges: Uint32Array;
  pattern: keyof typeof PATTERN_CODES;
  addPrefixSpace: boolean;
  ignoreMerges: boolean;
  nfc: boolean;
  added: AddedTokenSpec[];
  /** TemplateProcessing for single sequences: ids before and after the text. */
  prefix: number[];
  suffix: number[];
}

type Json = Record<string, unknown>;

function fail(path: string, message: string): never {
  throw new IgSearchError('INVALID_ARGUMENT', `tokenizer.json: ${path}: ${message}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function object(v: unknown, path: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `expected an object, found ${describe(v)}`);
  return v as Json;
}

function array(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `expected an array, found ${describe(v)}`);
  return v;
}

function string(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, `expected a string, found ${describe(v)}`);
  return v;
}

function bool(v: unknown, path: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') fail(path, `expected true or false, found ${describe(v)}`);
  return v;
}

function id(v: unknown, path: string): number {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= 2 ** 24) fail(path, `expected a token id (integer ≥ 0), found ${describe(v)}`);
  return v as number;
}

export function readTokenizerJson(root: unknown): TokenizerSpec {
  const json = object(root, '(root)');
  const model = object(json['model'], 'model');
  const type = model['type'] ?? 'BPE';
  if (type !== 'BPE') fail('model.type', `only "BPE" models are supported, found ${describe(type)}`);
  // byte_fallback only acts on characters missing from the vocabulary; a byte-level vocabulary has
  // all 256 byte characters (checked by the core), so there it never triggers.
  const byteFallback = bool(model['byte_fallback'], 'model.byte_fallback', false);
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (model[key] !== undefined && model[key] !== null && model[key] !== '') fail(`model.${key}`, `is not supported yet, found ${describe(model[key])}`);
  }
  const vocabJson = object(model['vocab'], 'model.vocab');
  const vocab = new Map<string, number>();
  for (const [token, value] of Object.entries(vocabJson)) vocab.set(token, id(value, `model.vocab[${JSON.stringify(token)}]`));

  const mergesJson = array(model['merges'], 'model.merges');
  const merges = new Uint32Array(mergesJson.length * 3);
  mergesJson.forEach((m, i) => {
    const path = `model.merges[${i}]`;
    let pair: [string, string];
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2) fail(path, `expected "left right", found ${describe(m)}`);
      pair = parts as [string, string];
    } else {
      const parts = array(m, path);
      if (parts.length !== 2) fail(path, `expected a pair, found ${parts.length} entries`);
      pair = [string(parts[0], `${path}[0]`), string(parts[1], `${path}[1]`)];
    }
    const left = vocab.get(pair[0]);
    const right = vocab.get(pair[1]);
    const merged = vocab.get(pair[0] + pair[1]);
    if (left === undefined || right === undefined || merged === undefined) {
      const missing = left === undefined ? pair[0] : right === undefined ? pair[1] : pair[0] + pair[1];
      fail(path, `token ${JSON.stringify(missing)} is not in model.vocab`);
    }
    merges.set([left, right, merged], i * 3);
  });

  const nfc = readNormalizer(json['normalizer'], 'normalizer');
  const { pattern, addPrefixSpace, byteLevel } = readPreTokenizer(json['pre_tokenizer'], 'pre_tokenizer');
  const decoder = json['decoder'];
  if (!byteLevel && !(decoder && (decoder as Json)['type'] === 'ByteLevel')) {
    fail('pre_tokenizer', `no ByteLevel pre-tokenizer or decoder: only byte-level BPE tokenizers are supported${byteFallback ? ' (SentencePiece-style byte_fallback BPE is not)' : ''}`);
  }

  const added = array(json['added_tokens'] ?? [], 'added_tokens').map((t, i): AddedTokenSpec => {
    const path = `added_tokens[${i}]`;
    const o = object(t, path);
    return {
      id: id(o['id'], `${path}.id`),
      content: string(o['content'], `${path}.content`),
      special: bool(o['special'], `${path}.special`, false),
      lstrip: bool(o['lstrip'], `${path}.lstrip`, false),
      rstrip: bool(o['rstrip'], `${path}.rstrip`, false),
      singleWord: bool(o['single_word'], `${path}.single_word`, false),
    };
  });
  const { prefix, suffix } = readPostProcessor(json['post_processor'], 'post_processor');
  return { vocab, merges, pattern, addPrefixSpace, ignoreMerges: bool(model['ignore_merges'], 'model.ignore_merges', false), nfc, added, prefix, suffix };
}

function readNormalizer(v: unknown, path: string): boolean {
  if (v === null || v === undefined) return false;
  const o = object(v, path);
  if (o['type'] === 'NFC') return true;
  if (o['type'] === 'Sequence') {
    const list = array(o['normalizers'], `${path}.normalizers`);
    return list.map((n, i) => readNormalizer(n, `${path}.normalizers[${i}]`)).some(Boolean);
  }
  return fail(`${path}.type`, `unsupported normalizer ${describe(o['type'])} (supported: NFC, Sequence, none)`);
}

function readPreTokenizer(v: unknown, path: string): { pattern: keyof typeof PATTERN_CODES; addPrefixSpace: boolean; byteLevel: boolean } {
  if (v === null || v === undefined) return { pattern: 'none', addPrefixSpace: false, byteLevel: false };
  const o = object(v, path);
  switch (o['type']) {
    case 'ByteLevel':
      return {
        pattern: bool(o['use_regex'], `${path}.use_regex`, true) ? 'gpt2' : 'none',
        addPrefixSpace: bool(o['add_prefix_space'], `${path}.add_prefix_space`, true),
        byteLevel: true,
      };
    case 'Split': {
      const p = object(o['pattern'], `${path}.pattern`);
      const regex = string(p['Regex'], `${path}.pattern.Regex`);
      const known = KNOWN_REGEXES[regex];
      if (!known) fail(`${path}.pattern.Regex`, `unsupported split regex ${describe(regex)} (supported: the GPT-2, cl100k/Llama-3, Qwen2 and o200k patterns)`);
      // Every supported regex matches all of the text, so "Removed" with invert (keep the matches,
      // drop the gaps between them, as GPT-4o's file says) splits exactly like "Isolated".
      const invert = bool(o['invert'], `${path}.invert`, false);
      if (!(o['behavior'] === 'Isolated' && !invert) && !(o['behavior'] === 'Removed' && invert)) {
        fail(`${path}.behavior`, `only "Isolated" splits (or "Removed" with invert) are supported, found ${describe(o['behavior'])}${invert ? ' with invert' : ''}`);
      }
      return { pattern: known, addPrefixSpace: false, byteLevel: false };
    }
    case 'Sequence': {
      const list = array(o['pretokenizers'], `${path}.pretokenizers`).map((p, i) => readPreTokenizer(p, `${path}.pretokenizers[${i}]`));
      const withPattern = list.filter((p) => p.pattern !== 'none');
      if (withPattern.length > 1) fail(`${path}.pretokenizers`, 'more than one splitting pre-tokenizer is not supported');
      return {
        pattern: withPattern[0]?.pattern ?? 'none',
        addPrefixSpace: list.some((p) => p.addPrefixSpace),
        byteLevel: list.some((p) => p.byteLevel),
      };
    }
    default:
      return fail(`${path}.type`, `unsupported pre-tokenizer ${describe(o['type'])} (supported: ByteLevel, Split, Sequence)`);
  }
}

function readPostProcessor(v: unknown, path: string): { prefix: number[]; suffix: number[] } {
  if (v === null || v === undefined) return { prefix: [], suffix: [] };
  const o = object(v, path);
  if (o['type'] === 'ByteLevel') return { prefix: [], suffix: [] };
  if (o['type'] === 'Sequence') {
    const parts = array(o['processors'], `${path}.processors`).map((p, i) => readPostProcessor(p, `${path}.processors[${i}]`));
    return { prefix: parts.flatMap((p) => p.prefix), suffix: parts.flatMap((p) => p.suffix) };
  }
  if (o['type'] === 'TemplateProcessing') {
    const specials = object(o['special_tokens'] ?? {}, `${path}.special_tokens`);
    const prefix: number[] = [];
    const suffix: number[] = [];
    let seenSequence = false;
    array(o['single'], `${path}.single`).forEach((piece, i) => {
      const p = object(piece, `${path}.single[${i}]`);
      if (p['Sequence']) {
        seenSequence = true;
        return;
      }
      const special = object(p['SpecialToken'], `${path}.single[${i}].SpecialToken`);
      const name = string(special['id'], `${path}.single[${i}].SpecialToken.id`);
      const entry = object(specials[name], `${path}.special_tokens[${JSON.stringify(name)}]`);
      const ids = array(entry['ids'], `${path}.special_tokens[${JSON.stringify(name)}].ids`).map((x, j) => id(x, `${path}.special_tokens[${JSON.stringify(name)}].ids[${j}]`));
      (seenSequence ? suffix : prefix).push(...ids);
    });
    return { prefix, suffix };
  }
  return fail(`${path}.type`, `unsupported post-processor ${describe(o['type'])} (supported: ByteLevel, TemplateProcessing, Sequence)`);
}

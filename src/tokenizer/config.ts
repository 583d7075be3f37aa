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

/** What a tokenizer.json holds that the core needs, for either model type. */
export type TokenizerSpec = BpeSpec | WordPieceSpec;

interface CommonSpec {
  vocab: Map<string, number>;
  added: AddedTokenSpec[];
  /** TemplateProcessing (or BertProcessing) for single sequences: ids before and after the text. */
  prefix: number[];
  suffix: number[];
  /** NFC before encoding (`String.prototype.normalize`). */
  nfc: boolean;
}

/** BertNormalizer's switches, defaults applied (strip_accents null means: as lowercase). */
export interface BertNormalizerSpec {
  cleanText: boolean;
  handleChineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

export interface WordPieceSpec extends CommonSpec {
  kind: 'wordpiece';
  unkToken: string;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
  normalizer: BertNormalizerSpec | null;
  preTokenizer: 'bert' | 'whitespace' | 'none';
  /** The WordPiece decoder's cleanup of spaces before punctuation. */
  cleanup: boolean;
}

export interface BpeSpec {
  kind: 'bpe';
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
  if (type === 'WordPiece') return readWordPiece(json, model);
  if (type !== 'BPE') fail('model.type', `only "BPE" and "WordPiece" models are supported, found ${describe(type)}`);
  // byte_fallback only acts on characters missing from the vocabulary; a byte-level vocabulary has
  // all 256 byte characters (checked by the core), so there it never triggers.
  const byteFallback = bool(model['byte_fallback'], 'model.byte_fallback', false);
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (model[key] !== undefined && model[key] !== null && model[key] !== '') fail(`model.${key}`, `is not supported yet, found ${describe(model[key])}`);
  }
  const vocab = readVocab(model);

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

  const added = readAddedTokens(json['added_tokens']);
  const { prefix, suffix } = readPostProcessor(json['post_processor'], 'post_processor');
  return { kind: 'bpe', vocab, merges, pattern, addPrefixSpace, ignoreMerges: bool(model['ignore_merges'], 'model.ignore_merges', false), nfc, added, prefix, suffix };
}

/** `model.vocab`: token → id, each id checked. */
function readVocab(model: Json): Map<string, number> {
  const vocab = new Map<string, number>();
  for (const [token, value] of Object.entries(object(model['vocab'], 'model.vocab'))) vocab.set(token, id(value, `model.vocab[${JSON.stringify(token)}]`));
  return vocab;
}

function readAddedTokens(v: unknown): AddedTokenSpec[] {
  return array(v ?? [], 'added_tokens').map((t, i): AddedTokenSpec => {
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
}

function optionalString(v: unknown, path: string, fallback: string): string {
  return v === undefined || v === null ? fallback : string(v, path);
}

/** A WordPiece (BERT-family) tokenizer.json: BertNormalizer, BertPreTokenizer, the WordPiece decoder. */
function readWordPiece(json: Json, model: Json): WordPieceSpec {
  const vocab = readVocab(model);
  const unkToken = optionalString(model['unk_token'], 'model.unk_token', '[UNK]');
  if (!vocab.has(unkToken)) fail('model.unk_token', `${describe(unkToken)} is not in model.vocab`);
  const max = model['max_input_chars_per_word'] ?? 100;
  if (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 2 ** 31) fail('model.max_input_chars_per_word', `expected a positive integer, found ${describe(max)}`);

  let normalizer: BertNormalizerSpec | null = null;
  const n = json['normalizer'];
  if (n !== null && n !== undefined) {
    const o = object(n, 'normalizer');
    if (o['type'] !== 'BertNormalizer') fail('normalizer.type', `a WordPiece tokenizer supports BertNormalizer or none, found ${describe(o['type'])}`);
    const lowercase = bool(o['lowercase'], 'normalizer.lowercase', true);
    normalizer = {
      cleanText: bool(o['clean_text'], 'normalizer.clean_text', true),
      handleChineseChars: bool(o['handle_chinese_chars'], 'normalizer.handle_chinese_chars', true),
      stripAccents: bool(o['strip_accents'], 'normalizer.strip_accents', lowercase),
      lowercase,
    };
  }

  const readPre = (v: unknown, path: string): WordPieceSpec['preTokenizer'] => {
    if (v === null || v === undefined) return 'none';
    const o = object(v, path);
    if (o['type'] === 'BertPreTokenizer') return 'bert';
    if (o['type'] === 'WhitespaceSplit') return 'whitespace';
    if (o['type'] === 'Sequence') {
      const list = array(o['pretokenizers'], `${path}.pretokenizers`);
      if (list.length !== 1) fail(`${path}.pretokenizers`, `a WordPiece tokenizer supports one pre-tokenizer, found ${list.length}`);
      return readPre(list[0], `${path}.pretokenizers[0]`);
    }
    return fail(`${path}.type`, `a WordPiece tokenizer supports BertPreTokenizer, WhitespaceSplit or none, found ${describe(o['type'])}`);
  };
  const preTokenizer = readPre(json['pre_tokenizer'], 'pre_tokenizer');

  let cleanup = false;
  const d = json['decoder'];
  if (d !== null && d !== undefined) {
    const o = object(d, 'decoder');
    if (o['type'] !== 'WordPiece') fail('decoder.type', `a WordPiece tokenizer supports the WordPiece decoder or none, found ${describe(o['type'])}`);
    cleanup = bool(o['cleanup'], 'decoder.cleanup', true);
  }
  const { prefix, suffix } = readPostProcessor(json['post_processor'], 'post_processor');
  return {
    kind: 'wordpiece',
    vocab,
    added: readAddedTokens(json['added_tokens']),
    prefix,
    suffix,
    nfc: false,
    unkToken,
    continuingSubwordPrefix: optionalString(model['continuing_subword_prefix'], 'model.continuing_subword_prefix', '##'),
    maxInputCharsPerWord: max as number,
    normalizer,
    preTokenizer,
    cleanup,
  };
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
  if (o['type'] === 'BertProcessing' || o['type'] === 'RobertaProcessing') {
    // {"sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}: [CLS] text [SEP].
    const pair = (key: 'cls' | 'sep') => {
      const p = array(o[key], `${path}.${key}`);
      return id(p[1], `${path}.${key}[1]`);
    };
    return { prefix: [pair('cls')], suffix: [pair('sep')] };
  }
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
  return fail(`${path}.type`, `unsupported post-processor ${describe(o['type'])} (supported: ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, Sequence)`);
}

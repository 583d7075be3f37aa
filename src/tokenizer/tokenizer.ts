/**
 * Tokenizers from Hugging Face `tokenizer.json`, run in the Rust core: byte-level BPE (GPT-2,
 * Qwen2/Qwen2.5, Llama-3 / cl100k, o200k) and WordPiece (the BERT family: BertNormalizer,
 * BertPreTokenizer, `[CLS] $A [SEP]`). JSON is parsed here with the runtime's JSON.parse and
 * checked field by field (`readTokenizerJson`); the vocabulary, merges and added tokens cross into
 * Wasm once. NFC normalisation, where the file asks for it, is `String.prototype.normalize('NFC')`.
 */
import type { ChatTemplate } from './chat_template.js';
import { IgSearchError } from '../errors.js';
import { checkU32 } from '../wasm/args.js';
import type { WasmCore } from '../wasm/core.js';
import { CoreHandle } from '../wasm/handle.js';
import { TOKENIZER_HEADER, WORDPIECE_HEADER } from '../wasm/headers.js';
import { PATTERN_CODES, readTokenizerJson, type TokenizerSpec, type WordPieceSpec } from './config.js';
import { trainTokenizerJson, type TrainOptions } from './train.js';

export interface EncodeOptions {
  /** Add the post-processor's special tokens (e.g. a BOS); default true. */
  addSpecialTokens?: boolean;
  /** Recognise special added tokens (`<|im_start|>`…) inside the text; default true. */
  allowSpecial?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}


const FLAGS = { special: 1, lstrip: 2, rstrip: 4, singleWord: 8 } as const;
/** BertNormalizer switches as the core reads them (`NORMALIZER_*` in rust/src/tokenizer/exports.rs). */
const NORMALIZER = { bert: 1, cleanText: 2, handleChineseChars: 4, stripAccents: 8, lowercase: 16 } as const;
const PRE_TOKENIZERS = { bert: 0, whitespace: 1, none: 2 } as const;

function normalizerBits(n: WordPieceSpec['normalizer']): number {
  if (!n) return 0;
  return NORMALIZER.bert | (n.cleanText ? NORMALIZER.cleanText : 0) | (n.handleChineseChars ? NORMALIZER.handleChineseChars : 0) | (n.stripAccents ? NORMALIZER.stripAccents : 0) | (n.lowercase ? NORMALIZER.lowercase : 0);
}

export class Tokenizer {
  private readonly ref: CoreHandle;
  readonly vocabSize: number;
  /** The model's chat template (set by `loadTokenizer` from tokenizer_config.json); prompts use ChatML or plain text without one. */
  chatTemplate: ChatTemplate | undefined;
  private idToTokenMap: Map<number, string> | undefined; // built on first idToToken(): 150k entries

  private constructor(
    private readonly core: WasmCore,
    private readonly spec: TokenizerSpec,
    handle: number,
  ) {
    this.ref = new CoreHandle(core, handle, this, (x, h) => x.ig_tok_free(h), 'tokenizer', 'load it again');
    const info = core.scoped((s) => {
      const out = s.alloc(12);
      core.call('ig_tok_info', (x) => x.ig_tok_info(handle, out));
      return s.readU32(out, 3);
    });
    this.vocabSize = info[0]!;
  }

  /** The post-processor's ids around a single sequence (BERT: [CLS] … [SEP]; Qwen3-Embedding: … <|endoftext|>). */
  get template(): { prefix: readonly number[]; suffix: readonly number[] } {
    return { prefix: [...this.spec.prefix], suffix: [...this.spec.suffix] };
  }

  /** From the text, bytes or parsed object of a `tokenizer.json`. */
  static fromJSON(core: WasmCore, source: string | Uint8Array | object): Tokenizer {
    let root: unknown = source;
    if (typeof source === 'string' || source instanceof Uint8Array) {
      const text = typeof source === 'string' ? source : new TextDecoder().decode(source);
      try {
        root = JSON.parse(text);
      } catch (e) {
        throw new IgSearchError('INVALID_ARGUMENT', `tokenizer.json is not valid JSON: ${(e as Error).message}`, { cause: e });
      }
    }
    const spec = readTokenizerJson(root);
    const tokens = [...spec.vocab.keys()];
    const handle = core.scoped((s) => {
      const vocab = s.strings(tokens, 'model.vocab');
      const ids = s.u32([...spec.vocab.values()]);
      const added = s.strings(spec.added.map((t) => t.content), 'added_tokens[].content');
      const addedIds = s.u32(spec.added.map((t) => t.id));
      const flags = s.u8(spec.added.map((t) => (t.special ? FLAGS.special : 0) | (t.lstrip ? FLAGS.lstrip : 0) | (t.rstrip ? FLAGS.rstrip : 0) | (t.singleWord ? FLAGS.singleWord : 0)));
      if (spec.kind === 'wordpiece') {
        const unk = s.string(spec.unkToken, 'model.unk_token');
        const prefix = s.string(spec.continuingSubwordPrefix, 'model.continuing_subword_prefix');
        const header = s.header(WORDPIECE_HEADER, {
          vocab: vocab.ptr, vocabLen: vocab.len, vocabOffsets: vocab.offsets, vocabIds: ids, nVocab: tokens.length,
          unk: unk.ptr, unkLen: unk.len, prefix: prefix.ptr, prefixLen: prefix.len, maxInputCharsPerWord: spec.maxInputCharsPerWord,
          normalizer: normalizerBits(spec.normalizer), preTokenizer: PRE_TOKENIZERS[spec.preTokenizer], cleanup: spec.cleanup ? 1 : 0,
          added: added.ptr, addedLen: added.len, addedOffsets: added.offsets, addedIds, addedFlags: flags, nAdded: spec.added.length,
        });
        return core.call('ig_tok_build_wordpiece', (x) => x.ig_tok_build_wordpiece(header));
      }
      const merges = s.u32(spec.merges);
      const header = s.header(TOKENIZER_HEADER, {
        vocab: vocab.ptr, vocabLen: vocab.len, vocabOffsets: vocab.offsets, vocabIds: ids, nVocab: tokens.length,
        merges, nMerges: spec.merges.length / 3, pattern: PATTERN_CODES[spec.pattern], addPrefixSpace: spec.addPrefixSpace ? 1 : 0, ignoreMerges: spec.ignoreMerges ? 1 : 0,
        added: added.ptr, addedLen: added.len, addedOffsets: added.offsets, addedIds, addedFlags: flags, nAdded: spec.added.length,
      });
      return core.call('ig_tok_build', (x) => x.ig_tok_build(header));
    });
    return new Tokenizer(core, spec, handle);
  }

  /** Trains a byte-level BPE tokenizer on `texts` (see `trainTokenizerJson` for the file it builds). */
  static train(core: WasmCore, texts: readonly string[], options: TrainOptions): { tokenizer: Tokenizer; json: object } {
    const json = trainTokenizerJson(core, texts, options);
    return { tokenizer: Tokenizer.fromJSON(core, json), json };
  }

  encode(text: string, options: EncodeOptions = {}): Uint32Array {
    return this.encodeBatch([text], options)[0]!;
  }

  /**
   * Ids and, per token, its `[start, end)` in UTF-16 code units of `text` (after NFC where the
   * tokenizer normalises; `text.slice(start, end)` is what the token covers). A token holding part
   * of a character (byte-level BPE splits emoji and CJK) covers the whole character; the added
   * prefix space of `add_prefix_space` covers nothing; template tokens get `[0, 0)`.
   */
  encodeWithOffsets(text: string, options: EncodeOptions = {}): { ids: Uint32Array; offsets: Uint32Array } {
    const h = this.live();
    const prepared = this.spec.nfc && typeof text === 'string' ? text.normalize('NFC') : text;
    const { ids, spans } = this.core.scoped((s) => {
      const t = s.string(prepared, 'text');
      this.core.call('ig_tok_encode_offsets', (x) => x.ig_tok_encode_offsets(h, t.ptr, t.len, options.allowSpecial === false ? 0 : 1));
      const bytes = this.core.takeOutBytes();
      return { ids: this.core.takeIds(), spans: new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
    });
    const { prefix, suffix } = this.spec;
    if (options.addSpecialTokens === false || (prefix.length === 0 && suffix.length === 0)) return { ids, offsets: spans };
    const all = new Uint32Array(prefix.length + ids.length + suffix.length);
    all.set(prefix);
    all.set(ids, prefix.length);
    all.set(suffix, prefix.length + ids.length);
    const offsets = new Uint32Array(all.length * 2);
    offsets.set(spans, prefix.length * 2);
    return { ids: all, offsets };
  }

  /** Many texts in one call into the core. */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Uint32Array[] {
    const h = this.live();
    const prepared = this.spec.nfc ? texts.map((t) => (typeof t === 'string' ? t.normalize('NFC') : t)) : texts;
    const { ids, counts } = this.core.scoped((s) => {
      const blob = s.strings(prepared, 'texts');
      const out = s.alloc(texts.length * 4);
      this.core.call('ig_tok_encode', (x) => x.ig_tok_encode(h, blob.ptr, blob.len, blob.offsets, texts.length, options.allowSpecial === false ? 0 : 1, out));
      return { ids: this.core.takeIds(), counts: s.readU32(out, texts.length) };
    });
    const { prefix, suffix } = this.spec;
    const wrap = options.addSpecialTokens !== false && (prefix.length > 0 || suffix.length > 0);
    const result: Uint32Array[] = [];
    let at = 0;
    for (let i = 0; i < texts.length; i++) {
      const body = ids.subarray(at, at + counts[i]!);
      at += counts[i]!;
      if (!wrap) {
        result.push(body);
        continue;
      }
      const full = new Uint32Array(prefix.length + body.length + suffix.length);
      full.set(prefix);
      full.set(body, prefix.length);
      full.set(suffix, prefix.length + body.length);
      result.push(full);
    }
    return result;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    checkU32(ids, 'ids');
    const h = this.live();
    return this.core.scoped((s) => {
      const ptr = s.u32(ids);
      this.core.call('ig_tok_decode', (x) => x.ig_tok_decode(h, ptr, ids.length, options.skipSpecialTokens ? 1 : 0));
      return this.core.takeOutString();
    });
  }

  idToToken(id: number): string | undefined {
    if (!this.idToTokenMap) {
      this.idToTokenMap = new Map([...this.spec.vocab].map(([t, i]) => [i, t]));
      for (const t of this.spec.added) this.idToTokenMap.set(t.id, t.content);
    }
    return this.idToTokenMap.get(id);
  }

  tokenToId(token: string): number | undefined {
    return this.spec.vocab.get(token) ?? this.spec.added.find((t) => t.content === token)?.id;
  }

  free(): void {
    this.ref.free();
  }

  private live(): number {
    return this.ref.live();
  }
}

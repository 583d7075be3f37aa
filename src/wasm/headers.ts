/**
 * Packed argument headers (mirrors `rust/src/header.rs`). An export with many scalar arguments reads
 * one `#[repr(C)]` struct from linear memory instead, so arguments are written by name and a swapped
 * pair is a type error rather than a silent wrong result. Each spec lists the Rust struct's fields
 * in order (camelCase here, snake_case there) with their wasm32 types; offsets follow C layout rules
 * (f64 aligned to 8, u32 and pointers to 4, size rounded up to the largest alignment).
 * test/wasm_headers.test.ts checks every spec against the layout Rust reports.
 */
import { IgSearchError } from '../errors.js';

export type HeaderFieldType = 'f64' | 'u32' | 'ptr';

export interface HeaderSpec<F extends string = string> {
  /** The export that reads it (named in errors). */
  readonly name: string;
  /** The Rust struct's `ID`, the argument of `ig_header_layout`. */
  readonly id: number;
  readonly fields: readonly (readonly [F, HeaderFieldType])[];
  readonly offsets: Readonly<Record<F, number>>;
  readonly size: number;
}

const SIZE: Record<HeaderFieldType, number> = { f64: 8, u32: 4, ptr: 4 };

function defineHeader<const F extends string>(name: string, id: number, fields: readonly (readonly [F, HeaderFieldType])[]): HeaderSpec<F> {
  const offsets = {} as Record<F, number>;
  let at = 0;
  let align = 1;
  for (const [field, type] of fields) {
    const size = SIZE[type];
    at = Math.ceil(at / size) * size;
    offsets[field] = at;
    at += size;
    align = Math.max(align, size);
  }
  return { name, id, fields, offsets, size: Math.ceil(at / align) * align };
}

export const MODULATION_HEADER = defineHeader('ig_modulate_advantages', 1, [
  ['lambda', 'f64'],
  ['tokenCounts', 'ptr'],
  ['rolloutAdvantages', 'ptr'],
  ['rollouts', 'u32'],
  ['queryRollout', 'ptr'],
  ['queryStart', 'ptr'],
  ['queryEnd', 'ptr'],
  ['queryIg', 'ptr'],
  ['queries', 'u32'],
  ['retrievedRollout', 'ptr'],
  ['retrievedStart', 'ptr'],
  ['retrievedEnd', 'ptr'],
  ['retrieved', 'u32'],
  ['mode', 'u32'],
  ['outLen', 'u32'],
  ['advantages', 'ptr'],
  ['mask', 'ptr'],
]);

export const INFORMATION_GAIN_HEADER = defineHeader('ig_information_gain', 2, [
  ['deadZone', 'f64'],
  ['negativeScale', 'f64'],
  ['clip', 'f64'],
  ['epsilon', 'f64'],
  ['real', 'ptr'],
  ['counterfactual', 'ptr'],
  ['steps', 'u32'],
  ['groupSizes', 'ptr'],
  ['groups', 'u32'],
  ['groupZ', 'u32'],
  ['raw', 'ptr'],
  ['shaped', 'ptr'],
]);

export const GIGPO_HEADER = defineHeader('ig_gigpo_advantages', 3, [
  ['gamma', 'f64'],
  ['omega', 'f64'],
  ['epsilon', 'f64'],
  ['outcome', 'ptr'],
  ['n', 'u32'],
  ['groupSizes', 'ptr'],
  ['nGroups', 'u32'],
  ['turns', 'ptr'],
  ['anchors', 'ptr'],
  ['nTurns', 'u32'],
  ['out', 'ptr'],
]);

export const IGPO_HEADER = defineHeader('ig_igpo_advantages', 4, [
  ['gamma', 'f64'],
  ['epsilon', 'f64'],
  ['outcome', 'ptr'],
  ['promptScores', 'ptr'],
  ['n', 'u32'],
  ['groupSizes', 'ptr'],
  ['nGroups', 'u32'],
  ['turns', 'ptr'],
  ['turnScores', 'ptr'],
  ['nTurns', 'u32'],
  ['out', 'ptr'],
]);

export const DISCOUNTED_RETURNS_HEADER = defineHeader('ig_discounted_returns', 5, [
  ['gamma', 'f64'],
  ['values', 'ptr'],
  ['nValues', 'u32'],
  ['groupSizes', 'ptr'],
  ['nGroups', 'u32'],
  ['turns', 'ptr'],
  ['n', 'u32'],
  ['out', 'ptr'],
]);

export const MR_SEARCH_HEADER = defineHeader('ig_mr_search_advantages', 6, [
  ['gamma', 'f64'],
  ['stepRewards', 'ptr'],
  ['rewarded', 'ptr'],
  ['nTurns', 'u32'],
  ['groupSizes', 'ptr'],
  ['nGroups', 'u32'],
  ['turns', 'ptr'],
  ['n', 'u32'],
  ['out', 'ptr'],
]);

export const REWARDS_HEADER = defineHeader('ig_rewards', 7, [
  ['texts', 'ptr'],
  ['textsLen', 'u32'],
  ['textOffsets', 'ptr'],
  ['n', 'u32'],
  ['golds', 'ptr'],
  ['goldsLen', 'u32'],
  ['goldOffsets', 'ptr'],
  ['nGolds', 'u32'],
  ['goldIndex', 'ptr'],
  ['metric', 'u32'],
  ['extract', 'u32'],
  ['out', 'ptr'],
]);

export const STEP_SEARCH_HEADER = defineHeader('ig_stepsearch_rewards', 8, [
  ['index', 'u32'],
  ['texts', 'ptr'],
  ['textsLen', 'u32'],
  ['textOffsets', 'ptr'],
  ['nTexts', 'u32'],
  ['n', 'u32'],
  ['goldOffsets', 'ptr'],
  ['goldIds', 'ptr'],
  ['stepOffsets', 'ptr'],
  ['docOffsets', 'ptr'],
  ['docIds', 'ptr'],
  ['out', 'ptr'],
]);

export const SAMPLE_HEADER = defineHeader('ig_bm25_sample', 9, [
  ['index', 'u32'],
  ['count', 'u32'],
  ['seedLo', 'u32'],
  ['seedHi', 'u32'],
  ['golds', 'ptr'],
  ['goldsLen', 'u32'],
  ['goldOffsets', 'ptr'],
  ['nGolds', 'u32'],
  ['exclude', 'ptr'],
  ['nExclude', 'u32'],
  ['out', 'ptr'],
]);

export const TOKENIZER_HEADER = defineHeader('ig_tok_build', 10, [
  ['vocab', 'ptr'],
  ['vocabLen', 'u32'],
  ['vocabOffsets', 'ptr'],
  ['vocabIds', 'ptr'],
  ['nVocab', 'u32'],
  ['merges', 'ptr'],
  ['nMerges', 'u32'],
  ['pattern', 'u32'],
  ['addPrefixSpace', 'u32'],
  ['ignoreMerges', 'u32'],
  ['added', 'ptr'],
  ['addedLen', 'u32'],
  ['addedOffsets', 'ptr'],
  ['addedIds', 'ptr'],
  ['addedFlags', 'ptr'],
  ['nAdded', 'u32'],
]);

export const WORDPIECE_HEADER = defineHeader('ig_tok_build_wordpiece', 11, [
  ['vocab', 'ptr'],
  ['vocabLen', 'u32'],
  ['vocabOffsets', 'ptr'],
  ['vocabIds', 'ptr'],
  ['nVocab', 'u32'],
  ['unk', 'ptr'],
  ['unkLen', 'u32'],
  ['prefix', 'ptr'],
  ['prefixLen', 'u32'],
  ['maxInputCharsPerWord', 'u32'],
  ['normalizer', 'u32'],
  ['preTokenizer', 'u32'],
  ['cleanup', 'u32'],
  ['added', 'ptr'],
  ['addedLen', 'u32'],
  ['addedOffsets', 'ptr'],
  ['addedIds', 'ptr'],
  ['addedFlags', 'ptr'],
  ['nAdded', 'u32'],
]);

export const HEADERS: readonly HeaderSpec[] = [
  MODULATION_HEADER, INFORMATION_GAIN_HEADER, GIGPO_HEADER, IGPO_HEADER, DISCOUNTED_RETURNS_HEADER, MR_SEARCH_HEADER,
  REWARDS_HEADER, STEP_SEARCH_HEADER, SAMPLE_HEADER, TOKENIZER_HEADER, WORDPIECE_HEADER,
];

/** Writes `values` into `view` (a header-sized window of Wasm memory) per `spec`. */
export function packHeader<F extends string>(spec: HeaderSpec<F>, values: Readonly<Record<F, number>>, view: DataView): void {
  if (view.byteLength < spec.size) throw new IgSearchError('INVALID_ARGUMENT', `${spec.name}: header needs ${spec.size} bytes, got ${view.byteLength}`);
  for (const [field, type] of spec.fields) {
    const v = values[field];
    const at = spec.offsets[field];
    if (type === 'f64') {
      if (typeof v !== 'number') throw new IgSearchError('INVALID_ARGUMENT', `${spec.name}: header field ${field} must be a number, got ${typeof v}`);
      view.setFloat64(at, v, true);
    } else {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new IgSearchError('INVALID_ARGUMENT', `${spec.name}: header field ${field} must be an integer in [0, 2^32), got ${String(v)}`);
      }
      view.setUint32(at, v, true);
    }
  }
}

/** A camelCase field name as the Rust struct spells it. */
export function rustFieldName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Outcome rewards (Search-R1 / SQuAD conventions), computed in the Rust core: answer extraction
 * from the last `<answer>…</answer>`, answer normalisation, exact match and token F1 against
 * several gold answers.
 */
import { IgSearchError } from '../errors.js';
import type { WasmCore } from '../wasm/core.js';
import { REWARDS_HEADER } from '../wasm/headers.js';

export type RewardMetric = 'em' | 'f1';

export interface RewardOptions {
  /** 'em' (default) or 'f1'. */
  metric?: RewardMetric;
  /** Extract the last `<answer>` from each text first (default true); false scores texts as answers. */
  extract?: boolean;
}

/** SQuAD `normalize_answer`: lowercase, no ASCII punctuation, no a/an/the, single spaces. */
export function normalizeAnswer(core: WasmCore, text: string): string {
  return core.scoped((s) => {
    const { ptr, len } = s.string(text, 'text');
    core.call('ig_normalize_answer', (x) => x.ig_normalize_answer(ptr, len));
    return core.takeOutString();
  });
}

/** The last `<answer>…</answer>` of a response, trimmed; undefined if missing or unclosed. */
export function extractAnswer(core: WasmCore, response: string): string | undefined {
  return core.scoped((s) => {
    const { ptr, len } = s.string(response, 'response');
    const found = core.call('ig_extract_answer', (x) => x.ig_extract_answer(ptr, len));
    return found === 1 ? core.takeOutString() : undefined;
  });
}

/**
 * One reward per response: `responses[i]` scored against `goldAnswers[i]` (a list; the best
 * match counts). Missing or unclosed answers score 0.
 */
export function computeRewards(core: WasmCore, responses: readonly string[], goldAnswers: readonly (readonly string[])[], options: RewardOptions = {}): Float64Array {
  const metric = options.metric ?? 'em';
  if (metric !== 'em' && metric !== 'f1') throw new IgSearchError('INVALID_ARGUMENT', `metric must be "em" or "f1", got ${String(metric)}`);
  if (goldAnswers.length !== responses.length) {
    throw new IgSearchError('SHAPE_MISMATCH', `${responses.length} responses but ${goldAnswers.length} gold answer lists`);
  }
  const flat: string[] = [];
  const index = new Uint32Array(responses.length + 1);
  goldAnswers.forEach((golds, i) => {
    if (!Array.isArray(golds)) throw new IgSearchError('INVALID_ARGUMENT', `goldAnswers[${i}] must be an array of strings`);
    flat.push(...golds);
    index[i + 1] = flat.length;
  });
  return core.scoped((s) => {
    const texts = s.strings(responses, 'responses');
    const golds = s.strings(flat, 'goldAnswers');
    const goldIndex = s.u32(index);
    const out = s.alloc(responses.length * 8);
    const header = s.header(REWARDS_HEADER, {
      texts: texts.ptr, textsLen: texts.len, textOffsets: texts.offsets, n: responses.length,
      golds: golds.ptr, goldsLen: golds.len, goldOffsets: golds.offsets, nGolds: flat.length, goldIndex,
      metric: metric === 'em' ? 0 : 1, extract: options.extract === false ? 0 : 1, out,
    });
    core.call('ig_rewards', (x) => x.ig_rewards(header));
    return s.readF64(out, responses.length);
  });
}

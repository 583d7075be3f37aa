/**
 * Batched autoregressive decoding with a KV cache. Identical prompts (the G rollouts of one
 * question) are prefilled once; each sequence then owns a contiguous region of the cache, so a
 * decode row attends to its prompt's rows plus its own region — the same two-range attention the
 * scorer uses. A step feeds every active sequence's newest tokens (one sampled token, or a whole
 * appended block such as retrieved documents) and returns the logits after each.
 */
import { IgSearchError } from '../errors.js';
import type { KvCache, CausalLM } from '../model/causal_lm.js';
import type { LoraAdapters } from '../model/lora.js';
import { packRow, ROW_FIELDS } from '../model/rows.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { sampleToken, seededRandom, type SamplingOptions } from './sample.js';

export class DecodeSession {
  private readonly cache: KvCache;
  /** Per sequence: its prompt's rows [start, start + length) and its own region's start and fill. */
  private readonly prompt: { start: number; length: number }[] = [];
  private readonly region: number[] = [];
  private readonly used: number[] = [];
  private readonly promptRows: number;
  private detached = false;

  /** `capacity`: tokens each sequence may append after its prompt; `adapters`: LoRA adapters every forward adds (none: the base model). */
  constructor(
    readonly model: CausalLM,
    readonly prompts: readonly ArrayLike<number>[],
    readonly capacity: number,
    readonly adapters?: LoraAdapters,
  ) {
    if (prompts.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'no prompts to decode');
    const unique = new Map<string, { start: number; length: number }>();
    let rows = 0;
    prompts.forEach((p, s) => {
      if (p.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `prompts[${s}] is empty`);
      const key = Array.prototype.join.call(p, ',');
      let range = unique.get(key);
      if (!range) {
        range = { start: rows, length: p.length };
        unique.set(key, range);
        rows += p.length;
      }
      this.prompt.push(range);
    });
    this.promptRows = rows;
    prompts.forEach((_, s) => {
      this.region.push(rows + s * capacity);
      this.used.push(0);
    });
    this.cache = model.createKvCache(rows + prompts.length * capacity);
  }

  /** Prefills every distinct prompt; returns the logits after each sequence's prompt. */
  async start(): Promise<Float32Array[]> {
    const info = new Uint32Array(this.promptRows * ROW_FIELDS);
    const done = new Set<number>();
    const lastRows: number[] = [];
    this.prompts.forEach((p, s) => {
      const { start, length } = this.prompt[s]!;
      if (done.has(start)) return;
      done.add(start);
      for (let k = 0; k < length; k++) packRow(info, start + k, { token: p[k]!, position: k, kvSlot: start + k, selfStart: start });
      lastRows.push(start + length - 1);
    });
    const { logits } = await this.model.forwardRows(info, this.cache, { logitsRows: lastRows, adapters: this.adapters });
    const V = this.model.config.vocabSize;
    const byRow = new Map(lastRows.map((row, i) => [row, logits.subarray(i * V, (i + 1) * V)]));
    return this.prompts.map((_, s) => byRow.get(this.prompt[s]!.start + this.prompt[s]!.length - 1)!);
  }

  /** Appends `tokens[i]` to sequence `sequences[i]`; returns the logits after each. */
  async append(sequences: readonly number[], tokens: readonly ArrayLike<number>[]): Promise<Float32Array[]> {
    const total = tokens.reduce((n, t) => n + t.length, 0);
    const info = new Uint32Array(total * ROW_FIELDS);
    const lastRows: number[] = [];
    let row = 0;
    sequences.forEach((s, i) => {
      const add = tokens[i]!;
      if (add.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `append: no tokens for sequence ${s}`);
      if (this.used[s]! + add.length > this.capacity) {
        throw new IgSearchError('LIMIT_EXCEEDED', `sequence ${s}: ${this.used[s]! + add.length} appended tokens exceed the session's capacity ${this.capacity}`);
      }
      const { start, length } = this.prompt[s]!;
      for (let k = 0; k < add.length; k++) {
        const at = this.used[s]! + k;
        packRow(info, row, { token: add[k]!, position: length + at, kvSlot: this.region[s]! + at, context: [start, length], selfStart: this.region[s]! });
        row++;
      }
      this.used[s]! += add.length;
      lastRows.push(row - 1);
    });
    const { logits } = await this.model.forwardRows(info, this.cache, { logitsRows: lastRows, adapters: this.adapters });
    const V = this.model.config.vocabSize;
    return lastRows.map((_, i) => logits.subarray(i * V, (i + 1) * V));
  }

  /**
   * Hands the KV cache over with its layout (the session no longer frees it): what IG scoring
   * reads instead of recomputing the trajectories.
   */
  detach(): RolloutCache {
    this.detached = true;
    return { cache: this.cache, prompts: this.prompt.map((p) => ({ ...p })), regions: [...this.region], fed: [...this.used], adapters: this.adapters };
  }

  free(): void {
    if (!this.detached) this.cache.free();
  }
}

/**
 * A finished rollout's KV cache: sequence s's prompt sits at slots [prompts[s].start, + length)
 * (shared by identical prompts), its trajectory token j at slot regions[s] + j for j < fed[s]
 * (every token but a final sampled one). Free `cache` when done.
 */
export interface RolloutCache {
  cache: KvCache;
  prompts: { start: number; length: number }[];
  regions: number[];
  fed: number[];
  /** The adapters the cache was computed with: what scoring on top of it must use too. */
  adapters?: LoraAdapters;
}

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens generated per sequence (default 64). */
  maxNewTokens?: number;
  /** Seed of the sampler; sequence s draws from its own stream (seed, s), so a batch reruns identically. */
  seed?: number;
  /** Token ids that end a sequence (e.g. `<|im_end|>`, `<|endoftext|>`); the id is kept. */
  stopTokens?: readonly number[];
  /** Strings that end a sequence once the generated text contains them (needs `tokenizer`). */
  stop?: readonly string[];
  tokenizer?: Tokenizer;
  /** LoRA adapters to decode with (none: the base model). */
  adapters?: LoraAdapters;
}

export interface Generation {
  tokens: Uint32Array;
  /** Log-prob of each sampled token under the (temperature-scaled) policy at sampling time. */
  logprobs: Float32Array;
  finish: 'stop' | 'length';
}

export async function generate(model: CausalLM, prompts: readonly ArrayLike<number>[], options: GenerateOptions = {}): Promise<Generation[]> {
  const maxNew = options.maxNewTokens ?? 64;
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new IgSearchError('INVALID_ARGUMENT', `maxNewTokens must be a positive integer, got ${maxNew}`);
  if (options.stop?.length && !options.tokenizer) throw new IgSearchError('INVALID_ARGUMENT', 'stop strings need a tokenizer to decode with');
  prompts.forEach((p, s) => {
    if (p.length + maxNew > model.config.maxPositions) {
      throw new IgSearchError('OUT_OF_RANGE', `prompts[${s}]: ${p.length} + ${maxNew} new tokens exceed max_position_embeddings ${model.config.maxPositions}`);
    }
  });
  const session = new DecodeSession(model, prompts, maxNew, options.adapters);
  try {
    const seed = options.seed ?? 0;
    const random = prompts.map((_, s) => seededRandom((seed * 0x9e3779b1 + s * 0x85ebca6b) >>> 0));
    const out = prompts.map(() => ({ tokens: [] as number[], logprobs: [] as number[], finish: 'length' as Generation['finish'] }));
    const stopTokens = new Set(options.stopTokens ?? []);
    let logits = await session.start();
    let active = prompts.map((_, s) => s);
    for (let step = 0; step < maxNew && active.length; step++) {
      const next: number[] = [];
      const fed: number[][] = [];
      active.forEach((s, i) => {
        const { token, logprob } = sampleToken(logits[i]!, options, random[s]!);
        const o = out[s]!;
        o.tokens.push(token);
        o.logprobs.push(logprob);
        const stopped = stopTokens.has(token) || (options.stop?.length ? hasStop(options.tokenizer!.decode(o.tokens), options.stop) : false);
        if (stopped) o.finish = 'stop';
        else if (step + 1 < maxNew) {
          next.push(s);
          fed.push([token]);
        }
      });
      active = next;
      if (active.length) logits = await session.append(active, fed);
    }
    return out.map((o) => ({ tokens: Uint32Array.from(o.tokens), logprobs: Float32Array.from(o.logprobs), finish: o.finish }));
  } finally {
    session.free();
  }
}

function hasStop(text: string, stops: readonly string[]): boolean {
  return stops.some((s) => text.includes(s));
}

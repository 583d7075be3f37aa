/**
 * The Search-R1 tool loop on the KV-cache decoder. The policy writes `<think>…</think>`, then
 * either `<search> query </search>` — the sequence pauses, the retriever's top documents are
 * appended as `<information>Doc 1(Title: …) …</information>`, and decoding resumes — or
 * `<answer> … </answer>`, which ends it. Every sequence of the batch decodes in one packed forward
 * per step; a sequence waiting for a (slow, HTTP) retriever simply sits out steps while the
 * others continue. Trajectories carry what training needs: a mask of policy vs appended tokens,
 * rollout-time log-probs, and the token span of every query (the IG-Search advantage targets).
 */
import { IgSearchError } from '../errors.js';
import type { CausalLM } from '../model/causal_lm.js';
import type { LoraAdapters } from '../model/lora.js';
import { formatInformation, type RetrievedDocument, type Retriever } from '../retrieval/retriever.js';
import { SAMPLING_DEFAULTS } from '../defaults.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { DecodeSession, type RolloutCache } from './generate.js';
import { promptText } from './template.js';
import { lastAnswer, parseTurn } from './turn.js';
import { sampleToken, seededRandom, type SamplingOptions } from './sample.js';

/** The instruction ig-search prompts with (our wording of the Search-R1 protocol). */
export function searchR1Prompt(question: string): string {
  return (
    'Answer the question below. Think inside <think> and </think> whenever you receive new information. ' +
    'If you need knowledge you do not have, search for it by writing <search> your query </search>; ' +
    'the top results will come back between <information> and </information>. Search as often as you need. ' +
    'When you know the answer, give it inside <answer> and </answer> with no explanation, ' +
    `for example <answer> Paris </answer>.\nQuestion: ${question.trim()}\n`
  );
}

/** The token ids a rollout starts from: the Search-R1 prompt for `question`, as a user turn for chat models. */
export function searchR1PromptTokens(tokenizer: Tokenizer, question: string): Uint32Array {
  return tokenizer.encode(promptText(tokenizer, searchR1Prompt(question)), { addSpecialTokens: false });
}

/** Appended (not generated) after a `</search>` with nothing between the tags. */
export const INVALID_SEARCH_NOTE = '\nMy search was empty. To search, I put a query between <search> and </search>; to answer, I use <answer> and </answer>.\n';

export interface SearchAgentOptions extends SamplingOptions {
  tokenizer: Tokenizer;
  retriever: Retriever;
  /** Documents per search (default SAMPLING_DEFAULTS.docsPerSearch). */
  docsPerSearch?: number;
  /** Searches allowed per trajectory; one more `</search>` ends it with `max_turns` (default SAMPLING_DEFAULTS). */
  maxTurns?: number;
  /** Tokens after the prompt, policy and appended together (default SAMPLING_DEFAULTS.maxTokens). */
  maxTokens?: number;
  seed?: number;
  /** Token ids that end a trajectory (end-of-turn / end-of-text). */
  stopTokens?: readonly number[];
  /**
   * Emit this token instead of sampling (scripted or teacher-forced rollouts: tests, warm-start
   * data); return undefined to sample. `turn` counts the blocks appended so far, `position` the
   * tokens generated since the last one. Log-probs are still the model's.
   */
  script?: (sequence: number, turn: number, position: number) => number | undefined;
  /** LoRA adapters to decode with (none: the base model). */
  adapters?: LoraAdapters;
  /** Each token as it joins a trajectory: sampled by the policy, or appended (documents, notes). For streaming. */
  onTokens?: (sequence: number, tokens: readonly number[], appended: boolean) => void;
}

export interface SearchStep {
  query: string;
  /** [start, end) token indices (into `tokens`) of the query between `<search>` and `</search>`. */
  span: [number, number];
  /** [start, end) of the appended `<information>` block (IG scoring's h_ik ends at `start`). */
  information: [number, number];
  documents: RetrievedDocument[];
}

export type SearchFinish = 'answer' | 'stop_token' | 'length' | 'max_turns' | 'retrieval_failed';

export interface SearchTrajectory {
  /** Everything after the prompt: policy tokens and appended information. */
  tokens: Uint32Array;
  /** 1 where the policy generated the token (it gets loss), 0 where it was appended. */
  policyMask: Uint8Array;
  /** Rollout-time log-prob of each policy token (0 where appended). */
  logprobs: Float32Array;
  searches: SearchStep[];
  /** The text of the last `<answer>…</answer>`, trimmed; undefined if none. */
  answer: string | undefined;
  finish: SearchFinish;
  error?: string;
  text: string;
}

interface State {
  tokens: number[];
  mask: number[];
  logprobs: number[];
  searches: SearchStep[];
  turnStart: number;
  turn: number;
  finish?: SearchFinish;
  error?: string;
  logits?: Float32Array;
  /** A retrieval in flight: resolved documents or an error, once settled. */
  pending?: { query: string; span: [number, number]; last: number; done?: RetrievedDocument[]; failed?: string };
}

export async function rolloutSearchAgent(model: CausalLM, prompts: readonly ArrayLike<number>[], options: SearchAgentOptions): Promise<SearchTrajectory[]> {
  return (await rolloutKeepingCache(model, prompts, options, false)).trajectories;
}

/**
 * The same rollout, also handing over its KV cache (see RolloutCache): IG scoring continues from
 * the keys and values the rollout computed instead of recomputing them. The caller frees it.
 */
export async function rolloutSearchAgentWithCache(model: CausalLM, prompts: readonly ArrayLike<number>[], options: SearchAgentOptions): Promise<{ trajectories: SearchTrajectory[]; cache: RolloutCache }> {
  const { trajectories, cache } = await rolloutKeepingCache(model, prompts, options, true);
  return { trajectories, cache: cache! };
}

async function rolloutKeepingCache(model: CausalLM, prompts: readonly ArrayLike<number>[], options: SearchAgentOptions, keep: boolean): Promise<{ trajectories: SearchTrajectory[]; cache?: RolloutCache }> {
  const { tokenizer, retriever } = options;
  const k = options.docsPerSearch ?? SAMPLING_DEFAULTS.docsPerSearch;
  const maxTurns = options.maxTurns ?? SAMPLING_DEFAULTS.maxTurns;
  const maxTokens = options.maxTokens ?? SAMPLING_DEFAULTS.maxTokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 2) throw new IgSearchError('INVALID_ARGUMENT', `maxTokens must be an integer ≥ 2, got ${maxTokens}`);
  prompts.forEach((p, s) => {
    if (p.length + maxTokens > model.config.maxPositions) {
      throw new IgSearchError('OUT_OF_RANGE', `prompts[${s}]: ${p.length} + maxTokens ${maxTokens} exceed max_position_embeddings ${model.config.maxPositions}`);
    }
  });
  const stopTokens = new Set(options.stopTokens ?? []);
  const seed = options.seed ?? 0;
  const random = prompts.map((_, s) => seededRandom((seed * 0x9e3779b1 + s * 0x85ebca6b) >>> 0));
  const states: State[] = prompts.map(() => ({ tokens: [], mask: [], logprobs: [], searches: [], turnStart: 0, turn: 0 }));
  const session = new DecodeSession(model, prompts, maxTokens, options.adapters);
  let kept: RolloutCache | undefined;
  const inFlight = new Set<Promise<void>>();
  // Every token but the newest has been fed to the cache; appending `extra` must stay within it.
  const fits = (st: State, extra: number) => st.tokens.length + extra <= maxTokens;
  try {
    (await session.start()).forEach((logits, s) => (states[s]!.logits = logits));
    for (;;) {
      const feed: { s: number; tokens: number[] }[] = [];
      const searching: { s: number; query: string; span: [number, number]; last: number }[] = [];
      states.forEach((st, s) => {
        if (st.finish || st.pending || !st.logits) return;
        const forced = options.script?.(s, st.turn, st.tokens.length - st.turnStart);
        const sampled = forced === undefined ? sampleToken(st.logits, { vocabLimit: tokenizer.vocabSize, ...options }, random[s]!) : { token: forced, logprob: logprobOf(st.logits, forced, options.temperature ?? 1) };
        st.logits = undefined;
        st.tokens.push(sampled.token);
        st.mask.push(1);
        st.logprobs.push(sampled.logprob);
        options.onTokens?.(s, [sampled.token], false);
        if (stopTokens.has(sampled.token)) return void (st.finish = 'stop_token');
        const action = parseTurn(tokenizer.decode(st.tokens.slice(st.turnStart)));
        if (action.kind === 'answer') return void (st.finish = 'answer');
        if (action.kind === 'search') {
          const { query } = action;
          if (st.searches.length >= maxTurns) return void (st.finish = 'max_turns');
          if (query === '') {
            const note = Array.from(tokenizer.encode(INVALID_SEARCH_NOTE, { addSpecialTokens: false }));
            if (!fits(st, note.length)) return void (st.finish = 'length');
            feed.push({ s, tokens: [sampled.token, ...note] });
            append(st, note);
            options.onTokens?.(s, note, true);
            return;
          }
          searching.push({ s, query, span: querySpan(tokenizer, st, action.from, action.to), last: sampled.token });
          return;
        }
        if (st.tokens.length >= maxTokens) return void (st.finish = 'length');
        feed.push({ s, tokens: [sampled.token] });
      });
      // One retriever call for every query raised in this step; decoding goes on meanwhile.
      if (searching.length) {
        for (const q of searching) states[q.s]!.pending = { query: q.query, span: q.span, last: q.last };
        const call = retriever.search(searching.map((q) => q.query), k).then(
          (docs) => searching.forEach((q, i) => (states[q.s]!.pending!.done = docs[i] ?? [])),
          (e: unknown) => searching.forEach((q) => (states[q.s]!.pending!.failed = (e as Error).message)),
        );
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
      }
      // Settled retrievals: append their information block (or end the trajectory).
      states.forEach((st, s) => {
        const p = st.pending;
        if (!p || (p.done === undefined && p.failed === undefined)) return;
        st.pending = undefined;
        if (p.failed !== undefined) {
          st.finish = 'retrieval_failed';
          st.error = p.failed;
          return;
        }
        const info = Array.from(tokenizer.encode(formatInformation(p.done!), { addSpecialTokens: false }));
        if (!fits(st, info.length)) return void (st.finish = 'length');
        st.searches.push({ query: p.query, span: p.span, information: [st.tokens.length, st.tokens.length + info.length], documents: p.done! });
        feed.push({ s, tokens: [p.last, ...info] });
        append(st, info);
        options.onTokens?.(s, info, true);
      });
      if (feed.length) {
        feed.sort((a, b) => a.s - b.s);
        const logits = await session.append(
          feed.map((f) => f.s),
          feed.map((f) => f.tokens),
        );
        feed.forEach((f, i) => (states[f.s]!.logits = logits[i]));
        continue;
      }
      if (inFlight.size) {
        await Promise.race(inFlight);
        continue;
      }
      if (states.every((st) => st.finish)) break;
      if (!states.some((st) => st.pending)) break;
    }
    if (keep) kept = session.detach();
  } finally {
    session.free();
  }
  const trajectories = states.map((st) => {
    const text = tokenizer.decode(st.tokens);
    return {
      tokens: Uint32Array.from(st.tokens),
      policyMask: Uint8Array.from(st.mask),
      logprobs: Float32Array.from(st.logprobs),
      searches: st.searches,
      answer: lastAnswer(text),
      finish: st.finish ?? 'length',
      ...(st.error ? { error: st.error } : {}),
      text,
    };
  });
  return { trajectories, cache: kept };
}

function append(st: State, tokens: number[]): void {
  for (const t of tokens) {
    st.tokens.push(t);
    st.mask.push(0);
    st.logprobs.push(0);
  }
  st.turnStart = st.tokens.length;
  st.turn++;
}

/** Tokens of the current turn whose text overlaps [from, to) of the turn's decoded text. */
function querySpan(tokenizer: Tokenizer, st: State, from: number, to: number): [number, number] {
  let start = -1;
  let end = -1;
  let previous = 0;
  for (let m = st.turnStart; m < st.tokens.length; m++) {
    const length = tokenizer.decode(st.tokens.slice(st.turnStart, m + 1)).length;
    if (length > from && previous < to) {
      if (start < 0) start = m;
      end = m + 1;
    }
    previous = length;
  }
  return start < 0 ? [st.tokens.length, st.tokens.length] : [start, end];
}

function logprobOf(logits: Float32Array, token: number, temperature: number): number {
  const scale = temperature > 0 ? 1 / temperature : 1;
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v * scale);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v * scale - max);
  return logits[token]! * scale - max - Math.log(sum);
}

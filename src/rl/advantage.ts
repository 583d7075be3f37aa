/**
 * Rewards → per-token advantages, in the Rust core (zero-copy typed arrays in and out).
 *
 *   grpoAdvantages          Â_i per rollout, verl's GRPO (or Dr. GRPO with norm: 'none')
 *   informationGain         IG per search step = real − counterfactual score, then shaping
 *   modulateQueryAdvantages per-token advantages + loss mask: query tokens get Â_i + λ·IG̃_ik
 *   gigpoAdvantages, igpoAdvantages, mrSearchAdvantages
 *                           one value per turn for the step-level baselines (broadcast to the
 *                           turn's tokens by modulateQueryAdvantages)
 */
import { IgSearchError } from '../errors.js';
import { checkFiniteOption, checkLengths, checkU32 } from '../wasm/args.js';
import { DISCOUNTED_RETURNS_HEADER, GIGPO_HEADER, IGPO_HEADER, INFORMATION_GAIN_HEADER, MODULATION_HEADER, MR_SEARCH_HEADER } from '../wasm/headers.js';
import type { WasmCore } from '../wasm/core.js';

type Numbers = ArrayLike<number>;

export interface GrpoOptions {
  /** 'std' (GRPO, default): (R − mean)/(std + ε); 'none' (Dr. GRPO): R − mean. */
  norm?: 'std' | 'none';
  /** ε (default 1e-6). */
  epsilon?: number;
}

/**
 * GRPO advantages for rewards laid out group after group; `groupSizes[g]` rollouts in group g.
 * As verl: unbiased std, a group of one has mean 0 and std 1.
 */
export function grpoAdvantages(core: WasmCore, rewards: Numbers, groupSizes: Numbers, options: GrpoOptions = {}): Float64Array {
  checkU32(groupSizes, 'groupSizes');
  const norm = options.norm ?? 'std';
  if (norm !== 'std' && norm !== 'none') throw new IgSearchError('INVALID_ARGUMENT', `norm must be "std" or "none", got ${String(norm)}`);
  const epsilon = checkFiniteOption(options.epsilon ?? 1e-6, 'epsilon', { min: 0 });
  return core.scoped((s) => {
    const r = s.f64(rewards);
    const g = s.u32(groupSizes);
    const out = s.alloc(rewards.length * 8);
    core.call('ig_grpo_advantages', (x) => x.ig_grpo_advantages(r, rewards.length, g, groupSizes.length, norm === 'std' ? 0 : 1, epsilon, out));
    return s.readF64(out, rewards.length);
  });
}

export interface IgShapingOptions {
  /** τ: |IG| below this becomes 0 (default 0.05 nats/token). */
  deadZone?: number;
  /** β: negative IG is multiplied by this (default 0.5). */
  negativeScale?: number;
  /** c: clip to [−c, c] (default 2). */
  clip?: number;
  /** 'group-z' standardises over all steps of a group before shaping (default 'none'). */
  normalize?: 'none' | 'group-z';
  epsilon?: number;
}

export const DEFAULT_IG_SHAPING = { deadZone: 0.05, negativeScale: 0.5, clip: 2, normalize: 'none', epsilon: 1e-6 } as const;

/**
 * IG for search steps laid out group after group (`stepsPerGroup[g]` steps in group g, all
 * rollouts of one question). `real[i]` / `counterfactual[i]`: mean log-prob of the gold answer
 * after the retrieved / the random documents. Returns the raw IG and the shaped IG̃.
 */
export function informationGain(
  core: WasmCore,
  real: Numbers,
  counterfactual: Numbers,
  stepsPerGroup: Numbers,
  options: IgShapingOptions = {},
): { raw: Float64Array; shaped: Float64Array } {
  checkLengths(real.length, 'one counterfactual score per real score', { counterfactual });
  checkU32(stepsPerGroup, 'stepsPerGroup');
  const o = { ...DEFAULT_IG_SHAPING, ...options };
  if (o.normalize !== 'none' && o.normalize !== 'group-z') {
    throw new IgSearchError('INVALID_ARGUMENT', `normalize must be "none" or "group-z", got ${String(o.normalize)}`);
  }
  const n = real.length;
  return core.scoped((s) => {
    const r = s.f64(real);
    const c = s.f64(counterfactual);
    const g = s.u32(stepsPerGroup);
    const raw = s.alloc(n * 8);
    const shaped = s.alloc(n * 8);
    const header = s.header(INFORMATION_GAIN_HEADER, {
      deadZone: o.deadZone, negativeScale: o.negativeScale, clip: o.clip, epsilon: o.epsilon,
      real: r, counterfactual: c, steps: n, groupSizes: g, groups: stepsPerGroup.length,
      groupZ: o.normalize === 'group-z' ? 1 : 0, raw, shaped,
    });
    core.call('ig_information_gain', (x) => x.ig_information_gain(header));
    return { raw: s.readF64(raw, n), shaped: s.readF64(shaped, n) };
  });
}

/** Token spans `[start, end)` relative to their rollout's first token, as parallel arrays (the packed batch holds them as `number[]`). */
export interface SpanArrays<N extends Numbers = Numbers> {
  rollout: N;
  start: N;
  end: N;
}

export interface ModulationInput {
  /** Tokens per rollout; rollouts are laid out one after another in the outputs. */
  tokenCounts: Numbers;
  /** Â_i per rollout (from `grpoAdvantages`). */
  rolloutAdvantages: Numbers;
  /** The search query of every step, with its shaped IG̃ (from `informationGain`). */
  queries: SpanArrays & { ig: Numbers };
  /** Retrieved-document tokens (`<information>…</information>`): advantage 0, loss mask 0. */
  retrieved: SpanArrays;
  /** λ (default 1). */
  lambda?: number;
  /** 'additive' (default): Â + λ·IG̃; 'multiplicative': Â·(1 + λ·IG̃). */
  mode?: 'additive' | 'multiplicative';
}

/** Per-token advantages and loss mask (1 = policy token, 0 = retrieved) for a batch of rollouts. */
export function modulateQueryAdvantages(core: WasmCore, input: ModulationInput): { advantages: Float32Array; lossMask: Float32Array } {
  const { tokenCounts, rolloutAdvantages, queries, retrieved } = input;
  checkU32(tokenCounts, 'tokenCounts');
  checkLengths(tokenCounts.length, 'one advantage per rollout', { rolloutAdvantages });
  checkLengths(queries.rollout.length, 'one entry per query span', { 'queries.start': queries.start, 'queries.end': queries.end, 'queries.ig': queries.ig });
  checkLengths(retrieved.rollout.length, 'one entry per retrieved span', { 'retrieved.start': retrieved.start, 'retrieved.end': retrieved.end });
  for (const [field, values] of Object.entries({ 'queries.rollout': queries.rollout, 'queries.start': queries.start, 'queries.end': queries.end, 'retrieved.rollout': retrieved.rollout, 'retrieved.start': retrieved.start, 'retrieved.end': retrieved.end })) {
    checkU32(values, field);
  }
  const mode = input.mode ?? 'additive';
  if (mode !== 'additive' && mode !== 'multiplicative') throw new IgSearchError('INVALID_ARGUMENT', `mode must be "additive" or "multiplicative", got ${String(mode)}`);
  let total = 0;
  for (let i = 0; i < tokenCounts.length; i++) total += tokenCounts[i]!;
  const q = queries.rollout.length;
  const m = retrieved.rollout.length;
  return core.scoped((s) => {
    const counts = s.u32(tokenCounts);
    const adv = s.f64(rolloutAdvantages);
    const qr = s.u32(queries.rollout);
    const qs = s.u32(queries.start);
    const qe = s.u32(queries.end);
    const qi = s.f64(queries.ig);
    const rr = s.u32(retrieved.rollout);
    const rs = s.u32(retrieved.start);
    const re = s.u32(retrieved.end);
    const outAdv = s.alloc(total * 4);
    const outMask = s.alloc(total * 4);
    const header = s.header(MODULATION_HEADER, {
      lambda: input.lambda ?? 1, tokenCounts: counts, rolloutAdvantages: adv, rollouts: tokenCounts.length,
      queryRollout: qr, queryStart: qs, queryEnd: qe, queryIg: qi, queries: q,
      retrievedRollout: rr, retrievedStart: rs, retrievedEnd: re, retrieved: m,
      mode: mode === 'additive' ? 0 : 1, outLen: total, advantages: outAdv, mask: outMask,
    });
    core.call('ig_modulate_advantages', (x) => x.ig_modulate_advantages(header));
    return { advantages: s.readF32(outAdv, total), lossMask: s.readF32(outMask, total) };
  });
}

export interface SpanAdvantageInput {
  /** Tokens per rollout; rollouts are laid out one after another in the outputs. */
  tokenCounts: Numbers;
  /** Spans of policy tokens, each with the advantage its tokens get (turn-level credit: the turn's value). */
  spans: SpanArrays & { value: Numbers };
  /** Appended tokens (retrieved documents, notes): advantage 0, loss mask 0. */
  masked: SpanArrays;
}

/**
 * Per-token advantages and loss mask for credit given per span (GiGPO, IGPO, MR-Search, StepSearch
 * turns): a span's tokens get its value, other policy tokens 0, masked tokens leave the loss. The
 * same Wasm pass as `modulateQueryAdvantages`, with Â = 0 and the additive λ = 1 (so Â + λ·v = v).
 */
export function spanAdvantages(core: WasmCore, input: SpanAdvantageInput): { advantages: Float32Array; lossMask: Float32Array } {
  const { tokenCounts, spans, masked } = input;
  checkLengths(spans.rollout.length, 'one entry per span', { 'spans.value': spans.value });
  try {
    return modulateQueryAdvantages(core, {
      tokenCounts,
      rolloutAdvantages: new Float64Array(tokenCounts.length),
      queries: { rollout: spans.rollout, start: spans.start, end: spans.end, ig: spans.value },
      retrieved: masked,
      lambda: 1,
      mode: 'additive',
    });
  } catch (e) {
    // The shared pass names its inputs as modulation's; name them as this caller passed them.
    if (!(e instanceof IgSearchError)) throw e;
    throw new IgSearchError(e.code, spanAdvantageNames(e.message.split('\n  hint: ')[0]!), { hint: e.hint, cause: e });
  }
}

/** Modulation's input names (TS and Rust spellings) → `spanAdvantages`' own. */
function spanAdvantageNames(message: string): string {
  return message
    .replace(/\bquerySpans\b|\bqueries\.(?=rollout|start|end)/g, (m) => (m.endsWith('.') ? 'spans.' : 'spans'))
    .replace(/\bqueryIg\b|\bqueries\.ig\b/g, 'spans.value')
    .replace(/\bretrievedSpans\b/g, 'masked')
    .replace(/\bretrieved\.(?=rollout|start|end)/g, 'masked.')
    .replace(/one entry per query span/g, 'one entry per span')
    .replace(/one entry per retrieved span/g, 'one entry per masked span');
}

/**
 * Turns of a batch: rollouts group after group (`groupSizes`, rollouts per group) and
 * `turns[i]` turns per rollout, turn values laid out rollout after rollout.
 */
export interface TurnLayout {
  groupSizes: Numbers;
  turns: Numbers;
}

function checkLayout(layout: TurnLayout, rollouts: number, turnValues: number): void {
  checkU32(layout.groupSizes, 'groupSizes');
  checkU32(layout.turns, 'turns');
  let groups = 0;
  for (let g = 0; g < layout.groupSizes.length; g++) groups += layout.groupSizes[g]!;
  let turns = 0;
  for (let i = 0; i < layout.turns.length; i++) turns += layout.turns[i]!;
  if (groups !== rollouts || layout.turns.length !== rollouts) {
    throw new IgSearchError('INVALID_ARGUMENT', `turn layout: groupSizes sum to ${groups} and turns has ${layout.turns.length} entries, for ${rollouts} rollouts`);
  }
  if (turns !== turnValues) throw new IgSearchError('INVALID_ARGUMENT', `turn layout: turns sum to ${turns} but ${turnValues} turn values were given`);
}

export const GIGPO_DEFAULTS = { gamma: 0.95, omega: 1, epsilon: 1e-6 } as const;

/**
 * GiGPO per-turn advantages A_episode(i) + ω·A_step (see docs/method.md). `outcome[i]` is rollout
 * i's reward; `anchors[t]` names turn t's anchor state (equal ids within a group = the same tokens
 * before the turn).
 */
export function gigpoAdvantages(core: WasmCore, outcome: Numbers, layout: TurnLayout, anchors: Numbers, options: { gamma?: number; omega?: number; epsilon?: number } = {}): Float64Array {
  const o = { ...GIGPO_DEFAULTS, ...options };
  checkLayout(layout, outcome.length, anchors.length);
  checkU32(anchors, 'anchors');
  const n = anchors.length;
  return core.scoped((s) => {
    const out = s.alloc(n * 8);
    const header = s.header(GIGPO_HEADER, {
      gamma: o.gamma, omega: o.omega, epsilon: o.epsilon, outcome: s.f64(outcome), n: outcome.length,
      groupSizes: s.u32(layout.groupSizes), nGroups: layout.groupSizes.length, turns: s.u32(layout.turns), anchors: s.u32(anchors), nTurns: n, out,
    });
    core.call('ig_gigpo_advantages', (x) => x.ig_gigpo_advantages(header));
    return s.readF64(out, n);
  });
}

export const IGPO_DEFAULTS = { gamma: 1, epsilon: 1e-6 } as const;

/**
 * IGPO per-turn advantages. `promptScores[i]`: mean log-prob of the gold answer after rollout i's
 * prompt alone; `turnScores[t]`: the same after turn t (read for every turn but a rollout's last,
 * which earns `outcome[i]`).
 */
export function igpoAdvantages(core: WasmCore, outcome: Numbers, promptScores: Numbers, turnScores: Numbers, layout: TurnLayout, options: { gamma?: number; epsilon?: number } = {}): Float64Array {
  const o = { ...IGPO_DEFAULTS, ...options };
  checkLengths(outcome.length, 'one prompt score per rollout', { promptScores });
  checkLayout(layout, outcome.length, turnScores.length);
  const n = turnScores.length;
  return core.scoped((s) => {
    const out = s.alloc(n * 8);
    const header = s.header(IGPO_HEADER, {
      gamma: o.gamma, epsilon: o.epsilon, outcome: s.f64(outcome), promptScores: s.f64(promptScores), n: outcome.length,
      groupSizes: s.u32(layout.groupSizes), nGroups: layout.groupSizes.length, turns: s.u32(layout.turns), turnScores: s.f64(turnScores), nTurns: n, out,
    });
    core.call('ig_igpo_advantages', (x) => x.ig_igpo_advantages(header));
    return s.readF64(out, n);
  });
}

export const MR_SEARCH_DEFAULTS = { gamma: 1, alpha: 1 } as const;

/**
 * MR-Search's turn-level advantages (without the α·Â_i outcome term): `stepRewards[t]` where
 * `rewarded[t]` is 1 (search turns), centred leave-one-out within (group, turn index), then
 * accumulated backwards with γ.
 */
export function mrSearchAdvantages(core: WasmCore, stepRewards: Numbers, rewarded: ArrayLike<number>, layout: TurnLayout, options: { gamma?: number } = {}): Float64Array {
  const gamma = options.gamma ?? MR_SEARCH_DEFAULTS.gamma;
  checkLengths(stepRewards.length, 'one rewarded flag per turn', { rewarded });
  checkLayout(layout, layout.turns.length, stepRewards.length);
  const n = stepRewards.length;
  return core.scoped((s) => {
    const out = s.alloc(n * 8);
    const header = s.header(MR_SEARCH_HEADER, {
      gamma, stepRewards: s.f64(stepRewards), rewarded: s.u8(Array.from(rewarded, (v) => (v ? 1 : 0))), nTurns: n,
      groupSizes: s.u32(layout.groupSizes), nGroups: layout.groupSizes.length, turns: s.u32(layout.turns), n: layout.turns.length, out,
    });
    core.call('ig_mr_search_advantages', (x) => x.ig_mr_search_advantages(header));
    return s.readF64(out, n);
  });
}

/**
 * Discounted returns within each rollout, v_t + γ·v_{t+1} + γ²·v_{t+2} + …, over values laid out
 * as `layout.turns` says (one per search for IG-Search-γ's forward credit).
 */
export function discountedReturns(core: WasmCore, values: Numbers, layout: TurnLayout, gamma: number): Float64Array {
  checkLayout(layout, layout.turns.length, values.length);
  const n = values.length;
  return core.scoped((s) => {
    const out = s.alloc(n * 8);
    const header = s.header(DISCOUNTED_RETURNS_HEADER, {
      gamma, values: s.f64(values), nValues: n, groupSizes: s.u32(layout.groupSizes), nGroups: layout.groupSizes.length, turns: s.u32(layout.turns), n: layout.turns.length, out,
    });
    core.call('ig_discounted_returns', (x) => x.ig_discounted_returns(header));
    return s.readF64(out, n);
  });
}

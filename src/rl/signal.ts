/**
 * Does a step signal rank search queries by quality? IG-Search's claim rests on information gain
 * separating precise queries from vague or redundant ones; this measures it directly, from the
 * ground truth a question carries (`supporting`: the passage id of each hop, first hop first).
 *
 * Each search of a trajectory is labelled, in order, against the passages retrieved before it:
 *   precise    its top-k holds the supporting passage of a hop not yet retrieved;
 *   redundant  its top-k brings only passages already retrieved earlier in the same trajectory;
 *   vague      neither (including a search that retrieved nothing).
 * A signal's separation of two classes is the AUC (Mann–Whitney: the chance that a random query of
 * the first class scores above one of the second, ties counting half); 0.5 is chance. An AUC over
 * fewer than MIN_CLASS queries of either class is reported as not measured (null).
 */
import { IgSearchError } from '../errors.js';

export type QueryClass = 'precise' | 'redundant' | 'vague';

/** Fewest queries of a class for its AUC to be reported. */
export const MIN_CLASS = 30;

export interface SearchLabel {
  cls: QueryClass;
  /** For a precise query: the first hop (1-based) whose passage it brought. */
  hop?: number;
}

/**
 * Labels the searches of one trajectory, in order. `searches[j]` lists the ids its top-k returned;
 * `supporting` the question's passage ids by hop.
 */
export function labelSearches(searches: readonly (readonly string[])[], supporting: readonly string[]): SearchLabel[] {
  const seen = new Set<string>();
  return searches.map((ids) => {
    const hop = supporting.findIndex((id) => ids.includes(id) && !seen.has(id));
    const label: SearchLabel = hop >= 0 ? { cls: 'precise', hop: hop + 1 } : ids.length > 0 && ids.every((id) => seen.has(id)) ? { cls: 'redundant' } : { cls: 'vague' };
    for (const id of ids) seen.add(id);
    return label;
  });
}

/** The labels of every rollout's searches; rollout i answers `questions[⌊i / groupSize⌋]`, whose `supporting` ids label it. */
export function labelRollouts(trajectories: readonly { searches: readonly { documents: readonly { id: string }[] }[] }[], questions: readonly { supporting?: readonly string[] }[], groupSize: number): SearchLabel[][] {
  return trajectories.map((t, i) => labelSearches(t.searches.map((s) => s.documents.map((d) => d.id)), questions[Math.floor(i / groupSize)]!.supporting!));
}

/**
 * P(a random `positive` score > a random `negative` one) + ½·P(equal), by midranks in O(n log n);
 * undefined when either side is empty. Non-finite scores are refused by the caller.
 */
export function auc(positive: readonly number[], negative: readonly number[]): number | undefined {
  const n1 = positive.length;
  const n0 = negative.length;
  if (n1 === 0 || n0 === 0) return undefined;
  const all = [...positive.map((v) => [v, 1] as const), ...negative.map((v) => [v, 0] as const)].sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]![0] === all[i]![0]) j++;
    const midrank = (i + 1 + j) / 2; // ranks i+1 … j share their mean
    for (let k = i; k < j; k++) if (all[k]![1] === 1) rankSum += midrank;
    i = j;
  }
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

/** One scored search: its label, where it sits, and the value each signal gave it (absent where a signal gives none). */
export interface SignalRecord {
  cls: QueryClass;
  hop?: number;
  /** The question's hop count. */
  hops: number;
  /** 1-based position of the search in its trajectory. */
  search: number;
  values: Record<string, number | undefined>;
}

export interface ClassStats {
  n: Record<QueryClass, number>;
  mean: Record<QueryClass, number | null>;
  /** null: fewer than MIN_CLASS queries of a class. */
  preciseVsVague: number | null;
  preciseVsRedundant: number | null;
}

export interface SignalSummary extends ClassStats {
  signal: string;
  /** By the question's hop count ("1", "2", "3"). */
  byHops: Record<string, ClassStats>;
  /** By the search's position in its trajectory ("1", "2", "3+"), over multi-hop questions. */
  bySearch: Record<string, ClassStats>;
}

const CLASSES: readonly QueryClass[] = ['precise', 'redundant', 'vague'];

function stats(records: readonly SignalRecord[], signal: string, minClass: number): ClassStats {
  const by = Object.fromEntries(CLASSES.map((c) => [c, [] as number[]])) as Record<QueryClass, number[]>;
  for (const r of records) {
    const v = r.values[signal];
    if (v !== undefined) by[r.cls].push(v);
  }
  const measured = (a: number[], b: number[]) => (a.length >= minClass && b.length >= minClass ? auc(a, b)! : null);
  return {
    n: { precise: by.precise.length, redundant: by.redundant.length, vague: by.vague.length },
    mean: Object.fromEntries(CLASSES.map((c) => [c, by[c].length ? by[c].reduce((s, v) => s + v, 0) / by[c].length : null])) as Record<QueryClass, number | null>,
    preciseVsVague: measured(by.precise, by.vague),
    preciseVsRedundant: measured(by.precise, by.redundant),
  };
}

const groupBy = (records: readonly SignalRecord[], key: (r: SignalRecord) => string | undefined) => {
  const out = new Map<string, SignalRecord[]>();
  for (const r of records) {
    const k = key(r);
    if (k !== undefined) out.set(k, [...(out.get(k) ?? []), r]);
  }
  return [...out].sort(([a], [b]) => a.localeCompare(b));
};

/** Per signal: class counts and means, the two AUCs, overall, by hop count and by search position. */
export function summarizeSignals(records: readonly SignalRecord[], signals: readonly string[], minClass = MIN_CLASS): SignalSummary[] {
  return signals.map((signal) => ({
    signal,
    ...stats(records, signal, minClass),
    byHops: Object.fromEntries(groupBy(records, (r) => String(r.hops)).map(([k, rs]) => [k, stats(rs, signal, minClass)])),
    bySearch: Object.fromEntries(groupBy(records, (r) => (r.hops > 1 ? (r.search >= 3 ? '3+' : String(r.search)) : undefined)).map(([k, rs]) => [k, stats(rs, signal, minClass)])),
  }));
}

/** What `measureSignals` needs of a trainer (IgSearchTrainer.signals). */
export interface SignalSource {
  readonly config: { readonly groupSize: number };
  signals(
    questions: readonly { question: string; golden_answers: readonly string[]; hops?: number; supporting?: readonly string[] }[],
    step?: number,
    options?: { gammas?: readonly number[] },
  ): Promise<{ trajectories: readonly { searches: readonly { documents: readonly { id: string }[] }[] }[]; rewards: number[]; perSearch: { rollout: number; search: number; values: Record<string, number | undefined> }[] }>;
}

export interface SignalMeasurement {
  records: SignalRecord[];
  summaries: SignalSummary[];
  questions: number;
  rollouts: number;
  /** Share of rollouts whose first search brought hop 1's passage (of rollouts that searched at all: `searched`). */
  firstQueryPrecision: number;
  searched: number;
  /** Share of groups in which every rollout failed (reward 0): GRPO gives them no gradient. */
  allFailShare: number;
  /** Mean reward (exact match) of the rollouts. */
  reward: number;
}

/** The signals every algorithm computes, in report order. */
export const SIGNALS = ['ig_raw', 'ig_shaped', 'ig_gamma', 'igpo', 'stepsearch'] as const;

/**
 * Rolls out `questions` (each needs `supporting`: its passage id per hop) in batches of `batch`
 * questions × the trainer's G, scores every search with every step signal (no update), labels it
 * and summarises: the AUCs per signal, the warm start's first-query precision, the all-fail share.
 */
export async function measureSignals(trainer: SignalSource, questions: readonly { question: string; golden_answers: readonly string[]; hops?: number; supporting?: readonly string[] }[], options: { batch?: number; minClass?: number; gammas?: readonly number[]; onProgress?: (done: number, total: number) => void } = {}): Promise<SignalMeasurement> {
  const batchSize = options.batch ?? 8;
  const G = trainer.config.groupSize;
  questions.forEach((q, i) => {
    if (!q.supporting?.length) throw new IgSearchError('INVALID_ARGUMENT', `signal: question ${i} ("${q.question.slice(0, 60)}") has no "supporting" passage ids; the labels need them`, { hint: 'give each question a "supporting" list of corpus ids, first hop first (the demo world writes them)' });
  });
  const records: SignalRecord[] = [];
  let rollouts = 0;
  let searched = 0;
  let firstPrecise = 0;
  let allFail = 0;
  let rewardSum = 0;
  for (let at = 0, chunk = 0; at < questions.length; at += batchSize, chunk++) {
    const part = questions.slice(at, at + batchSize);
    const { trajectories, rewards, perSearch } = await trainer.signals(part, chunk + 1, { gammas: options.gammas });
    const labels = labelRollouts(trajectories, part, G);
    for (const p of perSearch) {
      const q = part[Math.floor(p.rollout / G)]!;
      const label = labels[p.rollout]![p.search]!;
      records.push({ cls: label.cls, hop: label.hop, hops: q.hops ?? q.supporting!.length, search: p.search + 1, values: p.values });
    }
    labels.forEach((l) => {
      if (l.length === 0) return;
      searched++;
      if (l[0]!.cls === 'precise' && l[0]!.hop === 1) firstPrecise++;
    });
    part.forEach((_, g) => {
      if (rewards.slice(g * G, (g + 1) * G).every((r) => r === 0)) allFail++;
    });
    rollouts += trajectories.length;
    rewardSum += rewards.reduce((a, b) => a + b, 0);
    options.onProgress?.(Math.min(at + batchSize, questions.length), questions.length);
  }
  return {
    records,
    summaries: summarizeSignals(records, [...SIGNALS, ...(options.gammas ?? []).map((g) => `ig_gamma@${g}`)], options.minClass),
    questions: questions.length,
    rollouts,
    firstQueryPrecision: searched ? firstPrecise / searched : 0,
    searched,
    allFailShare: questions.length ? allFail / questions.length : 0,
    reward: rollouts ? rewardSum / rollouts : 0,
  };
}

/** The summaries as a plain-text table (one row per signal; AUCs "—" where not measured). */
export function formatSignalTable(m: SignalMeasurement): string {
  const f = (v: number | null) => (v === null ? '—' : v.toFixed(3));
  const head = `signal          precise  redundant  vague   AUC p/v  AUC p/r   mean p   mean v`;
  const rows = m.summaries.map((s) => `${s.signal.padEnd(14)} ${String(s.n.precise).padStart(8)} ${String(s.n.redundant).padStart(10)} ${String(s.n.vague).padStart(6)}  ${f(s.preciseVsVague).padStart(7)}  ${f(s.preciseVsRedundant).padStart(7)}  ${f(s.mean.precise).padStart(7)}  ${f(s.mean.vague).padStart(7)}`);
  const hops = m.summaries
    .filter((s) => s.signal.startsWith('ig_'))
    .map((s) => `${s.signal} AUC precise/vague by hops: ${Object.entries(s.byHops).map(([h, v]) => `${h}-hop ${f(v.preciseVsVague)} (n ${v.n.precise}/${v.n.vague})`).join(', ')}; multi-hop by search: ${Object.entries(s.bySearch).map(([k, v]) => `#${k} ${f(v.preciseVsVague)} (n ${v.n.precise}/${v.n.vague})`).join(', ')}`);
  return [
    `${m.questions} questions × G → ${m.rollouts} rollouts, ${m.records.length} searches; reward ${m.reward.toFixed(3)}; first-query precision ${m.firstQueryPrecision.toFixed(3)} (of ${m.searched} rollouts that searched); all-fail groups ${(m.allFailShare * 100).toFixed(1)}%`,
    head,
    ...rows,
    ...hops,
  ].join('\n');
}

// The step-signal harness: query labels from the world's ground truth on hand-built trajectories, the
// AUC against hand-worked values and an O(n²) f64 reference, and a real measurement on the demo policy.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CausalLM, IgSearchTrainer, loadDemoPolicy, loadWasmCore, type DemoPolicy, type WasmCore } from '../src/entry/node.js';
import { auc, labelSearches, measureSignals, MIN_CLASS, SIGNALS, summarizeSignals, type SignalRecord } from '../src/entry/node.js';
import { main } from '../src/cli/main.js';
import { withGpu } from './helpers/gpu.js';
import { mulberry32 } from './helpers/random.js';

describe('query labels (precise / redundant / vague) against the passages retrieved before', () => {
  it('labels a 2-hop trajectory in order, the first new hop a precise query brings included', () => {
    const supporting = ['person-1', 'city-4'];
    expect(labelSearches([['film-2', 'person-9'], ['person-1', 'film-2'], ['person-1', 'film-2'], ['city-4'], []], supporting)).toEqual([
      { cls: 'vague' }, // neither hop's passage
      { cls: 'precise', hop: 1 },
      { cls: 'redundant' }, // the same two passages again
      { cls: 'precise', hop: 2 },
      { cls: 'vague' }, // nothing retrieved
    ]);
    // Hops found out of order: each counts once, when first brought.
    expect(labelSearches([['city-4', 'x'], ['person-1', 'city-4'], ['city-4', 'person-1']], supporting)).toEqual([{ cls: 'precise', hop: 2 }, { cls: 'precise', hop: 1 }, { cls: 'redundant' }]);
    // A seen hop plus a passage never seen is not redundant: it brought something new (but not a hop).
    expect(labelSearches([['person-1'], ['person-1', 'film-7']], supporting)).toEqual([{ cls: 'precise', hop: 1 }, { cls: 'vague' }]);
    // Two hops in one top-k: the first new one names it.
    expect(labelSearches([['city-4', 'person-1']], supporting)).toEqual([{ cls: 'precise', hop: 1 }]);
  });
});

describe('AUC (Mann–Whitney, ties half)', () => {
  it('matches hand-worked values', () => {
    expect(auc([3, 1], [2, 0])).toBe(0.75); // 3>2, 3>0, 1<2, 1>0
    expect(auc([1, 1], [1, 0])).toBe(0.75); // ½ + 1 + ½ + 1 over 4
    expect(auc([5], [5])).toBe(0.5);
    expect(auc([2, 3], [0, 1])).toBe(1);
    expect(auc([0], [1, 2, 3])).toBe(0);
    expect(auc([], [1])).toBeUndefined();
  });

  it('equals the O(n²) pair count on random scores with ties', () => {
    const rng = mulberry32(7);
    for (let trial = 0; trial < 20; trial++) {
      const draw = (n: number) => Array.from({ length: n }, () => Math.round(rng() * 8) / 4 - 1);
      const [a, b] = [draw(1 + Math.floor(rng() * 40)), draw(1 + Math.floor(rng() * 40))];
      let wins = 0;
      for (const x of a) for (const y of b) wins += x > y ? 1 : x === y ? 0.5 : 0;
      expect(auc(a, b)).toBeCloseTo(wins / (a.length * b.length), 12);
    }
  });

  it('summaries report an AUC only with MIN_CLASS queries of each class, by hops and by search position', () => {
    const records: SignalRecord[] = [];
    for (let i = 0; i < MIN_CLASS; i++) {
      records.push({ cls: 'precise', hop: 1, hops: 2, search: 1, values: { s: 1 + i } });
      records.push({ cls: 'vague', hops: 2, search: 2, values: { s: i - 10 } });
    }
    records.push({ cls: 'redundant', hops: 1, search: 2, values: { s: 0 } });
    records.push({ cls: 'precise', hops: 1, search: 1, values: {} }); // this signal gave it nothing
    const [s] = summarizeSignals(records, ['s']);
    expect(s!.n).toEqual({ precise: MIN_CLASS, redundant: 1, vague: MIN_CLASS });
    expect(s!.preciseVsVague).toBe(auc(records.filter((r) => r.cls === 'precise' && r.values['s'] !== undefined).map((r) => r.values['s']!), records.filter((r) => r.cls === 'vague').map((r) => r.values['s']!)));
    expect(s!.preciseVsRedundant).toBeNull(); // 1 redundant query: not measured
    expect(s!.byHops['1']!.preciseVsVague).toBeNull();
    // By search position over multi-hop questions: search #1 holds only precise, #2 only vague.
    expect(Object.keys(s!.bySearch)).toEqual(['1', '2']);
    expect(s!.bySearch['1']!.n.precise).toBe(MIN_CLASS);
    expect(s!.mean.redundant).toBe(0);
  });
});

describe('measureSignals on the demo policy (real rollouts, real scoring)', () => {
  const env = withGpu();
  let core: WasmCore;
  let model: CausalLM;
  let policy: DemoPolicy;
  beforeAll(async () => {
    core = await loadWasmCore();
    model = await CausalLM.load(env.gpu, 'assets/demo-policy');
    policy = await loadDemoPolicy(core, 'assets/demo-policy');
  });
  afterAll(() => {
    policy?.index.free();
    model?.free();
  });

  it('labels every search of every rollout and gives each signal a value where it defines one', async () => {
    const questions = readFileSync('assets/demo-policy/train.jsonl', 'utf8').trim().split('\n').slice(0, 6).map((l) => JSON.parse(l));
    const trainer = new IgSearchTrainer(env.gpu, core, model, policy.tokenizer, policy.index, { algo: 'ig-search', groupSize: 2, maxTokens: 96, maxTurns: 3 });
    const m = await measureSignals(trainer, questions, { batch: 3 });
    expect(m.rollouts).toBe(12);
    expect(m.records.length).toBeGreaterThan(0);
    // Each record is labelled again from its own trajectory here: the counts agree.
    const classes = m.records.map((r) => r.cls);
    for (const s of m.summaries) {
      if (s.signal === 'igpo') continue; // defined for searches that are not in a rollout's last turn
      expect(s.n.precise + s.n.redundant + s.n.vague).toBe(m.records.length);
    }
    expect(m.summaries.map((s) => s.signal)).toEqual([...SIGNALS]);
    expect(classes.filter((c) => c === 'precise').length).toBe(m.summaries[0]!.n.precise);
    for (const r of m.records) {
      expect(Number.isFinite(r.values['ig_raw'])).toBe(true);
      expect(Math.abs(r.values['ig_shaped']!)).toBeLessThanOrEqual(2); // clipped at ±c
      expect(r.hops).toBeGreaterThanOrEqual(1);
    }
    expect(m.firstQueryPrecision).toBeGreaterThanOrEqual(0);
    expect(m.firstQueryPrecision).toBeLessThanOrEqual(1);
    // The same questions without `supporting` are refused by name.
    await expect(measureSignals(trainer, [{ question: 'Q?', golden_answers: ['A'] }])).rejects.toThrow(/no "supporting" passage ids/);
  });

  it('ig-search signal prints the measurement as JSON, and wants --corpus', async () => {
    const lines: string[] = [];
    const [log, error] = [console.log, console.error];
    console.log = (l: unknown) => void lines.push(String(l));
    console.error = () => {};
    try {
      const code = await main(['signal', '--model', 'assets/demo-policy', '--data', 'assets/demo-policy/train.jsonl', '--corpus', 'assets/demo-policy/corpus.jsonl', '--limit', '2', '--group', '2', '--max-tokens', '64', '--gammas', '0.5,1', '--json']);
      expect(code).toBe(0);
    } finally {
      [console.log, console.error] = [log, error];
    }
    const out = JSON.parse(lines.join('\n'));
    expect(out.questions).toBe(2);
    expect(out.rollouts).toBe(4);
    expect(out.summaries.map((s: { signal: string }) => s.signal)).toEqual([...SIGNALS, 'ig_gamma@0.5', 'ig_gamma@1']);
    await expect(main(['signal', '--model', 'assets/demo-policy', '--data', 'assets/demo-policy/train.jsonl'])).rejects.toThrow(/--corpus FILE.jsonl is required/);
    await expect(main(['signal', '--model', 'assets/demo-policy', '--data', 'assets/demo-policy/train.jsonl', '--corpus', 'assets/demo-policy/corpus.jsonl', '--gammas', '0.5,2'])).rejects.toThrow(/--gammas: "2" is not a number in \[0, 1\]/);
  });
});

/**
 * The run report: a summary per run (final exact match single-/multi-hop, IG share of the step
 * time, all-fail-group gradient norms) computed from `metrics.jsonl` records, and one
 * self-contained HTML page with inline SVG charts — no scripts, no external files.
 */
import type { EvalReport, RunRecord } from '../rl/loop.js';
import { STEP_PHASES, type StepTiming } from '../rl/trainer.js';
import { differences, hopSubsets, pairedBootstrap, type Interval } from '../compare/stats.js';
import { auc, MIN_CLASS, type QueryClass } from '../rl/signal.js';
import { escapeXml, histogram, lineChart, overlaidHistograms, stackedBars, type Series } from './svg.js';
import { INSPECTION_CSS, renderInspection, type InspectedRollout } from './inspect.js';

type StepRecord = Extract<RunRecord, { type: 'step' }>;
type EvalRecord = Extract<RunRecord, { type: 'eval' }>;

export interface RunSummary {
  run: string;
  algo: string;
  steps: number;
  /** The split its evaluations ran on ("validation", "test"; records before v0.3 name none: test). */
  split: string;
  /** Exact match of the last evaluation: all, single-hop, multi-hop (2–3 hops); NaN when absent. */
  em: number;
  emSingle: number;
  emMulti: number;
  /** Same at the first evaluation (step 0: the warm-started policy). */
  emStart: number;
  emSingleStart: number;
  emMultiStart: number;
  /** Mean milliseconds per step and per phase. */
  stepMs: number;
  phaseMs: StepTiming;
  /** IG scoring time / step time, summed over steps. */
  igShare: number;
  /** Steps with at least one all-fail group, and the mean gradient norm of those groups' loss there. */
  allFailSteps: number;
  allFailGradNorm: number;
}

/** Exact match over questions with 1 hop and with 2+ hops. */
export function hopSplit(byHops: EvalReport['byHops']): { single: number; multi: number } {
  const single = byHops['1'];
  let sum = 0;
  let n = 0;
  for (const [k, v] of Object.entries(byHops)) {
    if (k === '1' || k === '?') continue;
    sum += v.em * v.n;
    n += v.n;
  }
  return { single: single ? single.em : NaN, multi: n ? sum / n : NaN };
}

export function summarizeRuns(records: readonly RunRecord[]): RunSummary[] {
  const runs = [...new Set(records.map((r) => r.run))];
  return runs.map((run) => {
    const steps = records.filter((r): r is StepRecord => r.type === 'step' && r.run === run);
    const evals = records.filter((r): r is EvalRecord => r.type === 'eval' && r.run === run);
    const last = evals[evals.length - 1];
    const first = evals[0];
    const phase: StepTiming = { rollout: 0, reward: 0, ig: 0, advantages: 0, reference: 0, update: 0 };
    for (const s of steps) for (const { key } of STEP_PHASES) phase[key] += s.timing[key] ?? 0;
    const total = STEP_PHASES.reduce((n, { key }) => n + phase[key], 0);
    const failing = steps.filter((s) => s.allFailGroups > 0);
    const split = last ? hopSplit(last.byHops) : { single: NaN, multi: NaN };
    const per = (v: number) => (steps.length ? v / steps.length : 0);
    return {
      run,
      algo: steps[0]?.algo ?? last?.algo ?? '?',
      steps: steps.length ? steps[steps.length - 1]!.step : 0,
      split: last?.split ?? 'test',
      em: last?.em ?? NaN,
      emSingle: split.single,
      emMulti: split.multi,
      emStart: first?.em ?? NaN,
      emSingleStart: first ? hopSplit(first.byHops).single : NaN,
      emMultiStart: first ? hopSplit(first.byHops).multi : NaN,
      stepMs: per(total),
      phaseMs: Object.fromEntries(STEP_PHASES.map(({ key }) => [key, per(phase[key])])) as unknown as StepTiming,
      igShare: total ? phase.ig / total : 0,
      allFailSteps: failing.length,
      allFailGradNorm: failing.length ? failing.reduce((a, s) => a + s.allFailGradNorm, 0) / failing.length : 0,
    };
  });
}

/** Run colours, in run order; phase colours of the step-time bars (shared with the comparison report). */
export const COLORS = ['#d9480f', '#1971c2', '#2b8a3e', '#862e9c', '#e67700', '#0b7285'];
const PHASE_COLORS: Record<keyof StepTiming, string> = { rollout: '#4c6ef5', reward: '#adb5bd', ig: '#f08c00', advantages: '#ae3ec9', reference: '#868e96', update: '#37b24d' };
export const PHASES = STEP_PHASES.map(({ key, name }) => ({ name, color: PHASE_COLORS[key] }));

export interface ReportOptions {
  title?: string;
  /** Key/value facts shown under the title (device, seed, wall time…). */
  facts?: Record<string, string>;
  /** One step's rollouts token by token (`DemoResult.inspection`): the group shown is `group`. */
  inspection?: { run: string; step: number; group: number; rollouts: readonly InspectedRollout[] };
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–');

export function renderReport(records: readonly RunRecord[], options: ReportOptions = {}): string {
  const summaries = summarizeRuns(records);
  const split = summaries[0]?.split ?? 'test';
  const color = new Map(summaries.map((s, i) => [s.run, COLORS[i % COLORS.length]!]));
  const evalSeries = (pick: (r: EvalRecord) => number): Series[] =>
    summaries.map((s) => ({
      name: s.run,
      color: color.get(s.run)!,
      points: records.filter((r): r is EvalRecord => r.type === 'eval' && r.run === s.run).map((r) => [r.step, pick(r)] as [number, number]).filter(([, v]) => Number.isFinite(v)),
    }));
  const stepRecords = (run: string) => records.filter((r): r is StepRecord => r.type === 'step' && r.run === run);
  const igValues = summaries.flatMap((s) => stepRecords(s.run).flatMap((r) => r.ig));
  const byClass = igByClassChart(igValuesByClass(summaries.flatMap((s) => stepRecords(s.run))));
  const charts = [
    ...(byClass ? [byClass] : []),
    lineChart(`Exact match, single-hop ${split} questions (greedy)`, 'training step', 'EM', evalSeries((r) => hopSplit(r.byHops).single), [0, 1]),
    lineChart(`Exact match, multi-hop (2–3 hop) ${split} questions`, 'training step', 'EM', evalSeries((r) => hopSplit(r.byHops).multi), [0, 1]),
    lineChart('Gradient norm from all-fail groups', 'training step', '‖∇‖ of their loss', summaries.map((s) => ({ name: s.run, color: color.get(s.run)!, points: stepRecords(s.run).filter((r) => r.allFailGroups > 0).map((r) => [r.step, r.allFailGradNorm] as [number, number]) }))),
    ...(byClass
      ? []
      : [
          histogram(`Information gain of ${igValues.length} search steps (nats/token)`, 'IG = score(retrieved) − score(random)', igValues, '#f08c00', 30, [
            { at: 0, label: '0' },
          ]),
        ]),
    lineChart('Training reward (EM of the rollouts)', 'training step', 'mean reward', summaries.map((s) => ({ name: s.run, color: color.get(s.run)!, points: stepRecords(s.run).map((r) => [r.step, r.reward] as [number, number]) })), [0, 1]),
    stackedBars('Mean step time by phase', 'milliseconds per step', summaries.map((s) => ({ name: s.run, values: STEP_PHASES.map(({ key }) => s.phaseMs[key]) })), PHASES),
  ];
  const rows = summaries
    .map(
      (s) =>
        `<tr><td><span class="dot" style="background:${color.get(s.run)}"></span>${escapeXml(s.run)}</td><td>${s.steps}</td><td>${pct(s.emStart)} → <b>${pct(s.em)}</b></td><td>${pct(s.emSingleStart)} → <b>${pct(s.emSingle)}</b></td><td>${pct(s.emMultiStart)} → <b>${pct(s.emMulti)}</b></td>` +
        `<td>${(s.stepMs / 1000).toFixed(2)} s</td><td>${pct(s.igShare)}</td><td>${s.allFailSteps ? s.allFailGradNorm.toFixed(3) : '–'}</td></tr>`,
    )
    .join('');
  const facts = Object.entries(options.facts ?? {})
    .map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${escapeXml(v)}</dd>`)
    .join('');
  const title = options.title ?? 'ig-search run report';
  const lead = 'GRPO and IG-Search from the same warm-started policy, with the same seeds, questions and budget. IG-Search adds a step-level reward to the tokens of each search query: how much the retrieved documents raise the policy\'s log-probability of the gold answer over random documents.';
  const intervals = finalIntervals(records, summaries, split);
  return reportPage(
    title,
    lead,
    `<dl>${facts}</dl>
<table><thead><tr><th>run</th><th>steps</th><th>${escapeXml(split)} EM (start → end)</th><th>single-hop (start → end)</th><th>multi-hop (start → end)</th><th>step time</th><th>IG share</th><th>all-fail ‖∇‖</th></tr></thead><tbody>${rows}</tbody></table>
${intervals}
<div class="charts">${charts.join('\n')}</div>${inspectionSection(options.inspection)}`,
  );
}

function inspectionSection(inspection: ReportOptions['inspection']): string {
  if (!inspection) return '';
  return `
<style>${INSPECTION_CSS}</style>
<h2>What step ${inspection.step} of ${escapeXml(inspection.run)} credited, token by token</h2>
${renderInspection(inspection.rollouts, inspection.group)}`;
}

const CLASS_COLORS: Record<QueryClass, string> = { precise: '#2b8a3e', redundant: '#1971c2', vague: '#e03131' };

/** Raw IG of a run's training searches by the class of each search (`searchClasses` aligned with `ig`). */
export function igValuesByClass(steps: readonly Pick<StepRecord, 'ig' | 'searchClasses'>[]): Record<QueryClass, number[]> {
  const values: Record<QueryClass, number[]> = { precise: [], redundant: [], vague: [] };
  for (const r of steps) {
    if (!r.searchClasses || r.searchClasses.length !== r.ig.length || r.ig.length === 0) continue;
    r.ig.forEach((v, k) => values[r.searchClasses![k]!].push(v));
  }
  return values;
}

/**
 * Raw IG of the training searches by query class (labelled from the questions' supporting passages),
 * with the AUC of precise vs vague in the title: does the signal rank queries? Undefined when no
 * search carries a class.
 */
export function igByClassChart(values: Record<QueryClass, readonly number[]>, title = 'IG by query class'): string | undefined {
  const n = values.precise.length + values.redundant.length + values.vague.length;
  if (n === 0) return undefined;
  const measured = values.precise.length >= MIN_CLASS && values.vague.length >= MIN_CLASS;
  const score = measured ? `AUC precise/vague ${auc(values.precise, values.vague)!.toFixed(2)}` : `AUC: < ${MIN_CLASS} of a class`;
  return overlaidHistograms(`${title}, ${n} searches: ${score}`, 'raw IG (nats/token): retrieved vs random documents', (['precise', 'redundant', 'vague'] as const).map((c) => ({ name: c, color: CLASS_COLORS[c], values: [...values[c]] })), 30);
}

/** The page every report shares: title, lead paragraph, body; inline CSS, no scripts. */
export function reportPage(title: string, lead: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#212529;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}p.lead{color:#495057;margin:0 0 16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;font-size:13px;color:#495057}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;margin:16px 0;font-size:13px}th,td{padding:6px 10px;border-bottom:1px solid #dee2e6;text-align:right}th:first-child,td:first-child{text-align:left}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
svg{background:#fff;border:1px solid #e9ecef;border-radius:6px;max-width:100%;height:auto}
svg .title{font-size:13px;font-weight:600;fill:#212529}svg .tick{font-size:11px;fill:#495057}svg .label{font-size:11px;fill:#868e96}
svg .grid{stroke:#f1f3f5}svg .axis{stroke:#adb5bd}svg .marker{stroke:#495057;stroke-dasharray:3 3}
</style></head><body>
<h1>${escapeXml(title)}</h1>
<p class="lead">${escapeXml(lead)}</p>
${body}
</body></html>
`;
}

/**
 * Under the table: each run's final EM minus the first run's (GRPO in the demo), with a 95%
 * paired-bootstrap interval over the evaluated questions (one seed: questions are the only resampled unit).
 */
function finalIntervals(records: readonly RunRecord[], summaries: readonly RunSummary[], split: string): string {
  const last = (run: string) => records.filter((r): r is EvalRecord => r.type === 'eval' && r.run === run).at(-1);
  const base = summaries[0] && last(summaries[0].run);
  if (!base?.correct?.length || summaries.length < 2) return '';
  const items = summaries.slice(1).flatMap((s) => {
    const other = last(s.run);
    if (!other?.correct || other.correct.length !== base.correct.length) return [];
    const diffs = differences([other.correct], [base.correct]);
    const { single, multi } = hopSubsets(base.questionHops ?? []);
    const cell = (iv: Interval) => (Number.isFinite(iv.mean) ? `${signed(iv.mean)} <small>[${signed(iv.low)}, ${signed(iv.high)}]</small>` : '–');
    return [`<tr><td>${escapeXml(s.run)} − ${escapeXml(summaries[0]!.run)}</td><td>${cell(pairedBootstrap(diffs))}</td><td>${cell(pairedBootstrap(diffs, single))}</td><td>${cell(pairedBootstrap(diffs, multi))}</td></tr>`];
  });
  if (!items.length) return '';
  return `<table><thead><tr><th>final ${escapeXml(split)} EM difference (95% paired bootstrap over questions)</th><th>all</th><th>single-hop</th><th>multi-hop</th></tr></thead><tbody>${items.join('')}</tbody></table>`;
}

/** A difference of rates in points, signed ("+2.3", "−1.1"); "–" when not finite. */
export const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(1)}` : '–');

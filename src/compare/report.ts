/**
 * A comparison's Markdown table and its HTML report (the run report's page style): exact match per
 * algorithm with the paired-bootstrap interval of its difference to GRPO, step time and overhead,
 * the all-fail gradient norm, searches per question.
 */
import { COLORS, igByClassChart, PHASES, reportPage, signed } from '../report/report.js';
import { escapeXml, intervalChart, stackedBars } from '../report/svg.js';
import { STEP_PHASES } from '../rl/trainer.js';
import type { AlgorithmSummary, CompareResult } from './compare.js';
import type { Interval } from './stats.js';

const pct = (v: number) => (Number.isFinite(v) ? (v * 100).toFixed(1) : '–');
const interval = (iv: Interval | undefined) => (iv && Number.isFinite(iv.mean) ? `${signed(iv.mean)} [${signed(iv.low)}, ${signed(iv.high)}]` : '–');

function columns(s: AlgorithmSummary): string[] {
  return [
    s.algo,
    String(s.runs),
    pct(s.em),
    pct(s.emSingle),
    pct(s.emMulti),
    interval(s.vsGrpo?.all),
    interval(s.vsGrpo?.single),
    interval(s.vsGrpo?.multi),
    `${(s.stepMs / 1000).toFixed(2)} s`,
    s.algo === 'grpo' || !Number.isFinite(s.stepOverhead) ? '–' : `${signed(s.stepOverhead)}%`,
    Number.isFinite(s.allFailGradNorm) ? s.allFailGradNorm.toFixed(3) : '–',
    s.searchesPerQuestion.toFixed(2),
  ];
}

const HEADER = ['algorithm', 'seeds', 'EM %', 'single-hop %', 'multi-hop %', 'Δ EM vs GRPO [95% CI]', 'Δ single-hop', 'Δ multi-hop', 'step time', 'vs GRPO', 'all-fail ‖∇‖', 'searches/q'];

function counts(result: CompareResult): string {
  const single = result.questions.filter((q) => q.hops === 1).length;
  return `${result.questions.length} ${splitOf(result)} questions (${single} single-hop, ${result.questions.length - single} multi-hop)`;
}

/** Results written before v0.3 name no split: they were test. */
function splitOf(result: CompareResult): string {
  return result.options.split ?? 'test';
}

function registration(result: CompareResult): string {
  if (result.preregistered) return `pre-registered (configuration sha256 ${result.preregistered.slice(0, 12)}…)`;
  return splitOf(result) === 'test' ? 'not pre-registered' : 'exploratory (validation split: where knobs and budget are chosen)';
}

export function compareMarkdown(result: CompareResult): string {
  const o = result.options;
  const lines = [
    `# ig-search compare`,
    '',
    `${o.algos.join(', ')} × seeds ${o.seeds.join(', ')}: ${o.steps} steps × ${o.questionsPerStep} questions × G = ${o.groupSize}, lr ${o.lr}, λ ${o.lambda}; ${counts(result)}. ` +
      `Warm start: EM ${pct(result.warmStart.em)}% (single-hop ${pct(result.warmStart.emSingle)}%, multi-hop ${pct(result.warmStart.emMulti)}%). ${registration(result)[0]!.toUpperCase()}${registration(result).slice(1)}.${result.aborted ? ' **Interrupted: only finished runs are counted.**' : ''}`,
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...result.summary.map((s) => `| ${columns(s).join(' | ')} |`),
    '',
    `Δ: mean over seeds of the algorithm’s EM minus GRPO’s (points), with a 95% paired-bootstrap interval that resamples seeds and ${splitOf(result)} questions.`,
    '',
  ];
  return lines.join('\n');
}

export function renderCompareReport(result: CompareResult): string {
  const color = new Map(result.summary.map((s, i) => [s.algo, COLORS[i % COLORS.length]!]));
  const rows = result.summary
    .map((s) => `<tr>${columns(s)
      .map((c, i) => (i === 0 ? `<td><span class="dot" style="background:${color.get(s.algo)}"></span>${escapeXml(c)}</td>` : `<td>${escapeXml(c)}</td>`))
      .join('')}</tr>`)
    .join('');
  const others = result.summary.filter((s) => s.vsGrpo);
  const forest = (pick: 'all' | 'single' | 'multi', name: string) =>
    intervalChart(`${name}: EM minus GRPO's (95% paired bootstrap)`, 'difference in exact match', others.map((s) => ({ name: s.algo, ...s.vsGrpo![pick], color: color.get(s.algo)! })));
  const charts = others.length ? [forest('multi', 'Multi-hop'), forest('single', 'Single-hop'), forest('all', `All ${splitOf(result)} questions`)] : [];
  const byPhase = result.summary.map((s) => {
    const runs = result.runs.filter((r) => r.algo === s.algo);
    return { name: s.algo, values: STEP_PHASES.map(({ key }) => runs.reduce((a, r) => a + r.phaseMs[key], 0) / runs.length) };
  });
  // The signal first: IG by query class over every IG-scoring run's training searches.
  const classes = { precise: [] as number[], redundant: [] as number[], vague: [] as number[] };
  for (const r of result.runs) for (const c of ['precise', 'redundant', 'vague'] as const) classes[c].push(...(r.igByClass?.[c] ?? []));
  const signal = igByClassChart(classes, 'IG by query class (training searches of the IG-scoring runs)');
  if (signal) charts.unshift(signal);
  charts.push(stackedBars('Mean step time by phase', 'milliseconds per step', byPhase, PHASES));
  const o = result.options;
  const facts: Record<string, string> = {
    budget: `${o.steps} steps × ${o.questionsPerStep} questions × G = ${o.groupSize}, lr ${o.lr}, λ ${o.lambda}`,
    seeds: o.seeds.join(', '),
    questions: counts(result),
    registration: registration(result),
    'warm start': `EM ${pct(result.warmStart.em)}% (single-hop ${pct(result.warmStart.emSingle)}%, multi-hop ${pct(result.warmStart.emMulti)}%)`,
    'wall time': `${(result.wallMs / 60000).toFixed(1)} min${result.aborted ? ' (interrupted: finished runs only)' : ''}`,
  };
  const dl = Object.entries(facts)
    .map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${escapeXml(v)}</dd>`)
    .join('');
  return reportPage(
    'ig-search compare',
    `Every algorithm from the same warm-started policy; for each seed, the same training questions in the same order and the same sampling seeds. Differences to GRPO are paired: seeds and ${splitOf(result)} questions are resampled together.`,
    `<dl>${dl}</dl>
<table><thead><tr>${HEADER.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>
<div class="charts">${charts.join('\n')}</div>`,
  );
}

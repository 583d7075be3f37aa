/**
 * `ig-search demo`: the main job on the embedded default — the committed warm-started policy and
 * its synthetic world, GRPO then IG-Search with the same seeds and budget, progress with ETA on
 * stderr, `runs/<id>/metrics.jsonl` (one record per line, appended as it happens) and a
 * self-contained `runs/<id>/report.html`.
 */
import { appendOnly } from '../platform/files.js';
import { fileURLToPath } from 'node:url';
import { ALGORITHMS, checkAlgorithm, type Algorithm } from '../defaults.js';
import { DEMO_DEFAULTS, runDemo } from '../demo/demo.js';
import { IgSearchError } from '../errors.js';
import { Gpu } from '../gpu/device.js';
import { renderReport, summarizeRuns, type RunSummary } from '../report/report.js';
import { loadWasmCore } from '../wasm/core.js';
import { freshDirectory, interruptible, numberFlag, parseOptions, writeAtomic } from './args.js';
import { ProgressBar } from './progress.js';

export const DEMO_USAGE = `  demo [--out runs] [--steps ${DEMO_DEFAULTS.steps}] [--seed ${DEMO_DEFAULTS.seed}] [--questions ${DEMO_DEFAULTS.questionsPerStep}] [--group ${DEMO_DEFAULTS.groupSize}]
       [--eval-every ${DEMO_DEFAULTS.evalEvery}] [--lr ${DEMO_DEFAULTS.lr}] [--lambda ${DEMO_DEFAULTS.lambda}] [--eval-questions ${DEMO_DEFAULTS.evalQuestions}] [--algos grpo,ig-search]
       [--policy DIR] [--json]
                               GRPO vs IG-Search on the embedded warm-started policy → runs/<id>/report.html`;

/** The committed demo policy (`assets/demo-policy`, reproducible with `ig-search sft`). */
export function embeddedPolicyDir(): string {
  return fileURLToPath(new URL('../assets/demo-policy', import.meta.url));
}


export function formatSummary(summaries: readonly RunSummary[]): string {
  const p = (v: number) => (Number.isFinite(v) ? (v * 100).toFixed(1).padStart(5) + '%' : '    –');
  const lines = ['run          steps  EM start→end        single-hop start→end  multi-hop start→end  step s  IG share  all-fail ‖∇‖'];
  for (const s of summaries) {
    lines.push(
      `${s.run.padEnd(12)} ${String(s.steps).padStart(5)}  ${p(s.emStart)} → ${p(s.em)}      ${p(s.emSingleStart)} → ${p(s.emSingle)}    ${p(s.emMultiStart)} → ${p(s.emMulti)}      ${(s.stepMs / 1000).toFixed(2).padStart(6)}  ${p(s.igShare)}    ${s.allFailSteps ? s.allFailGradNorm.toFixed(3) : '–'}`,
    );
  }
  if (summaries.length) lines.push(`(greedy exact match on the ${summaries[0]!.split} split)`);
  return lines.join('\n');
}

export async function demo(argv: string[]): Promise<number> {
  const values = parseOptions('demo', argv, {
    out: { type: 'string', default: 'runs' },
    steps: { type: 'string', default: String(DEMO_DEFAULTS.steps) },
    seed: { type: 'string', default: String(DEMO_DEFAULTS.seed) },
    questions: { type: 'string', default: String(DEMO_DEFAULTS.questionsPerStep) },
    group: { type: 'string', default: String(DEMO_DEFAULTS.groupSize) },
    'eval-every': { type: 'string', default: String(DEMO_DEFAULTS.evalEvery) },
    lr: { type: 'string', default: String(DEMO_DEFAULTS.lr) },
    lambda: { type: 'string', default: String(DEMO_DEFAULTS.lambda) },
    'eval-questions': { type: 'string', default: String(DEMO_DEFAULTS.evalQuestions) },
    algos: { type: 'string', default: 'grpo,ig-search' },
    policy: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const algos = values.algos.split(',').map((a) => a.trim());
  for (const a of algos) checkAlgorithm(a, '--algos');
  const steps = numberFlag(values.steps, '--steps', { positive: true });
  const seed = numberFlag(values.seed, '--seed');
  // Every flag is checked before anything is created.
  const numbers = {
    questionsPerStep: numberFlag(values.questions, '--questions', { positive: true }),
    groupSize: numberFlag(values.group, '--group', { positive: true }),
    evalEvery: numberFlag(values['eval-every'], '--eval-every', { positive: true }),
    lr: numberFlag(values.lr, '--lr', { integer: false, positive: true }),
    lambda: numberFlag(values.lambda, '--lambda', { integer: false, positive: true }),
    evalQuestions: numberFlag(values['eval-questions'], '--eval-questions'),
  };
  const policy = values.policy ?? embeddedPolicyDir();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const dir = await freshDirectory(`${values.out.replace(/\/$/, '')}/demo-${stamp}-seed${seed}`, '--out');
  const metricsPath = `${dir}/metrics.jsonl`;
  const metrics = await appendOnly(metricsPath);

  const interrupt = interruptible('writing the report');

  const core = await loadWasmCore();
  const gpu = await Gpu.request();
  const bar = new ProgressBar(steps * algos.length);
  let writes = Promise.resolve();
  try {
    const started = new Date();
    const result = await runDemo(gpu, core, {
      policy,
      algos: algos as Algorithm[],
      steps,
      seed,
      ...numbers,
      signal: interrupt.signal,
      onEvent: (e) => {
        const offset = algos.indexOf(e.run) * steps;
        if (e.type === 'progress') bar.update(offset + e.step, e.run.padEnd(9), e.phase === 'eval' ? 'evaluating' : '');
        else {
          writes = writes.then(() => metrics.append(`${JSON.stringify(e)}\n`));
          if (e.type === 'step') bar.update(offset + e.step, e.run.padEnd(9), `reward ${e.reward.toFixed(2)}`);
          if (e.type === 'eval') bar.log(`${e.run} step ${e.step}: ${e.split ?? 'test'} EM ${(e.em * 100).toFixed(1)}% (${Object.entries(e.byHops).sort().map(([h, v]) => `${h}-hop ${(v.em * 100).toFixed(0)}% of ${v.n}`).join(', ')})${e.truncated > 0 ? `, ${(e.truncated * 100).toFixed(0)}% cut off at the token limit` : ''}`);
        }
      },
    });
    await writes;
    await metrics.close();
    bar.done();
    const summaries = summarizeRuns(result.records);
    const html = renderReport(result.records, {
      title: 'ig-search demo: GRPO vs IG-Search',
      inspection: result.inspection,
      facts: {
        device: `${gpu.adapter.description || gpu.adapter.device || gpu.adapter.vendor} (${gpu.adapter.architecture || 'unknown architecture'})`,
        started: started.toISOString(),
        'wall time': `${(result.wallMs / 1000).toFixed(0)} s${result.aborted ? ' (interrupted)' : ''}`,
        policy,
        budget: `${steps} steps × ${values.questions} questions × G=${values.group} rollouts per algorithm, lr ${values.lr}, λ ${values.lambda}, seed ${seed}`,
        command: `ig-search demo ${argv.join(' ')}`.trim(),
      },
    });
    await writeAtomic(`${dir}/report.html`, html);
    if (values.json) console.log(JSON.stringify({ dir, wallMs: result.wallMs, aborted: result.aborted, summaries }, null, 2));
    else {
      console.log(formatSummary(summaries));
      console.log(`\nwrote ${dir}/report.html and metrics.jsonl (${(result.wallMs / 1000).toFixed(0)} s)`);
    }
    return result.aborted ? 130 : 0;
  } finally {
    await metrics.close().catch(() => {});
    interrupt.dispose();
    gpu.destroy();
  }
}

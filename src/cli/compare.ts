/**
 * `ig-search compare`: the step-level baselines beside GRPO and IG-Search from the demo's warm
 * start, paired by seed, with bootstrap intervals. Writes `results.json` after every finished run
 * (atomically: Ctrl-C keeps what finished, and `--resume` continues from it), then `results.md`
 * and `report.html`.
 */
import { readFile, stat } from 'node:fs/promises';
import { COMPARE_DEFAULTS, compareRecord, registeredConfig, runCompare, summarize, type CompareOptions, type CompareResult, type CompareRun } from '../compare/compare.js';
import { canonicalJson, differingFields, preregister, type Preregistration } from '../compare/preregister.js';
import { compareMarkdown, renderCompareReport } from '../compare/report.js';
import { ALGORITHMS, checkAlgorithm, type Algorithm } from '../defaults.js';
import { IgSearchError } from '../errors.js';
import { Gpu } from '../gpu/device.js';
import { loadWasmCore } from '../wasm/core.js';
import { interruptible, numberFlag, outputDirectory, parseOptions, writeAtomic, readText } from './args.js';
import { embeddedPolicyDir } from './demo.js';
import { ProgressBar } from './progress.js';

const C = COMPARE_DEFAULTS;
export const COMPARE_USAGE = `  compare --out DIR [--algos ${ALGORITHMS.join(',')}] [--seeds ${C.seeds}] [--steps ${C.steps}] [--questions ${C.questionsPerStep}]
        [--group ${C.groupSize}] [--lr ${C.lr}] [--lambda ${C.lambda}] [--split validation|test] [--eval-questions N]
        [--knobs JSON] [--policy DIR] [--register FILE | --preregistered FILE] [--resume] [--json]
                               every algorithm from the demo's warm start, paired by seed → DIR/results.json, results.md, report.html;
                               --knobs '{"ig-search":{"lambda":3}}' sets one algorithm's knobs; the test split runs only
                               --preregistered (a FILE written by --register and committed before the run)`;

export async function compare(argv: string[]): Promise<number> {
  const values = parseOptions('compare', argv, {
    out: { type: 'string' },
    algos: { type: 'string', default: ALGORITHMS.join(',') },
    seeds: { type: 'string', default: String(C.seeds) },
    steps: { type: 'string', default: String(C.steps) },
    questions: { type: 'string', default: String(C.questionsPerStep) },
    group: { type: 'string', default: String(C.groupSize) },
    lr: { type: 'string', default: String(C.lr) },
    lambda: { type: 'string', default: String(C.lambda) },
    split: { type: 'string', default: 'validation' },
    'eval-questions': { type: 'string' },
    knobs: { type: 'string' },
    register: { type: 'string' },
    preregistered: { type: 'string' },
    policy: { type: 'string' },
    resume: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  if (!values.out && !values.register) throw new IgSearchError('INVALID_ARGUMENT', 'compare: --out DIR is required (results.json, results.md and report.html go there)');
  const algos = values.algos.split(',').map((a) => a.trim());
  for (const a of algos) checkAlgorithm(a, '--algos');
  const options = {
    algos: algos as Algorithm[],
    seeds: numberFlag(values.seeds, '--seeds', { positive: true }),
    steps: numberFlag(values.steps, '--steps', { positive: true }),
    questionsPerStep: numberFlag(values.questions, '--questions', { positive: true }),
    groupSize: numberFlag(values.group, '--group', { positive: true }),
    lr: numberFlag(values.lr, '--lr', { integer: false, positive: true }),
    lambda: numberFlag(values.lambda, '--lambda', { integer: false }),
    split: values.split as 'validation' | 'test',
    evalQuestions: values['eval-questions'] === undefined ? undefined : numberFlag(values['eval-questions'], '--eval-questions', { positive: true }),
    perAlgorithm: values.knobs === undefined ? undefined : parseKnobs(values.knobs),
  };
  if (options.split !== 'validation' && options.split !== 'test') throw new IgSearchError('INVALID_ARGUMENT', `--split: "${values.split}" is not validation or test`);
  const policy = values.policy ?? embeddedPolicyDir();
  if (values.register) {
    if (values.preregistered) throw new IgSearchError('INVALID_ARGUMENT', 'compare: --register writes a registration and --preregistered runs one; give one of them');
    if (await exists(values.register)) throw new IgSearchError('INVALID_ARGUMENT', `compare --register: ${values.register} exists; a registration is never replaced`, { hint: 'register a changed configuration under a new name, and say why in its rationale' });
    // A registration is for the test split, whatever --split says.
    const registration = await preregister(await registeredConfig(compareRecord({ policy, ...options, split: 'test' })));
    await writeAtomic(values.register, `${JSON.stringify(registration, null, 2)}\n`);
    console.log(`registered ${values.register} (sha256 ${registration.sha256}); commit it before running with --preregistered ${values.register}`);
    return 0;
  }
  const preregistration = values.preregistered === undefined ? undefined : await readRegistration(values.preregistered);
  const dir = values.out!.replace(/\/$/, '');
  await outputDirectory(dir, '--out');
  const resultsPath = `${dir}/results.json`;
  let finished: CompareRun[] = [];
  if (values.resume) {
    let previous: CompareResult;
    try {
      previous = JSON.parse(await readFile(resultsPath, 'utf8')) as CompareResult;
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `compare --resume: cannot read ${resultsPath}: ${(e as Error).message}`, { cause: e });
    }
    const { seeds: _was, algos: _had, ...before } = previous.options;
    const { seeds: _now, algos: _has, ...now } = compareRecord({ policy, ...options });
    const differing = differingFields(before, now);
    if (differing.length) throw new IgSearchError('INVALID_ARGUMENT', `compare --resume: ${resultsPath} was made with other options (${differing.map((k) => `${k}: ${canonicalJson((before as Record<string, unknown>)[k])} then, ${canonicalJson((now as Record<string, unknown>)[k])} now`).join('; ')}); runs are only comparable under the same budget`);
    finished = previous.runs;
  }
  const interrupt = interruptible('writing the results of the finished runs');
  const core = await loadWasmCore();
  const gpu = await Gpu.request();
  const runs = options.seeds * algos.length - finished.filter((r) => algos.includes(r.algo)).length;
  const bar = new ProgressBar(runs * options.steps);
  const progress: Partial<CompareResult> = {};
  let done = 0;
  let writes = Promise.resolve();
  try {
    const result = await runCompare(gpu, core, {
      policy,
      ...options,
      preregistration,
      finished,
      signal: interrupt.signal,
      onEvent: (e) => {
        if (e.type === 'started') {
          const { type: _t, ...header } = e;
          Object.assign(progress, header);
          bar.log(`warm start: ${e.options.split} EM ${(e.warmStart.em * 100).toFixed(1)}% on ${e.questions.length} questions`);
        }
        if (e.type === 'progress') bar.update(e.run * options.steps + e.step, `${e.algo} seed ${e.seed}`.padEnd(20), `run ${e.run + 1}/${e.runs}${e.step === e.steps && e.steps ? ' evaluating' : ''}`);
        if (e.type === 'run') {
          done++;
          finished.push(e.run);
          bar.log(`${e.run.algo} seed ${e.run.seed}: ${options.split} EM ${(e.run.em * 100).toFixed(1)}% (single-hop ${(e.run.emSingle * 100).toFixed(1)}%, multi-hop ${(e.run.emMulti * 100).toFixed(1)}%), ${(e.run.stepMs / 1000).toFixed(2)} s/step`);
          // Every finished run is on disk before the next starts.
          const snapshot = { ...progress, runs: [...finished], summary: summarize(finished, progress.questions ?? [], algos as Algorithm[]), aborted: true };
          writes = writes.then(() => writeAtomic(resultsPath, JSON.stringify(snapshot)));
        }
      },
    });
    await writes;
    bar.done();
    await writeAtomic(resultsPath, JSON.stringify(result));
    await writeAtomic(`${dir}/results.md`, compareMarkdown(result));
    await writeAtomic(`${dir}/report.html`, renderCompareReport(result));
    if (values.json) console.log(JSON.stringify({ dir, wallMs: result.wallMs, aborted: result.aborted, summary: result.summary }, null, 2));
    else {
      console.log(compareMarkdown(result));
      console.log(`wrote ${dir}/results.json, results.md and report.html (${(result.wallMs / 60000).toFixed(1)} min, ${done} runs this time)`);
    }
    return result.aborted ? 130 : 0;
  } finally {
    interrupt.dispose();
    gpu.destroy();
  }
}

/** `--knobs '{"ig-search": {"lambda": 3}, "gigpo": {"omega": 0.5}}'`: one algorithm's trainer options. */
function parseKnobs(text: string): NonNullable<CompareOptions['perAlgorithm']> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `--knobs: not JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new IgSearchError('INVALID_ARGUMENT', '--knobs: an object of algorithm → trainer options, e.g. {"ig-search":{"lambda":3}}');
  for (const [algo, knobs] of Object.entries(parsed)) {
    checkAlgorithm(algo, '--knobs');
    if (typeof knobs !== 'object' || knobs === null || Array.isArray(knobs)) throw new IgSearchError('INVALID_ARGUMENT', `--knobs: the knobs of ${algo} must be an object`);
  }
  return parsed as NonNullable<CompareOptions['perAlgorithm']>;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readRegistration(path: string): Promise<Preregistration> {
  const text = await readText(path);
  try {
    return JSON.parse(text) as Preregistration;
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `--preregistered: ${path} is not JSON (${(e as Error).message})`, { cause: e });
  }
}

/**
 * `ig-search train` and `ig-search eval` on real artifacts: a model directory (HF config.json +
 * safetensors + tokenizer.json), Search-R1 data JSONL, and a corpus JSONL (BM25 in Wasm) or a
 * Search-R1 retrieval server. Training writes `OUT/metrics.jsonl` and checkpoints `OUT/step-N/`
 * (each a loadable model directory, or PEFT adapters with `--lora`); `--resume` continues from
 * `OUT/latest`; Ctrl-C finishes the step and writes a final checkpoint; a lost GPU device ends
 * with a message naming the checkpoint to resume from.
 */
import { readFile } from 'node:fs/promises';
import { IgSearchError } from '../errors.js';
import { Gpu } from '../gpu/device.js';
import { LORA_TARGETS, LoraAdapters } from '../model/lora.js';
import { readModelConfig } from '../model/config.js';
import { CausalLM } from '../model/causal_lm.js';
import { Bm25Index } from '../retrieval/bm25.js';
import { parseCorpusJsonl, parseQuestionsJsonl, type Passage, type Question } from '../retrieval/corpus.js';
import { Bm25Retriever, HttpRetriever, type Retriever } from '../retrieval/retriever.js';
import { appendOnly, refuseLink, writeFileAtomic } from '../platform/files.js';
import { latestCheckpoint } from '../rl/training_checkpoint.js';
import { evaluate, trainingRun } from '../rl/loop.js';
import { IgSearchTrainer, resolveTrainerConfig } from '../rl/trainer.js';
import { formatSignalTable, measureSignals } from '../rl/signal.js';
import { ALGORITHM_SPECS, ALGORITHMS, checkAlgorithm, RUN_DEFAULTS, SAMPLING_DEFAULTS, TRAINER_DEFAULTS } from '../defaults.js';
import { searchR1PromptTokens } from '../rollout/search_r1.js';
import { loadTokenizer, tokenizerFiles } from '../tokenizer/load.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadWasmCore, type WasmCore } from '../wasm/core.js';
import { interruptible, numberFlag, outputDirectory, parseOptions, readText, resolveModel, stopTokensOf } from './args.js';
import { openDenseRetriever } from './dense_index.js';
import { ProgressBar } from './progress.js';

const T = TRAINER_DEFAULTS;
const R = RUN_DEFAULTS;
export const TRAIN_USAGE = `  train --model DIR|ORG/NAME --data FILE.jsonl (--corpus FILE.jsonl | --retriever URL) --out DIR
        [--algo ${ALGORITHMS.join('|')}] [--steps ${R.steps}] [--questions ${R.questionsPerStep}] [--group ${T.groupSize}] [--lr ${T.lr}]
        [--lambda ${T.lambda}] [--clip ${T.clip}] [--kl ${T.klBeta}] [--weight-decay ${T.weightDecay}] [--reference] [--lora RANK]
        [--max-turns ${T.maxTurns}] [--max-tokens ${T.maxTokens}] [--docs ${T.docsPerSearch}] [--micro-batch ${T.microBatchRows}] [--seed ${T.seed}]
        [--checkpoint-every ${R.checkpointEvery}] [--eval-data FILE] [--eval-every N] [--resume] [--skip-bad-lines]
        [--retriever dense|hybrid --index FILE [--encoder DIR|ORG/NAME]] (dense search on the GPU over --corpus, index from ig-search index)
                               RL training with step-level IG rewards (or plain GRPO)`;
export const EVAL_USAGE = `  eval --model DIR|ORG/NAME --data FILE.jsonl (--corpus FILE.jsonl | --retriever URL) [--lora DIR]
        [--max-turns ${T.maxTurns}] [--max-tokens ${T.maxTokens}] [--docs ${T.docsPerSearch}] [--limit N] [--skip-bad-lines] [--json]
        [--retriever dense|hybrid --index FILE [--encoder DIR|ORG/NAME]]
                               greedy exact match, split by hops when the data has them`;
export const SIGNAL_USAGE = `  signal --model DIR|ORG/NAME --data FILE.jsonl --corpus FILE.jsonl [--group ${T.groupSize}] [--limit N] [--batch 8] [--lora DIR]
        [--max-turns ${T.maxTurns}] [--max-tokens ${T.maxTokens}] [--docs ${T.docsPerSearch}] [--seed ${T.seed}] [--gammas 0.5,1] [--skip-bad-lines] [--json]
                               does each step signal (IG, shaped IG, IG-Search-γ's forward credit, IGPO, StepSearch) rank
                               queries by quality? AUC of precise vs vague / redundant searches, labelled from the data's
                               "supporting" ids; no update. --gammas adds forward credit at other γ (ig_gamma@γ)`;

interface Sources {
  core: WasmCore;
  tokenizer: Tokenizer;
  questions: Question[];
  index?: Bm25Index;
  /** The rollouts' retriever; a dense or hybrid one loads its encoder and index onto `gpu`. */
  openRetriever(gpu: Gpu): Promise<{ retriever: Retriever; free(): void }>;
}

interface SourceFlags {
  model?: string;
  data?: string;
  corpus?: string;
  retriever?: string;
  index?: string;
  encoder?: string;
  'skip-bad-lines'?: boolean;
}

async function loadSources(values: SourceFlags, command: string, maxTokens: number): Promise<Sources> {
  if (!values.model || !values.data) throw new IgSearchError('INVALID_ARGUMENT', `${command}: --model DIR and --data FILE.jsonl are required`);
  if (!values.corpus && !values.retriever) throw new IgSearchError('INVALID_ARGUMENT', `${command}: give --corpus FILE.jsonl or --retriever URL|dense|hybrid`);
  const mode = values.retriever === 'dense' || values.retriever === 'hybrid' ? values.retriever : undefined;
  if (mode && (!values.corpus || !values.index)) throw new IgSearchError('INVALID_ARGUMENT', `${command} --retriever ${mode}: give --corpus FILE.jsonl (the passages) and --index FILE (their dense index, from ig-search index)`);
  if (!mode && (values.index !== undefined || values.encoder !== undefined)) throw new IgSearchError('INVALID_ARGUMENT', `${command}: --index and --encoder apply to --retriever dense or hybrid`);
  const http = values.retriever && !mode ? new HttpRetriever(values.retriever) : undefined; // the URL is checked here, before loading
  values.model = await resolveModel(values.model); // a Hub id becomes its cached snapshot directory
  const modelDir = values.model;
  const core = await loadWasmCore();
  const tokenizer = await loadTokenizer(core, modelDir);
  const { maxPositions } = readModelConfig(await readText(`${modelDir}/config.json`), `${modelDir}/config.json`);
  const skipBadLines = values['skip-bad-lines'] ?? false;
  const data = parseQuestionsJsonl(await readText(values.data), { source: values.data, skipBadLines });
  for (const s of data.skipped) console.error(`${values.data}:${s.line}: skipped (${s.reason})`);
  // A question whose prompt leaves no room for the trajectory would stop the run at the step that draws it.
  const questions = data.questions.filter((q, i) => {
    const prompt = searchR1PromptTokens(tokenizer, q.question).length;
    if (prompt + maxTokens <= maxPositions) return true;
    const problem = `the prompt is ${prompt} tokens: with --max-tokens ${maxTokens} it exceeds the model's ${maxPositions} positions`;
    if (!skipBadLines) throw new IgSearchError('INVALID_ARGUMENT', `${values.data}:${data.lines[i]}: ${problem}`, { hint: 'shorten the question or lower --max-tokens; --skip-bad-lines skips such lines' });
    console.error(`${values.data}:${data.lines[i]}: skipped (${problem})`);
    return false;
  });
  if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `${values.data}: no questions`);
  let index: Bm25Index | undefined;
  let passages: Passage[] = [];
  if (values.corpus) {
    const corpus = parseCorpusJsonl(await readText(values.corpus), { source: values.corpus, skipBadLines });
    for (const s of corpus.skipped) console.error(`${values.corpus}:${s.line}: skipped (${s.reason})`);
    if (corpus.passages.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `${values.corpus}: no passages`, { hint: 'a corpus is Search-R1 JSONL, one {"id", "contents"} per line' });
    passages = corpus.passages;
    index = Bm25Index.build(core, passages);
  }
  const openRetriever = async (gpu: Gpu): Promise<{ retriever: Retriever; free(): void }> => {
    if (!mode) return { retriever: http ?? new Bm25Retriever(index!), free: () => {} };
    return openDenseRetriever(gpu, core, { command, indexPath: values.index!, passages, encoder: values.encoder, bm25: mode === 'hybrid' ? index : undefined });
  };
  return { core, tokenizer, questions, index, openRetriever };
}

/**
 * Drops the records of steps after `step` from a run's metrics.jsonl (they were run after the
 * checkpoint a resume starts from, and will be run again), rewriting the file atomically.
 */
async function truncateMetrics(path: string, step: number): Promise<void> {
  await refuseLink(path, 'metrics file');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return;
  }
  const kept = text.split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      return !((JSON.parse(line) as { step?: number }).step! > step);
    } catch {
      return false; // a line cut by the crash
    }
  });
  await writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
}

const SAMPLING = {
  'max-turns': { type: 'string', default: String(SAMPLING_DEFAULTS.maxTurns) },
  'max-tokens': { type: 'string', default: String(SAMPLING_DEFAULTS.maxTokens) },
  docs: { type: 'string', default: String(SAMPLING_DEFAULTS.docsPerSearch) },
  'skip-bad-lines': { type: 'boolean', default: false },
  model: { type: 'string' },
  data: { type: 'string' },
  corpus: { type: 'string' },
  retriever: { type: 'string' },
  index: { type: 'string' },
  encoder: { type: 'string' },
} as const;

export async function train(argv: string[]): Promise<number> {
  const values = parseOptions('train', argv, {
    ...SAMPLING,
    out: { type: 'string' },
    algo: { type: 'string', default: T.algo },
    steps: { type: 'string', default: String(R.steps) },
    questions: { type: 'string', default: String(R.questionsPerStep) },
    group: { type: 'string', default: String(T.groupSize) },
    lr: { type: 'string', default: String(T.lr) },
    lambda: { type: 'string', default: String(T.lambda) },
    clip: { type: 'string', default: String(T.clip) },
    kl: { type: 'string', default: String(T.klBeta) },
    'weight-decay': { type: 'string', default: String(T.weightDecay) },
    'micro-batch': { type: 'string', default: String(T.microBatchRows) },
    reference: { type: 'boolean', default: false },
    lora: { type: 'string' },
    seed: { type: 'string', default: String(T.seed) },
    'checkpoint-every': { type: 'string', default: String(R.checkpointEvery) },
    'eval-data': { type: 'string' },
    'eval-every': { type: 'string', default: String(R.evalEvery) },
    resume: { type: 'boolean', default: false },
  });
  if (!values.out) throw new IgSearchError('INVALID_ARGUMENT', 'train: --out DIR is required (checkpoints and metrics.jsonl go there)');
  const algo = checkAlgorithm(values.algo, '--algo');
  if (ALGORITHM_SPECS[algo].corpus && !values.corpus) throw new IgSearchError('INVALID_ARGUMENT', `train: --algo ${algo} needs --corpus (counterfactual documents / TF-IDF statistics come from the corpus), also with --retriever`);
  const out = values.out.replace(/\/$/, '');
  // Every flag is checked before anything is loaded or written.
  const steps = numberFlag(values.steps, '--steps', { positive: true });
  const questionsPerStep = numberFlag(values.questions, '--questions', { positive: true });
  const evalEvery = numberFlag(values['eval-every'], '--eval-every');
  const checkpointEvery = numberFlag(values['checkpoint-every'], '--checkpoint-every');
  const rank = values.lora === undefined ? undefined : numberFlag(values.lora, '--lora', { positive: true });
  const config = resolveTrainerConfig({
    algo,
    groupSize: numberFlag(values.group, '--group', { positive: true }),
    lr: numberFlag(values.lr, '--lr', { integer: false, positive: true }),
    lambda: numberFlag(values.lambda, '--lambda', { integer: false }),
    clip: numberFlag(values.clip, '--clip', { integer: false, positive: true }),
    klBeta: numberFlag(values.kl, '--kl', { integer: false }),
    weightDecay: numberFlag(values['weight-decay'], '--weight-decay', { integer: false }),
    microBatchRows: numberFlag(values['micro-batch'], '--micro-batch', { positive: true }),
    maxTurns: numberFlag(values['max-turns'], '--max-turns'),
    maxTokens: numberFlag(values['max-tokens'], '--max-tokens', { positive: true }),
    docsPerSearch: numberFlag(values.docs, '--docs', { positive: true }),
    seed: numberFlag(values.seed, '--seed'),
  });
  if (!values.model || !values.data) throw new IgSearchError('INVALID_ARGUMENT', 'train: --model DIR and --data FILE.jsonl are required');
  const latest = values.resume ? await latestCheckpoint(out) : undefined;
  if (values.resume && !latest) console.error(`--resume: no checkpoint under ${out} yet, starting from ${values.model}`);
  if (!values.resume) {
    // A directory with step directories is a run, whatever `latest` says (missing, broken, elsewhere).
    const existing = await latestCheckpoint(out);
    if (existing) {
      throw new IgSearchError('CHECKPOINT_INCOMPLETE', `train: ${out} already holds a run (newest checkpoint: ${existing}); starting over would replace its checkpoints`, {
        hint: 'pass --resume to continue it, or give another --out',
      });
    }
  }
  const { core, tokenizer, questions, index, openRetriever } = await loadSources(values, 'train', config.maxTokens);
  const modelDir = values.model!; // resolved by loadSources (a Hub id is now its snapshot directory)
  let evalQuestions: Question[] | undefined;
  if (values['eval-data']) {
    const parsed = parseQuestionsJsonl(await readText(values['eval-data']), { source: values['eval-data'], skipBadLines: values['skip-bad-lines'] });
    for (const s of parsed.skipped) console.error(`${values['eval-data']}:${s.line}: skipped (${s.reason})`);
    evalQuestions = parsed.questions;
  }
  await outputDirectory(out, '--out');

  const gpu = await Gpu.request();
  const interrupt = interruptible('writing a checkpoint');
  const models: CausalLM[] = [];
  let opened: { retriever: Retriever; free(): void } | undefined;
  try {
    opened = await openRetriever(gpu);
    const retriever = opened.retriever;
    const lora = rank !== undefined;
    // A full fine-tune resumes from the checkpoint's weights (f32 master weights); LoRA from the base plus the
    // saved adapters, the frozen base stored as exact bf16 when the checkpoint is BF16 (half the memory).
    const model = await CausalLM.load(gpu, latest && !lora ? latest : modelDir, lora ? {} : { weights: 'f32' });
    models.push(model);
    let adapters: LoraAdapters | undefined;
    if (lora) {
      adapters = latest ? await LoraAdapters.load(model, latest) : LoraAdapters.create(model, { rank: rank!, alpha: 2 * rank!, targets: [...LORA_TARGETS], seed: config.seed });
    }
    const reference = values.reference && !lora ? await CausalLM.load(gpu, modelDir) : undefined;
    if (reference) models.push(reference);
    const trainer = new IgSearchTrainer(
      gpu,
      core,
      model,
      tokenizer,
      index,
      {
        ...config,
        stopTokens: stopTokensOf(tokenizer),
        retriever,
        reference,
      },
      adapters,
    );
    if (latest) {
      const state = await trainer.restore(latest);
      console.error(`resuming from ${latest} (step ${state.step})`);
      await truncateMetrics(`${out}/metrics.jsonl`, state.step);
    }
    if (trainer.steps >= steps) {
      console.error(`already at step ${trainer.steps} of ${steps}: nothing to do`);
      return 0;
    }
    const bar = new ProgressBar(steps - trainer.steps);
    const first = trainer.steps;
    let writes = Promise.resolve();
    const copied = await tokenizerFiles(modelDir);
    const metrics = await appendOnly(`${out}/metrics.jsonl`);
    const result = await trainingRun(trainer, {
      run: values.algo,
      train: questions,
      eval: evalQuestions,
      steps,
      questionsPerStep,
      evalEvery,
      checkpointDir: out,
      checkpointEvery,
      checkpointFiles: lora ? {} : copied,
      signal: interrupt.signal,
      onEvent: (e) => {
        if (e.type === 'progress') return bar.update(e.step - first, `${values.algo} step ${e.step}/${steps}`, e.phase === 'eval' ? 'evaluating' : '');
        writes = writes.then(() => metrics.append(`${JSON.stringify(e)}\n`));
        if (e.type === 'step') {
          const t = e.timing;
          const total = Object.values(t).reduce((a, b) => a + b, 0);
          bar.update(e.step - first, `${values.algo} step ${e.step}/${steps}`, `reward ${e.reward.toFixed(2)} loss ${e.loss.toFixed(4)} ‖∇‖ ${e.gradNorm.toFixed(3)} IG ${((t.ig / total) * 100).toFixed(1)}%${e.retrievalFailures ? ` retrieval failures ${e.retrievalFailures}` : ''}`);
        }
        if (e.type === 'eval') bar.log(`step ${e.step}: eval EM ${(e.em * 100).toFixed(1)}% on ${e.n}`);
        if (e.type === 'checkpoint') bar.log(`checkpoint ${e.path}`);
      },
    });
    await writes;
    await metrics.close();
    bar.done();
    console.log(`${result.aborted ? 'stopped' : 'done'} at step ${result.steps}; last checkpoint ${result.lastCheckpoint ?? '(none)'}; metrics in ${out}/metrics.jsonl`);
    trainer.free();
    return result.aborted ? 130 : 0;
  } finally {
    interrupt.dispose();
    for (const m of models) m.free();
    opened?.free();
    index?.free();
    gpu.destroy();
  }
}

export async function evalCommand(argv: string[]): Promise<number> {
  const values = parseOptions('eval', argv, { ...SAMPLING, lora: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean', default: false } });
  const maxTokens = numberFlag(values['max-tokens'], '--max-tokens', { positive: true });
  const { core, tokenizer, questions, index, openRetriever } = await loadSources(values, 'eval', maxTokens);
  const limit = values.limit === undefined ? questions.length : numberFlag(values.limit, '--limit', { positive: true });
  const gpu = await Gpu.request();
  let opened: { retriever: Retriever; free(): void } | undefined;
  try {
    opened = await openRetriever(gpu);
    const retriever = opened.retriever;
    const model = await CausalLM.load(gpu, values.model!);
    const adapters = values.lora ? await LoraAdapters.load(model, values.lora) : undefined;
    const report = await evaluate(model, core, tokenizer, retriever, questions.slice(0, limit), {
      adapters,
      maxTurns: numberFlag(values['max-turns'], '--max-turns'),
      maxTokens,
      docsPerSearch: numberFlag(values.docs, '--docs', { positive: true }),
      stopTokens: stopTokensOf(tokenizer),
    });
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`exact match ${(report.em * 100).toFixed(1)}% on ${report.n} questions (${report.searchesPerQuestion.toFixed(2)} searches each, ${(report.ms / 1000).toFixed(1)} s)`);
      for (const [hops, v] of Object.entries(report.byHops).sort()) if (hops !== '?') console.log(`  ${hops}-hop: ${(v.em * 100).toFixed(1)}% of ${v.n}`);
    }
    model.free();
    return 0;
  } finally {
    opened?.free();
    index?.free();
    gpu.destroy();
  }
}

export async function signalCommand(argv: string[]): Promise<number> {
  const values = parseOptions('signal', argv, { ...SAMPLING, lora: { type: 'string' }, limit: { type: 'string' }, group: { type: 'string', default: String(T.groupSize) }, batch: { type: 'string', default: '8' }, seed: { type: 'string', default: String(T.seed) }, gammas: { type: 'string' }, json: { type: 'boolean', default: false } });
  const gammas = (values.gammas ?? '').split(',').filter((g) => g.trim() !== '').map((g) => {
    const v = Number(g);
    if (!(Number.isFinite(v) && v >= 0 && v <= 1)) throw new IgSearchError('INVALID_ARGUMENT', `--gammas: "${g}" is not a number in [0, 1]`);
    return v;
  });
  if (!values.corpus) throw new IgSearchError('INVALID_ARGUMENT', 'signal: --corpus FILE.jsonl is required (IG\'s counterfactual documents and StepSearch\'s TF-IDF come from it)');
  if (values.retriever !== undefined) throw new IgSearchError('INVALID_ARGUMENT', 'signal: searches with BM25 over --corpus (its labels come from that corpus); --retriever does not apply');
  const maxTokens = numberFlag(values['max-tokens'], '--max-tokens', { positive: true });
  const groupSize = numberFlag(values.group, '--group', { positive: true });
  const batch = numberFlag(values.batch, '--batch', { positive: true });
  const seed = numberFlag(values.seed, '--seed');
  const { core, tokenizer, questions, index } = await loadSources(values, 'signal', maxTokens);
  const limit = values.limit === undefined ? questions.length : numberFlag(values.limit, '--limit', { positive: true });
  const gpu = await Gpu.request();
  try {
    const model = await CausalLM.load(gpu, values.model!);
    const adapters = values.lora ? await LoraAdapters.load(model, values.lora) : undefined;
    const trainer = new IgSearchTrainer(gpu, core, model, tokenizer, index, { algo: 'ig-search', groupSize, maxTokens, maxTurns: numberFlag(values['max-turns'], '--max-turns'), docsPerSearch: numberFlag(values.docs, '--docs', { positive: true }), seed, stopTokens: stopTokensOf(tokenizer) }, adapters);
    const picked = questions.slice(0, limit);
    const bar = values.json ? undefined : new ProgressBar(picked.length);
    const started = performance.now();
    const m = await measureSignals(trainer, picked, { batch, gammas, onProgress: (done) => bar?.update(done, 'signal', `${done}/${picked.length} questions`) });
    bar?.done();
    if (values.json) console.log(JSON.stringify({ ...m, records: undefined, seconds: (performance.now() - started) / 1000 }, null, 2));
    else console.log(`${formatSignalTable(m)}\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
    model.free();
    return 0;
  } finally {
    index?.free();
    gpu.destroy();
  }
}

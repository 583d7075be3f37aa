/**
 * `ig-search sft`: builds the synthetic world, trains its BPE tokenizer, creates the tiny Qwen2 demo
 * policy and warm-starts it on scripted search trajectories; writes a model directory that
 * `ig-search run` (and later `demo`) loads, with the world's corpus and questions beside it.
 */
import { IgSearchError } from '../errors.js';
import { Gpu } from '../gpu/device.js';
import { readModelConfig } from '../model/config.js';
import { CausalLM } from '../model/causal_lm.js';
import { randomModelTensors } from '../model/random.js';
import { Bm25Index } from '../retrieval/bm25.js';
import { saveModelDirectory } from '../rl/training_checkpoint.js';
import { supervisedWarmStart } from '../rl/sft.js';
import { searchR1Prompt } from '../rollout/search_r1.js';
import { trainTokenizerJson } from '../tokenizer/train.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadWasmCore } from '../wasm/core.js';
import { buildWorld, worldCorpusJsonl, worldQuestionsJsonl } from '../world/world.js';
import { canonicalJson } from '../compare/preregister.js';
import { numberFlag, outputDirectory, parseOptions, readText } from './args.js';

/**
 * The demo world: 6,000 questions over 1,812 passages (2,800 1-hop, 2,800 2-hop, 400 3-hop), split by
 * entity into 3,416 train, 543 validation and 2,041 test questions (seed 1) — more distinct people
 * and films than a 0.4M-parameter policy can memorise, so a policy passes validation only by
 * copying the question's entity into its query.
 */
export const SFT_WORLD = { people: 1200, films: 400, companies: 60, cities: 40, countries: 12, distractors: 100, testFraction: 0.34, validationFraction: 0.09 } as const;

/** The demo policy's shape (a tiny Qwen2); --init keeps the earlier run's. */
export const SFT_MODEL = { hidden: 96, layers: 3, heads: 4, kvHeads: 2, intermediate: 256 } as const;

export const SFT_USAGE = `  sft --out DIR [--init DIR] [--seed 1] [--steps 1000] [--batch 4] [--lr 0.003] [--lr-schedule constant|cosine]
        [--hidden ${SFT_MODEL.hidden}] [--layers ${SFT_MODEL.layers}] [--heads ${SFT_MODEL.heads}] [--kv-heads ${SFT_MODEL.kvHeads}] [--intermediate ${SFT_MODEL.intermediate}] [--people ${SFT_WORLD.people}] [--films ${SFT_WORLD.films}]
        [--companies ${SFT_WORLD.companies}] [--cities ${SFT_WORLD.cities}] [--countries ${SFT_WORLD.countries}] [--distractors ${SFT_WORLD.distractors}] [--test-fraction ${SFT_WORLD.testFraction}]
        [--validation-fraction ${SFT_WORLD.validationFraction}] [--augment 0] [--augment-fraction 0.5]
                               warm-start the tiny demo policy on the synthetic world (writes a model directory);
                               --init continues from an earlier sft directory of the same world (its weights and tokenizer);
                               --augment N mixes in N worlds of fresh names (--augment-fraction of each batch), so the
                               policy learns to copy a question's entity instead of memorising the world's`;

const TAGS = ['<think>', '</think>', '<search>', '</search>', '<information>', '</information>', '<answer>', '</answer>'];

export async function sft(argv: string[]): Promise<number> {
  const values = parseOptions('sft', argv, {
    out: { type: 'string' },
    init: { type: 'string' },
    'lr-schedule': { type: 'string', default: 'constant' },
    hidden: { type: 'string', default: String(SFT_MODEL.hidden) },
    layers: { type: 'string', default: String(SFT_MODEL.layers) },
    heads: { type: 'string', default: String(SFT_MODEL.heads) },
    'kv-heads': { type: 'string', default: String(SFT_MODEL.kvHeads) },
    intermediate: { type: 'string', default: String(SFT_MODEL.intermediate) },
    seed: { type: 'string', default: '1' },
    steps: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '4' },
    lr: { type: 'string', default: '0.003' },
    people: { type: 'string', default: String(SFT_WORLD.people) },
    films: { type: 'string', default: String(SFT_WORLD.films) },
    companies: { type: 'string', default: String(SFT_WORLD.companies) },
    cities: { type: 'string', default: String(SFT_WORLD.cities) },
    countries: { type: 'string', default: String(SFT_WORLD.countries) },
    distractors: { type: 'string', default: String(SFT_WORLD.distractors) },
    'test-fraction': { type: 'string', default: String(SFT_WORLD.testFraction) },
    'validation-fraction': { type: 'string', default: String(SFT_WORLD.validationFraction) },
    augment: { type: 'string', default: '0' },
    'augment-fraction': { type: 'string', default: '0.5' },
  });
  if (!values.out) throw new IgSearchError('INVALID_ARGUMENT', 'sft: --out DIR is required');
  await outputDirectory(values.out, '--out'); // before minutes of training, not at the save
  const n = (v: string, flag: string) => numberFlag(v, flag, { integer: false, positive: true });
  const seed = numberFlag(values.seed, '--seed');
  const core = await loadWasmCore();
  const worldOptions = {
    seed,
    people: n(values.people, '--people'),
    films: n(values.films, '--films'),
    companies: n(values.companies, '--companies'),
    cities: n(values.cities, '--cities'),
    countries: n(values.countries, '--countries'),
    distractors: n(values.distractors, '--distractors'),
    testFraction: Number(values['test-fraction']),
    validationFraction: Number(values['validation-fraction']),
  };
  const schedule = values['lr-schedule'];
  if (schedule !== 'constant' && schedule !== 'cosine') throw new IgSearchError('INVALID_ARGUMENT', `--lr-schedule: "${schedule}" is not constant or cosine`);
  const world = buildWorld(worldOptions);
  // Continuing: the earlier run's tokenizer and weights, which only fit the world they were trained on.
  const earlier = values.init ? await readEarlierSft(values.init, worldOptions) : undefined;
  const texts = [...world.passages.map((p) => p.contents), searchR1Prompt('x'), ...world.questions.map((q) => q.question), 'I need to find out about more I have the answer.'];
  const tokenizerJson = earlier ? JSON.parse(await readText(`${values.init}/tokenizer.json`)) : trainTokenizerJson(core, texts, { vocabSize: 1000, specialTokens: TAGS });
  const tokenizer = Tokenizer.fromJSON(core, tokenizerJson);
  const shape = (flag: 'hidden' | 'layers' | 'heads' | 'kv-heads' | 'intermediate') => numberFlag(values[flag], `--${flag}`, { positive: true });
  const config = readModelConfig({ model_type: 'qwen2', hidden_size: shape('hidden'), intermediate_size: shape('intermediate'), num_hidden_layers: shape('layers'), num_attention_heads: shape('heads'), num_key_value_heads: shape('kv-heads'), vocab_size: tokenizer.vocabSize, max_position_embeddings: 2048, tie_word_embeddings: true });
  const index = Bm25Index.build(core, world.passages);
  // Fresh-name worlds: the world's shape under other seeds (their own corpora; every question used).
  const augmentCount = numberFlag(values.augment, '--augment');
  const augmentFraction = Number(values['augment-fraction']);
  if (!(augmentFraction >= 0 && augmentFraction <= 1)) throw new IgSearchError('INVALID_ARGUMENT', `--augment-fraction: must be in [0, 1], got ${values['augment-fraction']}`);
  const augment = Array.from({ length: augmentCount }, (_, k) => {
    const fresh = buildWorld({ ...worldOptions, seed: freshSeed(seed, k) });
    return { world: fresh, index: Bm25Index.build(core, fresh.passages) };
  });
  const gpu = await Gpu.request();
  try {
    const model = earlier ? await CausalLM.load(gpu, values.init!, { weights: 'f32' }) : await CausalLM.create(gpu, config, randomModelTensors(config, seed));
    const steps = n(values.steps, '--steps');
    const started = performance.now();
    const losses = await supervisedWarmStart(gpu, model, tokenizer, world, index, {
      steps,
      batch: n(values.batch, '--batch'),
      lr: n(values.lr, '--lr'),
      lrSchedule: schedule,
      seed: earlier ? seed + earlier.runs : seed,
      augment,
      augmentFraction,
      onStep: (step, loss) => {
        const elapsed = (performance.now() - started) / 1000;
        const eta = (elapsed / step) * (steps - step);
        process.stderr.write(`\rsft ${step}/${steps}  loss ${loss.toFixed(3)}  ${elapsed.toFixed(0)} s elapsed, ~${eta.toFixed(0)} s left   `);
      },
    });
    process.stderr.write('\n');
    await saveModelDirectory(values.out, model, {
      'tokenizer.json': JSON.stringify(tokenizerJson),
      'corpus.jsonl': worldCorpusJsonl(world),
      'train.jsonl': worldQuestionsJsonl(world, 'train'),
      'validation.jsonl': worldQuestionsJsonl(world, 'validation'),
      'test.jsonl': worldQuestionsJsonl(world, 'test'),
      'sft.json': JSON.stringify(
        {
          seed,
          steps: steps + (earlier?.steps ?? 0),
          batch: n(values.batch, '--batch'),
          lr: n(values.lr, '--lr'),
          lrSchedule: schedule,
          world: worldOptions,
          ...(augmentCount > 0 ? { augment: { worlds: augment.map((a) => a.world.seed), fraction: augmentFraction } } : {}),
          command: `ig-search sft ${argv.join(' ')}`,
          ...(earlier ? { continued: earlier.record } : {}),
          losses,
        },
        null,
        2,
      ),
    });
    console.log(`wrote ${values.out}: final loss ${losses[losses.length - 1]!.toFixed(3)} after ${steps} steps (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    model.free();
    return 0;
  } finally {
    index.free();
    for (const a of augment) a.index.free();
    gpu.destroy();
  }
}

/** The seed of fresh-name world `k` for a run of seed `seed` (far from any seed a user picks for the world). */
function freshSeed(seed: number, k: number): number {
  return (seed * 7919 + 100_003 * (k + 1)) >>> 0;
}

interface SftRecord {
  steps: number;
  world: Record<string, unknown>;
  command?: string;
  losses?: number[];
  continued?: SftRecord;
}

/** The sft.json of the run `--init` continues: its world must be this one (its tokenizer and weights were trained on it). */
async function readEarlierSft(dir: string, world: Record<string, unknown>): Promise<{ steps: number; runs: number; record: Omit<SftRecord, 'losses'> & { losses: number[] } }> {
  const text = await readText(`${dir}/sft.json`);
  let record: SftRecord;
  try {
    record = JSON.parse(text) as SftRecord;
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `--init: ${dir}/sft.json is not JSON (${(e as Error).message})`, { cause: e, hint: '--init takes a directory written by ig-search sft' });
  }
  if (canonicalJson(record.world) !== canonicalJson(world)) {
    throw new IgSearchError('INVALID_ARGUMENT', `--init: ${dir} was trained on another world (${canonicalJson(record.world)}); give the same world flags (${canonicalJson(world)})`);
  }
  let runs = 1;
  for (let r = record.continued; r; r = r.continued) runs++;
  return { steps: record.steps, runs, record: { ...record, losses: record.losses ?? [] } };
}

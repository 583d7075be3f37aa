/**
 * `ig-search run`: one search-agent trajectory, printed with its retrieved documents. The model
 * directory holds config.json, safetensors and tokenizer.json; documents come from a Search-R1
 * corpus JSONL (BM25 in Wasm) or a Search-R1 retrieval server.
 */
import { IgSearchError } from '../errors.js';
import { Gpu } from '../gpu/device.js';
import { SAMPLING_DEFAULTS } from '../defaults.js';
import { CausalLM } from '../model/causal_lm.js';
import { Bm25Index } from '../retrieval/bm25.js';
import { Bm25Retriever, HttpRetriever, type Retriever } from '../retrieval/retriever.js';
import { rolloutSearchAgent, searchR1PromptTokens } from '../rollout/search_r1.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { loadWasmCore } from '../wasm/core.js';
import { inferenceWeights, numberFlag, parseOptions, readText, resolveModel, stopTokensOf } from './args.js';

export const RUN_USAGE = `  run --model DIR|ORG/NAME --question TEXT (--corpus FILE.jsonl | --retriever URL)
        [--max-turns ${SAMPLING_DEFAULTS.maxTurns}] [--max-tokens ${SAMPLING_DEFAULTS.maxTokens}] [--docs ${SAMPLING_DEFAULTS.docsPerSearch}] [--temperature 0] [--seed 0] [--weights auto|f32|bf16|f16] [--json]
                               one search-agent trajectory with its retrieved documents`;

export async function run(argv: string[]): Promise<number> {
  const values = parseOptions('run', argv, {
    model: { type: 'string' },
    question: { type: 'string' },
    corpus: { type: 'string' },
    retriever: { type: 'string' },
    'max-turns': { type: 'string', default: String(SAMPLING_DEFAULTS.maxTurns) },
    'max-tokens': { type: 'string', default: String(SAMPLING_DEFAULTS.maxTokens) },
    docs: { type: 'string', default: String(SAMPLING_DEFAULTS.docsPerSearch) },
    temperature: { type: 'string', default: '0' },
    seed: { type: 'string', default: '0' },
    weights: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
  });
  if (!values.model || !values.question) throw new IgSearchError('INVALID_ARGUMENT', 'run: --model DIR and --question TEXT are required');
  if (!values.corpus === !values.retriever) throw new IgSearchError('INVALID_ARGUMENT', 'run: give exactly one of --corpus FILE.jsonl or --retriever URL');
  const core = await loadWasmCore();
  const dir = await resolveModel(values.model);
  const weights = inferenceWeights(values.weights);
  const tokenizer = await loadTokenizer(core, dir);
  let retriever: Retriever;
  let index: Bm25Index | undefined;
  if (values.corpus) {
    index = Bm25Index.fromJsonl(core, await readText(values.corpus));
    retriever = new Bm25Retriever(index);
  } else {
    retriever = new HttpRetriever(values.retriever!);
  }
  const prompt = Array.from(searchR1PromptTokens(tokenizer, values.question));
  const stopTokens = stopTokensOf(tokenizer);

  const gpu = await Gpu.request();
  try {
    const model = await CausalLM.load(gpu, dir, { weights });
    const started = performance.now();
    const [t] = await rolloutSearchAgent(model, [prompt], {
      tokenizer,
      retriever,
      maxTurns: numberFlag(values['max-turns'], '--max-turns'),
      maxTokens: numberFlag(values['max-tokens'], '--max-tokens'),
      docsPerSearch: numberFlag(values.docs, '--docs'),
      temperature: numberFlag(values.temperature, '--temperature', { integer: false }),
      seed: numberFlag(values.seed, '--seed'),
      stopTokens,
    });
    const seconds = (performance.now() - started) / 1000;
    const trajectory = t!;
    if (values.json) {
      console.log(JSON.stringify({ question: values.question, answer: trajectory.answer ?? null, finish: trajectory.finish, error: trajectory.error, searches: trajectory.searches, tokens: trajectory.tokens.length, text: trajectory.text, seconds }, null, 2));
    } else {
      const dim = process.stdout.isTTY ? (s: string) => `\x1b[2m${s}\x1b[0m` : (s: string) => s;
      console.log(`question: ${values.question}\n`);
      console.log(trajectory.text.replace(/\n*<information>[\s\S]*?<\/information>\n*/g, (block) => dim(block)));
      console.log(`\nsearches: ${trajectory.searches.length}`);
      trajectory.searches.forEach((s, i) => {
        console.log(`  ${i + 1}. "${s.query}"`);
        for (const d of s.documents) console.log(`     - ${d.title} (${d.score.toFixed(2)}): ${d.text.slice(0, 100)}${d.text.length > 100 ? '…' : ''}`);
      });
      console.log(`answer: ${trajectory.answer ?? '(none)'}   finish: ${trajectory.finish}${trajectory.error ? ` (${trajectory.error})` : ''}`);
      console.log(`(${trajectory.tokens.length} tokens in ${seconds.toFixed(1)} s on ${gpu.adapter.description || gpu.adapter.device})`);
    }
    model.free();
    index?.free();
    if (trajectory.finish === 'retrieval_failed') {
      console.error(`ig-search run: the retriever failed (${trajectory.error}); the answer above is incomplete`);
      return 1;
    }
    return 0;
  } finally {
    gpu.destroy();
  }
}

/**
 * `ig-search score`: teacher-forced log-probs of continuations after a prefix, from a model
 * directory (config.json + safetensors; tokenizer.json for text input).
 */
import { parseArgs } from 'node:util';
import { IgSearchError } from '../errors.js';
import { Gpu } from '../gpu/device.js';
import { CausalLM } from '../model/causal_lm.js';
import { currentPlatform } from '../platform/platform.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadWasmCore } from '../wasm/core.js';
import { inferenceWeights, resolveModel } from './args.js';

export const SCORE_USAGE = `  score --model DIR|ORG/NAME (--prefix TEXT | --prefix-ids 1,2,3) (--continuation TEXT | --continuation-ids 4,5)...
        [--weights auto|f32|bf16|f16] [--no-prefix-cache] [--json]
                               per-token log p(continuation | prefix) and its mean, for each continuation`;

function ids(text: string, flag: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (text.trim() === '' || parts.some((s) => s === '') || out.some((n) => !Number.isInteger(n) || n < 0)) throw new IgSearchError('INVALID_ARGUMENT', `${flag}: expected comma-separated token ids, got "${text}"`);
  return out;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prefix: { type: 'string' },
      'prefix-ids': { type: 'string' },
      continuation: { type: 'string', multiple: true },
      'continuation-ids': { type: 'string', multiple: true },
      weights: { type: 'string', default: 'auto' },
      'no-prefix-cache': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
}

export async function score(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `score: ${(e as Error).message}`, { cause: e });
  }
  const { values } = parsed;
  if (!values.model) throw new IgSearchError('INVALID_ARGUMENT', 'score: --model DIR is required');
  values.model = await resolveModel(values.model);
  const weights = inferenceWeights(values.weights);
  const texts = values.prefix !== undefined || (values.continuation?.length ?? 0) > 0;
  let tokenizer: Tokenizer | undefined;
  if (texts) {
    const path = `${values.model.replace(/\/$/, '')}/tokenizer.json`;
    let bytes: Uint8Array;
    try {
      bytes = await currentPlatform().readFile(path);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `score: text input needs ${path} (${(e as Error).message}); or pass --prefix-ids / --continuation-ids`, { cause: e });
    }
    tokenizer = Tokenizer.fromJSON(await loadWasmCore(), bytes);
  }
  const encode = (text: string) => Array.from(tokenizer!.encode(text, { addSpecialTokens: false }));
  const prefix = values['prefix-ids'] !== undefined ? ids(values['prefix-ids'], '--prefix-ids') : values.prefix !== undefined ? encode(values.prefix) : undefined;
  if (!prefix) throw new IgSearchError('INVALID_ARGUMENT', 'score: give --prefix TEXT or --prefix-ids');
  const continuations = [...(values['continuation-ids'] ?? []).map((c) => ids(c, '--continuation-ids')), ...(values.continuation ?? []).map(encode)];
  if (continuations.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'score: give at least one --continuation TEXT or --continuation-ids');

  const gpu = await Gpu.request();
  try {
    const model = await CausalLM.load(gpu, values.model, { weights });
    const started = performance.now();
    const scored = await model.scoreContinuations(prefix, continuations, { prefixCache: !values['no-prefix-cache'] });
    const seconds = (performance.now() - started) / 1000;
    if (values.json) {
      console.log(JSON.stringify({ prefix, weights: model.weightDtype, continuations: scored.map((s, i) => ({ ids: continuations[i], logprobs: Array.from(s.logprobs), mean: s.mean })), seconds }, null, 2));
    } else {
      scored.forEach((s, i) => {
        console.log(`continuation ${i + 1}: mean log p = ${s.mean.toFixed(4)} over ${s.logprobs.length} tokens`);
        continuations[i]!.forEach((id, j) => {
          const shown = tokenizer ? JSON.stringify(tokenizer.decode([id])) : String(id);
          console.log(`  ${shown.padEnd(16)} ${s.logprobs[j]!.toFixed(4)}`);
        });
      });
      console.log(`(${seconds.toFixed(2)} s on ${gpu.adapter.description || gpu.adapter.device})`);
    }
    model.free();
    return 0;
  } finally {
    gpu.destroy();
  }
}

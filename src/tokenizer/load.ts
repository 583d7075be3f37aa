/**
 * A model directory's (or base URL's) tokenizer: tokenizer.json, plus the chat template from
 * chat_template.jinja or tokenizer_config.json when the model has one.
 */
import { IgSearchError } from '../errors.js';
import { readFileIfExists } from '../platform/platform.js';
import type { WasmCore } from '../wasm/core.js';
import { ChatTemplate } from './chat_template.js';
import { Tokenizer } from './tokenizer.js';

async function readOptional(path: string): Promise<string | undefined> {
  const bytes = await readFileIfExists(path);
  return bytes && new TextDecoder().decode(bytes);
}

/** The tokenizer files a model directory has, by name (tokenizer.json required): what a checkpoint copies to stay a loadable model. */
export async function tokenizerFiles(dir: string): Promise<Record<string, string>> {
  const base = dir.replace(/\/$/, '');
  const names = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'] as const;
  const texts = await Promise.all(names.map((name) => readOptional(`${base}/${name}`)));
  if (texts[0] === undefined) throw new IgSearchError('INVALID_ARGUMENT', `${base}/tokenizer.json: not found`, { hint: 'a model directory holds config.json, *.safetensors and tokenizer.json' });
  return Object.fromEntries(names.flatMap((name, i) => (texts[i] === undefined ? [] : [[name, texts[i]!]])));
}

/** The tokenizer of a model directory or base URL, with the model's chat template when it has one. */
export async function loadTokenizer(core: WasmCore, dir: string): Promise<Tokenizer> {
  const base = dir.replace(/\/$/, '');
  const files = await tokenizerFiles(base);
  const tokenizer = Tokenizer.fromJSON(core, files['tokenizer.json']!);
  let config: unknown = {};
  if (files['tokenizer_config.json'] !== undefined) {
    try {
      config = JSON.parse(files['tokenizer_config.json']);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `${base}/tokenizer_config.json: not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  tokenizer.chatTemplate = ChatTemplate.fromTokenizerConfig(config, `${base}/tokenizer_config.json`, files['chat_template.jinja']);
  return tokenizer;
}

/** Chat-tuned vocabularies end the assistant turn with <|im_end|> / <|endoftext|>: those stop rollouts. */
export function stopTokensOf(tokenizer: Tokenizer): number[] {
  return [tokenizer.tokenToId('<|im_end|>'), tokenizer.tokenToId('<|endoftext|>')].filter((t): t is number => t !== undefined);
}

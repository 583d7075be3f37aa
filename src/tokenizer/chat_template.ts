/**
 * A model's own chat template: the Jinja `chat_template` of its `tokenizer_config.json` (or
 * `chat_template.jinja`), rendered with @huggingface/jinja — the engine transformers.js uses, so a
 * prompt here is the string the model saw in training. Templates that include the BOS token do so
 * themselves: encode the result with `addSpecialTokens: false`.
 */
import { Template } from '@huggingface/jinja';
import { IgSearchError } from '../errors.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

export interface ChatRenderOptions {
  /** End with the opening of the assistant's turn (default true: the model answers next). */
  addGenerationPrompt?: boolean;
  /** More template variables (e.g. `enable_thinking: false` for Qwen3). */
  variables?: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/** A special token given as a string or as an AddedToken object (`{content: ...}`). */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as Json)['content'] === 'string') return (value as Json)['content'] as string;
  return undefined;
}

export class ChatTemplate {
  private readonly compiled: Template;

  /** `source` is the template text; `file` names it in errors. */
  constructor(
    readonly source: string,
    readonly specialTokens: { bosToken?: string; eosToken?: string } = {},
    readonly file = 'chat_template',
  ) {
    try {
      this.compiled = new Template(source);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `${file}: the chat template does not parse: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * The template of a parsed `tokenizer_config.json`, or undefined when it has none. A list of
   * named templates gives the one named "default".
   */
  static fromTokenizerConfig(config: unknown, file = 'tokenizer_config.json', override?: string): ChatTemplate | undefined {
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new IgSearchError('INVALID_ARGUMENT', `${file}: expected a JSON object`);
    const o = config as Json;
    let source: unknown = override ?? o['chat_template'];
    if (Array.isArray(source)) {
      const named = source.find((t) => (t as Json)?.['name'] === 'default');
      if (!named) throw new IgSearchError('INVALID_ARGUMENT', `${file}: chat_template is a list without an entry named "default" (names: ${source.map((t) => JSON.stringify((t as Json)?.['name'])).join(', ')})`);
      source = (named as Json)['template'];
    }
    if (source === undefined || source === null) return undefined;
    if (typeof source !== 'string') throw new IgSearchError('INVALID_ARGUMENT', `${file}: chat_template must be a string or a list of {name, template}, found ${typeof source}`);
    return new ChatTemplate(source, { bosToken: tokenText(o['bos_token']), eosToken: tokenText(o['eos_token']) }, override === undefined ? file : 'chat_template.jinja');
  }

  /** The conversation as the model's prompt text. */
  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    messages.forEach((m, i) => {
      if (typeof m?.content !== 'string' || typeof m?.role !== 'string') throw new IgSearchError('INVALID_ARGUMENT', `messages[${i}] must be {role, content} with string values`);
    });
    try {
      return this.compiled.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: options.addGenerationPrompt ?? true,
        bos_token: this.specialTokens.bosToken ?? '',
        eos_token: this.specialTokens.eosToken ?? '',
        ...options.variables,
      });
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `${this.file}: rendering the chat template failed: ${(e as Error).message}`, { cause: e });
    }
  }
}

/** ChatML, the template of Qwen2 / Qwen2.5 instruct models without their default system turn: the fallback for vocabularies with its markers and no template of their own. */
export function chatML(messages: readonly ChatMessage[]): string {
  return `${messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')}<|im_start|>assistant\n`;
}

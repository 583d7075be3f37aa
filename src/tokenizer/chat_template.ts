/**
 * A model's own chat template: the Jinja `chat_template` of its `tokenizer_config.json` (or
 * `chat_template.jinja`), rendered with @huggingface/jinja — the engine transformers.js uses, so a
 * prompt here is the string the model saw in training. Templates that include the BOS token do so
 * themselves: encode the result with `addSpecialTokens: false`.
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { IgSearchError } from '../errors.js';

/**
 * Bounds on one render, so a template from a Hub repo cannot hang the process or fill its memory:
 * `range` gives at most MAX_RANGE items (Python's jinja2 sandbox caps it the same), the interpreter
 * takes at most MAX_STEPS evaluation steps, where a list costs ITEM_STEPS per item on top (a loop
 * builds a scope per item before it runs, the dearest thing the interpreter does), and no string or
 * list it builds may pass MAX_CHARS characters or MAX_ITEMS items. Measured: Llama 3's template
 * takes 222 steps for 4 messages, Qwen3's 832 (30,748 for 40 messages); nested loops or recursion
 * that would run for minutes stop within about two seconds on a laptop-class core.
 */
export const TEMPLATE_LIMITS = { MAX_RANGE: 100_000, MAX_STEPS: 2_000_000, ITEM_STEPS: 16, MAX_CHARS: 16 * 1024 * 1024, MAX_ITEMS: 1_000_000 } as const;

class TemplateLimit extends Error {}

/** The library's interpreter, counting its steps and sizing what each returns. */
class BoundedInterpreter extends Interpreter {
  steps = 0;

  override evaluate(...args: Parameters<Interpreter['evaluate']>): ReturnType<Interpreter['evaluate']> {
    if (++this.steps > TEMPLATE_LIMITS.MAX_STEPS) throw new TemplateLimit(`it ran past ${TEMPLATE_LIMITS.MAX_STEPS.toLocaleString('en-US')} evaluation steps (a loop or recursion without a useful end?)`);
    const out = super.evaluate(...args);
    const value = (out as { value?: unknown }).value;
    if (typeof value === 'string' && value.length > TEMPLATE_LIMITS.MAX_CHARS) throw new TemplateLimit(`it built a string of ${value.length.toLocaleString('en-US')} characters (limit ${TEMPLATE_LIMITS.MAX_CHARS.toLocaleString('en-US')})`);
    if (Array.isArray(value)) {
      if (value.length > TEMPLATE_LIMITS.MAX_ITEMS) throw new TemplateLimit(`it built a list of ${value.length.toLocaleString('en-US')} items (limit ${TEMPLATE_LIMITS.MAX_ITEMS.toLocaleString('en-US')})`);
      this.steps += value.length * TEMPLATE_LIMITS.ITEM_STEPS;
    }
    return out;
  }
}

/** Python's `range`, refusing more than MAX_RANGE items before it allocates them. */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (!Number.isFinite(n) || n > TEMPLATE_LIMITS.MAX_RANGE) throw new TemplateLimit(`range() of ${Number.isFinite(n) ? n.toLocaleString('en-US') : n} items (limit ${TEMPLATE_LIMITS.MAX_RANGE.toLocaleString('en-US')})`);
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/** `strftime_now` with the directives the library's own global knows (%Y %m %d %b %B %H %M %%). */
function strftimeNow(format: string): string {
  const date = new Date();
  const pad2 = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => new Intl.DateTimeFormat(undefined, { month: style }).format(date);
  const directives: Record<string, () => string> = { '%Y': () => String(date.getFullYear()), '%m': () => pad2(date.getMonth() + 1), '%d': () => pad2(date.getDate()), '%b': () => month('short'), '%B': () => month('long'), '%H': () => pad2(date.getHours()), '%M': () => pad2(date.getMinutes()), '%%': () => '%' };
  return format.replace(/%[YmdbBHM%]/g, (d) => directives[d]!());
}

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
  /** Evaluation steps the last render took (against TEMPLATE_LIMITS.MAX_STEPS). */
  lastSteps = 0;

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
    // What Template.render does, with the interpreter bounded and the globals it sets (the same
    // names and behaviour; `range` bounded).
    const env = new Environment();
    const globals: Record<string, unknown> = {
      false: false,
      true: true,
      none: null,
      False: false,
      True: true,
      None: null,
      raise_exception: (message: unknown) => {
        throw new Error(String(message));
      },
      range: boundedRange,
      strftime_now: strftimeNow,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: this.specialTokens.bosToken ?? '',
      eos_token: this.specialTokens.eosToken ?? '',
      ...options.variables,
    };
    for (const [name, value] of Object.entries(globals)) env.set(name, value);
    const interpreter = new BoundedInterpreter(env);
    try {
      const text = interpreter.run(this.compiled.parsed).value as string;
      this.lastSteps = interpreter.steps;
      return text;
    } catch (e) {
      if (e instanceof TemplateLimit) throw new IgSearchError('LIMIT_EXCEEDED', `${this.file}: rendering the chat template stopped: ${e.message}`, { hint: 'a chat template from an untrusted repo may be hostile; pass one of your own (chat_template.jinja) or check this one' });
      throw new IgSearchError('INVALID_ARGUMENT', `${this.file}: rendering the chat template failed: ${(e as Error).message}`, { cause: e });
    }
  }
}

/** ChatML, the template of Qwen2 / Qwen2.5 instruct models without their default system turn: the fallback for vocabularies with its markers and no template of their own. */
export function chatML(messages: readonly ChatMessage[]): string {
  return `${messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')}<|im_start|>assistant\n`;
}

/**
 * web-llm interop, both ways.
 *
 * `ChatEngine` puts an OpenAI-style surface — `chat.completions.create` and `completions.create`,
 * the calls `@mlc-ai/web-llm`'s `MLCEngine` answers — over this package's model and tokenizer, so
 * code written for web-llm can switch to a model being trained here.
 *
 * `rolloutWithCompletions` runs the Search-R1 loop on anything with that `completions.create`
 * surface: a web-llm `MLCEngine` (inference and evaluation of a search agent in browsers, on
 * web-llm's own optimised kernels) or a `ChatEngine`. It works on text, so it returns no masks or
 * log-probs: training rollouts use `rolloutSearchAgent`.
 */
import { IgSearchError } from '../errors.js';
import type { CausalLM } from '../model/causal_lm.js';
import { formatInformation, type Retriever } from '../retrieval/retriever.js';
import { chatML } from '../tokenizer/chat_template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { generate } from './generate.js';
import { INVALID_SEARCH_NOTE, searchR1Prompt, type SearchStep } from './search_r1.js';
import { renderChat, type ChatMessage } from './template.js';
import { closeStoppedTurn, lastAnswer, parseTurn } from './turn.js';

export { chatTemplate, type ChatMessage } from './template.js';

interface SamplingRequest {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
}

export interface ChatCompletionRequest extends SamplingRequest {
  messages: ChatMessage[];
}

export interface CompletionRequest extends SamplingRequest {
  prompt: string;
}

type Finish = 'stop' | 'length';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: number; message: { role: 'assistant'; content: string }; finish_reason: Finish }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { index: number; text: string; finish_reason: Finish }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

let counter = 0;

export class ChatEngine {
  readonly chat = { completions: { create: (request: ChatCompletionRequest) => this.createChat(request) } };
  readonly completions = { create: (request: CompletionRequest) => this.createCompletion(request) };

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly name = 'ig-search',
  ) {}

  private async createChat(request: ChatCompletionRequest): Promise<ChatCompletion> {
    if (!Array.isArray(request?.messages) || request.messages.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'chat.completions.create: messages must be a non-empty array');
    const { texts, finishes, promptTokens, completionTokens } = await this.run(renderChat(this.tokenizer, request.messages), request, true);
    return {
      id: `chatcmpl-${++counter}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: this.name,
      choices: texts.map((content, index) => ({ index, message: { role: 'assistant', content }, finish_reason: finishes[index]! })),
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  }

  private async createCompletion(request: CompletionRequest): Promise<Completion> {
    if (typeof request?.prompt !== 'string') throw new IgSearchError('INVALID_ARGUMENT', 'completions.create: prompt must be a string');
    const { texts, finishes, promptTokens, completionTokens } = await this.run(request.prompt, request, false);
    return {
      id: `cmpl-${++counter}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: this.name,
      choices: texts.map((text, index) => ({ index, text, finish_reason: finishes[index]! })),
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  }

  private async run(promptText: string, request: SamplingRequest, chat: boolean) {
    const prompt = Array.from(this.tokenizer.encode(promptText, { addSpecialTokens: false }));
    const n = request.n ?? 1;
    const stop = request.stop == null ? [] : Array.isArray(request.stop) ? request.stop : [request.stop];
    const endOfTurn = ['<|im_end|>', '<|endoftext|>'].map((t) => this.tokenizer.tokenToId(t)).filter((t): t is number => t !== undefined);
    const outs = await generate(this.model, new Array(n).fill(prompt), {
      maxNewTokens: request.max_tokens ?? 256,
      temperature: request.temperature ?? 1,
      topP: request.top_p ?? 1,
      seed: request.seed ?? 0,
      stopTokens: endOfTurn,
      stop,
      tokenizer: this.tokenizer,
      vocabLimit: this.tokenizer.vocabSize,
    });
    const texts: string[] = [];
    const finishes: Finish[] = [];
    let completionTokens = 0;
    for (const o of outs) {
      completionTokens += o.tokens.length;
      let text = this.tokenizer.decode(o.tokens, { skipSpecialTokens: chat });
      // As OpenAI: the text stops before the stop string, which is not returned.
      const cut = stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      if (cut.length) text = text.slice(0, Math.min(...cut));
      texts.push(text);
      finishes.push(o.finish);
    }
    return { texts, finishes, promptTokens: prompt.length * n, completionTokens };
  }
}

/** What `rolloutWithCompletions` needs from an engine: web-llm's `MLCEngine` and `ChatEngine` both have it. */
export interface CompletionsEngine {
  completions: { create(request: CompletionRequest): Promise<{ choices: { text: string; finish_reason: string | null }[] }> };
}

export interface TextTrajectory {
  text: string;
  searches: Pick<SearchStep, 'query' | 'documents'>[];
  answer: string | undefined;
  finish: 'answer' | 'stop' | 'length' | 'max_turns';
}

/**
 * The Search-R1 loop over a completions API: generate until `</search>` or `</answer>`, retrieve,
 * append the information block to the prompt text, continue. `template` wraps the instruction
 * (default ChatML, for Qwen instruct models).
 */
export async function rolloutWithCompletions(
  engine: CompletionsEngine,
  question: string,
  options: { retriever: Retriever; docsPerSearch?: number; maxTurns?: number; maxTokensPerTurn?: number; temperature?: number; seed?: number; template?: (instruction: string) => string },
): Promise<TextTrajectory> {
  const template = options.template ?? ((instruction: string) => chatML([{ role: 'user', content: instruction }]));
  const prompt = template(searchR1Prompt(question));
  const maxTurns = options.maxTurns ?? 4;
  let text = '';
  const searches: TextTrajectory['searches'] = [];
  for (let turn = 0; turn <= maxTurns + 1; turn++) {
    const response = await engine.completions.create({
      prompt: prompt + text,
      max_tokens: options.maxTokensPerTurn ?? 256,
      temperature: options.temperature ?? 0,
      seed: options.seed ?? 0,
      stop: ['</search>', '</answer>'],
    });
    const choice = response.choices[0];
    if (!choice) throw new IgSearchError('INVALID_ARGUMENT', 'the engine returned no choices');
    const piece = choice.text;
    // The stop string is not returned: close the tag the turn was heading for.
    const turn = choice.finish_reason === 'stop' ? closeStoppedTurn(piece) : undefined;
    if (turn === undefined) {
      text += piece;
      return { text, searches, answer: undefined, finish: choice.finish_reason === 'length' ? 'length' : 'stop' };
    }
    text += turn;
    const action = parseTurn(turn);
    if (action.kind !== 'search') return { text, searches, answer: lastAnswer(turn), finish: 'answer' };
    const { query } = action;
    if (searches.length >= maxTurns) return { text, searches, answer: undefined, finish: 'max_turns' };
    if (!query) {
      text += INVALID_SEARCH_NOTE;
      continue;
    }
    const [documents] = await options.retriever.search([query], options.docsPerSearch ?? 3);
    searches.push({ query, documents: documents ?? [] });
    text += formatInformation(documents ?? []);
  }
  return { text, searches, answer: undefined, finish: 'max_turns' };
}

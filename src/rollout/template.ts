/** Prompt templates: ChatML, and the search-agent prompt in it when the vocabulary is a chat one. */
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** ChatML, the template of Qwen2 / Qwen2.5 instruct models. */
export function chatTemplate(messages: readonly ChatMessage[]): string {
  return `${messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')}<|im_start|>assistant\n`;
}

/** Whether the vocabulary has ChatML's turn markers. */
export function hasChatTemplate(tokenizer: Tokenizer): boolean {
  return tokenizer.tokenToId('<|im_start|>') !== undefined && tokenizer.tokenToId('<|im_end|>') !== undefined;
}

/** `instruction` as a user turn when the vocabulary is a chat one, as plain text otherwise. */
export function promptText(tokenizer: Tokenizer, instruction: string): string {
  return hasChatTemplate(tokenizer) ? chatTemplate([{ role: 'user', content: instruction }]) : instruction;
}

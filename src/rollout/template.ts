/**
 * Prompts: the model's own chat template when its tokenizer carries one (`loadTokenizer` reads it
 * from tokenizer_config.json), ChatML when the vocabulary has ChatML's markers, plain text otherwise.
 */
import { chatML, type ChatMessage } from '../tokenizer/chat_template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export type { ChatMessage } from '../tokenizer/chat_template.js';

/** @deprecated `chatML` (the fallback template), named apart from `ChatTemplate` and `tokenizer.chatTemplate`. */
export const chatTemplate = chatML;

/** Whether prompts for this tokenizer are chat turns (its own template, or ChatML's markers in the vocabulary). */
export function hasChatTemplate(tokenizer: Tokenizer): boolean {
  return tokenizer.chatTemplate !== undefined || (tokenizer.tokenToId('<|im_start|>') !== undefined && tokenizer.tokenToId('<|im_end|>') !== undefined);
}

/** A conversation as prompt text for this tokenizer's model, ready for the assistant's turn. */
export function renderChat(tokenizer: Tokenizer, messages: readonly ChatMessage[]): string {
  return tokenizer.chatTemplate ? tokenizer.chatTemplate.render(messages) : chatML(messages);
}

/** `instruction` as a user turn when the model is a chat one, as plain text otherwise. */
export function promptText(tokenizer: Tokenizer, instruction: string): string {
  return hasChatTemplate(tokenizer) ? renderChat(tokenizer, [{ role: 'user', content: instruction }]) : instruction;
}

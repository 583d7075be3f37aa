/**
 * The Search-R1 turn protocol, parsed in one place for both rollout loops: the KV-cache decoder
 * (search_r1.ts), which sees each turn's text with its closing tag, and the completions loop
 * (chat.ts), whose engine strips the stop string — `closeStoppedTurn` puts it back first.
 */

/** What a turn's text asks for so far. */
export type TurnAction =
  /** `</answer>` written: the trajectory ends. */
  | { kind: 'answer' }
  /**
   * `</search>` written: `query` (trimmed; '' for an empty search) to retrieve, with the [from, to)
   * character range of the raw text between the tags, which the decoder maps back to tokens.
   */
  | { kind: 'search'; query: string; from: number; to: number }
  /** Neither tag closed yet: keep decoding. */
  | { kind: 'continue' };

const SEARCH = '<search>';

export function parseTurn(turn: string): TurnAction {
  if (turn.includes('</answer>')) return { kind: 'answer' };
  const close = turn.indexOf('</search>');
  if (close < 0) return { kind: 'continue' };
  const open = turn.lastIndexOf(SEARCH, close);
  if (open < 0) return { kind: 'search', query: '', from: close, to: close };
  return { kind: 'search', query: turn.slice(open + SEARCH.length, close).trim(), from: open + SEARCH.length, to: close };
}

/**
 * A turn that an engine stopped at `</search>` or `</answer>` and returned without it: the tag the
 * turn opened last, closed. Undefined when it opened neither (the stop was something else).
 */
export function closeStoppedTurn(piece: string): string | undefined {
  const search = piece.lastIndexOf(SEARCH);
  const answer = piece.lastIndexOf('<answer>');
  if (search < 0 && answer < 0) return undefined;
  return answer > search ? `${piece}</answer>` : `${piece}</search>`;
}

/** The text of the last complete `<answer> … </answer>` (trimmed), or undefined. */
export function lastAnswer(text: string): string | undefined {
  const close = text.lastIndexOf('</answer>');
  if (close < 0) return undefined;
  const open = text.lastIndexOf('<answer>', close);
  return open < 0 ? undefined : text.slice(open + '<answer>'.length, close).trim();
}

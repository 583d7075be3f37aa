/**
 * Search-R1 corpus and data files: JSONL, one object per line. Parsed with the runtime's
 * JSON.parse (fast and exact); every malformed line is reported with its line number.
 */
import { IgSearchError } from '../errors.js';

export interface Passage {
  id: string;
  /** Search-R1 convention: the title is the first line, then the text. */
  contents: string;
}

export interface JsonlOptions {
  /** Name used in error messages (default "corpus"). */
  source?: string;
  /** Skip malformed lines (they are returned in `skipped`) instead of throwing. */
  skipBadLines?: boolean;
}

export interface ParsedCorpus {
  passages: Passage[];
  /** Lines skipped with `skipBadLines`, 1-based, with the reason. */
  skipped: { line: number; reason: string }[];
}

/** Parses `{id, contents}` lines; `id` may be a string or a number (kept as its decimal string). */
export function parseCorpusJsonl(text: string, options: JsonlOptions = {}): ParsedCorpus {
  const source = options.source ?? 'corpus';
  const passages: Passage[] = [];
  const skipped: ParsedCorpus['skipped'] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    const problem = parsePassage(raw, passages);
    if (problem !== undefined) {
      if (!options.skipBadLines) {
        throw new IgSearchError('INVALID_ARGUMENT', `${source}:${line}: ${problem}`, { hint: 'each line must be {"id": ..., "contents": "Title\\ntext"}' });
      }
      skipped.push({ line, reason: problem });
    }
  }
  return { passages, skipped };
}

function parsePassage(raw: string, into: Passage[]): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    return `invalid JSON (${(e as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const { id, contents } = value as { id?: unknown; contents?: unknown };
  if (typeof contents !== 'string') return `field "contents" must be a string, got ${contents === undefined ? 'nothing' : typeof contents}`;
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
    return `field "id" must be a string or number, got ${id === undefined ? 'nothing' : typeof id}`;
  }
  into.push({ id: String(id), contents });
  return undefined;
}

/** The title of a Search-R1 passage: its first line, without surrounding quotes. */
export function passageTitle(contents: string): string {
  const newline = contents.indexOf('\n');
  const first = (newline < 0 ? contents : contents.slice(0, newline)).trim();
  return first.length >= 2 && first.startsWith('"') && first.endsWith('"') ? first.slice(1, -1) : first;
}

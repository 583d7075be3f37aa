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

/**
 * The line loop shared by every JSONL reader: blank lines are skipped, `parse` returns a problem
 * for a bad line (reported with its 1-based number, or skipped with `skipBadLines`).
 */
function parseJsonl<T>(text: string, options: JsonlOptions, source: string, hint: string, parse: (raw: string, into: T[]) => string | undefined): { items: T[]; lines: number[]; skipped: { line: number; reason: string }[] } {
  const items: T[] = [];
  const lines: number[] = [];
  const skipped: { line: number; reason: string }[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    const problem = parse(raw, items);
    if (problem !== undefined) {
      if (!options.skipBadLines) throw new IgSearchError('INVALID_ARGUMENT', `${source}:${line}: ${problem}`, { hint: `${hint}; --skip-bad-lines skips such lines` });
      skipped.push({ line, reason: problem });
    } else lines.push(line);
  }
  return { items, lines, skipped };
}

/** Parses `{id, contents}` lines; `id` may be a string or a number (kept as its decimal string). */
export function parseCorpusJsonl(text: string, options: JsonlOptions = {}): ParsedCorpus {
  const { items, skipped } = parseJsonl(text, options, options.source ?? 'corpus', 'each line must be {"id": ..., "contents": "Title\\ntext"}', parsePassage);
  return { passages: items, skipped };
}

/** One question, as a questions file holds it and as training and evaluation read it. */
export interface Question {
  question: string;
  golden_answers: readonly string[];
  id?: string;
  /** Reasoning hops (1–3), when the file says (the synthetic world does): metrics split by it. */
  hops?: number;
  /** Ids of the corpus passages that hold the answer's chain, one per hop (StepSearch's reward needs them). */
  supporting?: readonly string[];
}

/** @deprecated the same type as `Question`. */
export type DataQuestion = Question;

export interface ParsedQuestions {
  questions: Question[];
  /** The 1-based line of each question (for errors found after parsing, e.g. a prompt too long). */
  lines: number[];
  skipped: { line: number; reason: string }[];
}

/**
 * Parses Search-R1 data lines `{question, golden_answers}`; `golden_answers` may be a string or a
 * list of strings (a non-empty one), and `id`/`hops`/`supporting` are kept when present; other fields are ignored.
 */
export function parseQuestionsJsonl(text: string, options: JsonlOptions = {}): ParsedQuestions {
  const { items, lines, skipped } = parseJsonl(text, options, options.source ?? 'data', 'each line must be {"question": "...", "golden_answers": ["..."]}', parseQuestion);
  return { questions: items, lines, skipped };
}

function parseObject(raw: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    return `invalid JSON (${(e as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  return value as Record<string, unknown>;
}

function parseQuestion(raw: string, into: DataQuestion[]): string | undefined {
  const value = parseObject(raw);
  return typeof value === 'string' ? value : questionFromObject(value, into);
}

/**
 * Checks one question object as a data line holds it (what `parseQuestionsJsonl` does per line) and
 * appends it to `into`; returns the problem instead when it is not one.
 */
export function questionFromObject(value: Record<string, unknown>, into: Question[]): string | undefined {
  const { question, golden_answers: golds, id, hops, supporting } = value;
  if (typeof question !== 'string' || !question.trim()) return `field "question" must be a non-empty string, got ${question === undefined ? 'nothing' : JSON.stringify(question).slice(0, 40)}`;
  const answers = typeof golds === 'string' ? [golds] : golds;
  if (!Array.isArray(answers) || answers.length === 0 || !answers.every((a) => typeof a === 'string')) {
    return `field "golden_answers" must be a string or a non-empty list of strings, got ${golds === undefined ? 'nothing' : JSON.stringify(golds).slice(0, 40)}`;
  }
  if (hops !== undefined && !(Number.isInteger(hops) && (hops as number) > 0)) return `field "hops" must be a positive integer, got ${JSON.stringify(hops)}`;
  if (supporting !== undefined && !(Array.isArray(supporting) && supporting.every((s) => typeof s === 'string'))) return `field "supporting" must be a list of passage ids, got ${JSON.stringify(supporting).slice(0, 40)}`;
  if (!wellFormed(question)) return 'field "question" holds a lone UTF-16 surrogate (not text)';
  if (!(answers as string[]).every(wellFormed)) return 'field "golden_answers" holds a lone UTF-16 surrogate (not text)';
  into.push({ question, golden_answers: answers as string[], ...(id === undefined ? {} : { id: String(id) }), ...(hops === undefined ? {} : { hops: hops as number }), ...(supporting === undefined ? {} : { supporting: supporting as string[] }) });
  return undefined;
}

function parsePassage(raw: string, into: Passage[]): string | undefined {
  const value = parseObject(raw);
  if (typeof value === 'string') return value;
  const { id, contents } = value;
  if (typeof contents !== 'string') return `field "contents" must be a string, got ${contents === undefined ? 'nothing' : typeof contents}`;
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
    return `field "id" must be a string or number, got ${id === undefined ? 'nothing' : typeof id}`;
  }
  if (!wellFormed(contents)) return 'field "contents" holds a lone UTF-16 surrogate (not text)';
  into.push({ id: String(id), contents });
  return undefined;
}

/** No unpaired UTF-16 surrogate (such a string has no UTF-8 form: it would fail later, far from its line). */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** The title of a Search-R1 passage: its first line, without surrounding quotes. */
export function passageTitle(contents: string): string {
  const newline = contents.indexOf('\n');
  const first = (newline < 0 ? contents : contents.slice(0, newline)).trim();
  return first.length >= 2 && first.startsWith('"') && first.endsWith('"') ? first.slice(1, -1) : first;
}

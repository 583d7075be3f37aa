/**
 * Search-R1 / verl training data: the Parquet rows Search-R1's data scripts write and verl's
 * `RLHFDataset` reads — `data_source`, `prompt` ([{role: "user", content}]), `ability`,
 * `reward_model` ({style: "rule", ground_truth: {target: [answers]}}), `extra_info` ({split, index}).
 *
 * The prompt is this package's Search-R1 prompt (`searchR1Prompt`, the same tags and protocol as
 * Search-R1's), so a model trained in verl on these rows is asked the same way when it comes back
 * to ig-search; `prompt` in the options substitutes another (e.g. Search-R1's own wording).
 * Written with hyparquet-writer (pure JS, no native code: it runs wherever this package runs).
 */
import { IgSearchError } from '../errors.js';
import { questionFromObject, type Question } from '../retrieval/corpus.js';
import { searchR1Prompt } from '../rollout/search_r1.js';

export interface SearchR1Row {
  data_source: string;
  prompt: { role: 'user'; content: string }[];
  ability: string;
  reward_model: { style: 'rule'; ground_truth: { target: string[] } };
  extra_info: { split: string; index: number };
}

export interface SearchR1ExportOptions {
  /** `extra_info.split` (default "train"). */
  split?: string;
  /**
   * `data_source` (default "searchR1_nq"): verl's default reward routes the `searchR1_*` names to
   * its Search-R1 exact-match scorer; Search-R1's own trainer expects "nq", "hotpotqa", ….
   */
  dataSource?: string;
  /** The user message for a question (default `searchR1Prompt`). */
  prompt?: (question: string) => string;
}

export const SEARCH_R1_EXPORT_DEFAULTS = { split: 'train', dataSource: 'searchR1_nq', ability: 'fact-reasoning' } as const;

/** One row per question, `extra_info.index` its position. */
export function searchR1Rows(questions: readonly Question[], options: SearchR1ExportOptions = {}): SearchR1Row[] {
  const split = options.split ?? SEARCH_R1_EXPORT_DEFAULTS.split;
  const dataSource = options.dataSource ?? SEARCH_R1_EXPORT_DEFAULTS.dataSource;
  const prompt = options.prompt ?? searchR1Prompt;
  if (!split || !dataSource) throw new IgSearchError('INVALID_ARGUMENT', 'searchR1Rows: split and dataSource must be non-empty');
  return questions.map((q, index) => ({
    data_source: dataSource,
    prompt: [{ role: 'user', content: prompt(q.question) }],
    ability: SEARCH_R1_EXPORT_DEFAULTS.ability,
    reward_model: { style: 'rule', ground_truth: { target: [...q.golden_answers] } },
    extra_info: { split, index },
  }));
}

const text = (name: string) => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }) as const;
const list = (name: string) => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
] as const;

/** The Parquet schema pandas/pyarrow give these rows (lists as 3-level LIST groups, structs as groups). */
const SCHEMA = [
  { name: 'schema', num_children: 5 },
  text('data_source'),
  ...list('prompt'),
  { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
  text('role'),
  text('content'),
  text('ability'),
  { name: 'reward_model', repetition_type: 'OPTIONAL', num_children: 2 },
  text('style'),
  { name: 'ground_truth', repetition_type: 'OPTIONAL', num_children: 1 },
  ...list('target'),
  text('element'),
  { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 2 },
  text('split'),
  { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
];

/** The rows as a Parquet file (snappy-compressed), ready to write to `train.parquet`. */
export async function searchR1Parquet(rows: readonly SearchR1Row[]): Promise<Uint8Array> {
  if (rows.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'searchR1Parquet: no rows (the data file has no questions)');
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const column = <K extends keyof SearchR1Row>(name: K, map: (r: SearchR1Row) => unknown = (r) => r[name]) => ({ name, data: rows.map(map) });
  const buffer = parquetWriteBuffer({
    columnData: [
      column('data_source'),
      column('prompt'),
      column('ability'),
      column('reward_model'),
      column('extra_info', (r) => ({ split: r.extra_info.split, index: BigInt(r.extra_info.index) })),
    ],
    schema: SCHEMA as never,
    createdBy: 'ig-search (hyparquet-writer)',
  });
  return new Uint8Array(buffer);
}

/**
 * The reverse of `searchR1Rows`: questions from Search-R1 / verl rows. A row's `question` and
 * `golden_answers` columns are read when present (Search-R1's published data files keep them);
 * otherwise the question is the text after the last "Question:" of the prompt's user message (the
 * whole message if it has none) and the answers are `reward_model.ground_truth.target`. A row that
 * yields no question is an error naming `source` and the 1-based row.
 */
export function questionsFromSearchR1Rows(rows: readonly Record<string, unknown>[], source = 'data'): Question[] {
  const questions: Question[] = [];
  rows.forEach((row, i) => {
    const problem = typeof row !== 'object' || row === null ? 'expected a row object' : questionFromObject(searchR1Question(row), questions);
    if (problem !== undefined) {
      throw new IgSearchError('INVALID_ARGUMENT', `${source}: row ${i + 1}: ${problem}`, { hint: 'each row needs a question (a "question" column or a user "prompt" message) and answers ("golden_answers" or reward_model.ground_truth.target)' });
    }
  });
  if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `${source}: no rows (the data file has no questions)`);
  return questions;
}

function searchR1Question(row: Record<string, unknown>): Record<string, unknown> {
  const prompt = Array.isArray(row.prompt) ? (row.prompt as { role?: unknown; content?: unknown }[]).filter((m) => m?.role === 'user' && typeof m.content === 'string').at(-1)?.content : undefined;
  const fromPrompt = typeof prompt === 'string' ? (prompt.includes('Question:') ? prompt.slice(prompt.lastIndexOf('Question:') + 'Question:'.length) : prompt).trim() : undefined;
  const truth = (row.reward_model as { ground_truth?: { target?: unknown } } | undefined)?.ground_truth?.target;
  const id = (row.extra_info as { index?: unknown } | undefined)?.index ?? row.id;
  return {
    question: row.question ?? fromPrompt,
    golden_answers: row.golden_answers ?? (ArrayBuffer.isView(truth) ? undefined : truth),
    ...(typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint' ? { id: String(id) } : {}),
  };
}

/** Questions from a Search-R1 / verl Parquet file (any codec hyparquet reads: plain, snappy…), named `source` in errors. */
export async function parseSearchR1Parquet(bytes: Uint8Array | ArrayBuffer, source = 'data.parquet'): Promise<Question[]> {
  const { parquetReadObjects } = await import('hyparquet');
  const file = bytes instanceof ArrayBuffer ? bytes : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  let rows: Record<string, unknown>[];
  try {
    rows = (await parquetReadObjects({ file })) as Record<string, unknown>[];
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `${source}: not a readable Parquet file (${(e as Error).message})`, { cause: e, hint: 'Search-R1 / verl data files (ig-search export writes one), or JSONL' });
  }
  return questionsFromSearchR1Rows(rows, source);
}

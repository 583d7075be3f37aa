/**
 * A user's files for the demo (the studio's uploads) turned into `DemoData`, with the same
 * file:line errors as the CLI: a Search-R1 corpus as JSONL, questions as JSONL or as Search-R1 /
 * verl Parquet rows (what `ig-search export` writes), and optionally a validation file of either kind.
 */
import { IgSearchError } from '../errors.js';
import { parseSearchR1Parquet } from '../export/search_r1.js';
import { parseCorpusJsonl, parseQuestionsJsonl, type Question } from '../retrieval/corpus.js';
import type { DemoData } from './demo.js';

/** One file as a page or a worker holds it. */
export interface DataUpload {
  name: string;
  bytes: Uint8Array;
}

export interface DemoUploads {
  corpus: DataUpload;
  questions: DataUpload;
  validation?: DataUpload;
}

const PARQUET_MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

function checkUpload(upload: DataUpload | undefined, field: string): DataUpload {
  if (typeof upload?.name !== 'string' || !(upload.bytes instanceof Uint8Array)) {
    throw new IgSearchError('INVALID_ARGUMENT', `uploads.${field} must be {name, bytes: Uint8Array}`);
  }
  return upload;
}

function text(upload: DataUpload): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(upload.bytes);
  } catch {
    throw new IgSearchError('INVALID_ARGUMENT', `${upload.name}: not UTF-8 text`, { hint: 'JSONL files are UTF-8, one JSON object per line' });
  }
}

/**
 * Questions from a JSONL or a Parquet file (told apart by Parquet's leading magic bytes), and where
 * each came from: "FILE:LINE" or "FILE: row N".
 */
export async function parseQuestionsUpload(upload: DataUpload): Promise<{ questions: Question[]; where: (i: number) => string }> {
  const { name, bytes } = checkUpload(upload, 'questions');
  if (PARQUET_MAGIC.every((b, i) => bytes[i] === b)) return { questions: await parseSearchR1Parquet(bytes, name), where: (i) => `${name}: row ${i + 1}` };
  const { questions, lines } = parseQuestionsJsonl(text(upload), { source: name });
  if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `${name}: no questions`);
  return { questions, where: (i) => `${name}:${lines[i]}` };
}

/**
 * The uploads checked and parsed. A question's `supporting` ids must name passages of the corpus
 * (the query labels and StepSearch read them): one that does not is an error naming the file.
 */
export async function parseDemoUploads(uploads: DemoUploads): Promise<DemoData> {
  const corpusFile = checkUpload(uploads?.corpus, 'corpus');
  const { passages } = parseCorpusJsonl(text(corpusFile), { source: corpusFile.name });
  if (passages.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `${corpusFile.name}: no passages`);
  const ids = new Set(passages.map((p) => p.id));
  const questionsOf = async (upload: DataUpload, field: string) => {
    const { questions, where } = await parseQuestionsUpload(checkUpload(upload, field));
    const stray = questions.findIndex((q) => q.supporting?.some((id) => !ids.has(id)));
    if (stray >= 0) {
      const id = questions[stray]!.supporting!.find((s) => !ids.has(s))!;
      throw new IgSearchError('INVALID_ARGUMENT', `${where(stray)}: supporting passage "${id}" is not in ${corpusFile.name}`);
    }
    return questions;
  };
  const train = await questionsOf(uploads.questions, 'questions');
  return uploads.validation ? { corpus: passages, train, validation: await questionsOf(uploads.validation, 'validation') } : { corpus: passages, train };
}

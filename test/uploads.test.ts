import { readFileSync } from 'node:fs';
import { parquetMetadata } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { IgSearchError, parseDemoUploads, parseQuestionsJsonl, parseSearchR1Parquet, questionsFromSearchR1Rows, searchR1Parquet, searchR1Rows } from '../src/entry/node.js';

const root = new URL('../', import.meta.url).pathname;
const bytes = (s: string) => new TextEncoder().encode(s);
const lines = (path: string, n: number) => readFileSync(`${root}${path}`, 'utf8').split('\n').slice(0, n).join('\n') + '\n';
const corpus = { name: 'corpus.jsonl', bytes: readFileSync(`${root}assets/demo-policy/corpus.jsonl`) };
const questionsText = lines('assets/demo-policy/train.jsonl', 12);

async function refusal(work: Promise<unknown>): Promise<IgSearchError> {
  const e = await work.then(() => undefined, (e: unknown) => e);
  expect(e).toBeInstanceOf(IgSearchError);
  return e as IgSearchError;
}

describe('the studio\'s uploads: a corpus and questions as JSONL or Search-R1 Parquet', () => {
  it('reads JSONL questions with their hops and supporting passages, and a validation file beside them', async () => {
    const data = await parseDemoUploads({ corpus, questions: { name: 'q.jsonl', bytes: bytes(questionsText) }, validation: { name: 'v.jsonl', bytes: bytes(lines('assets/demo-policy/validation.jsonl', 3)) } });
    expect(data.corpus.length).toBe(1812);
    expect(data.train).toEqual(parseQuestionsJsonl(questionsText).questions);
    expect(data.train[1]).toMatchObject({ hops: 2, supporting: ['person-206', 'city-3'] });
    expect(data.validation?.length).toBe(3);
  });

  it('reads back what `ig-search export` writes (snappy Parquet): the same questions and answers', async () => {
    const questions = parseQuestionsJsonl(questionsText).questions;
    const file = await searchR1Parquet(searchR1Rows(questions));
    expect(parquetMetadata(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer).row_groups[0]!.columns[0]!.meta_data!.codec).toBe('SNAPPY');
    const back = await parseSearchR1Parquet(file, 'train.parquet');
    expect(back.map((q) => [q.question, q.golden_answers])).toEqual(questions.map((q) => [q.question, q.golden_answers]));
    expect(back.map((q) => q.id)).toEqual(questions.map((_, i) => String(i))); // extra_info.index
    // The uploads tell Parquet from JSONL by its magic bytes, not by the name.
    expect((await parseDemoUploads({ corpus, questions: { name: 'rows.bin', bytes: file } })).train.length).toBe(questions.length);
  });

  it('prefers a row\'s own question and golden_answers columns (Search-R1\'s published files keep them)', () => {
    const rows = [
      { question: 'who wrote it?', golden_answers: ['Ann', 'Anne'], prompt: [{ role: 'user', content: 'template… Question: something else\n' }], reward_model: { ground_truth: { target: ['x'] } } },
      { prompt: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'Answer it.\nQuestion: where is it?\n' }], reward_model: { ground_truth: { target: 'Here' } }, extra_info: { index: 7n } },
      { prompt: [{ role: 'user', content: 'No template here' }], reward_model: { ground_truth: { target: ['A'] } } },
    ];
    expect(questionsFromSearchR1Rows(rows)).toEqual([
      { question: 'who wrote it?', golden_answers: ['Ann', 'Anne'] },
      { question: 'where is it?', golden_answers: ['Here'], id: '7' },
      { question: 'No template here', golden_answers: ['A'] },
    ]);
  });

  it('refuses bad files with the file and line (or row) that is wrong', async () => {
    const first = async (work: Promise<unknown>) => (await refusal(work)).message.split('\n')[0];
    const bad = questionsText.split('\n');
    bad[2] = '{"question": "no answers here"}';
    expect(await first(parseDemoUploads({ corpus, questions: { name: 'mine.jsonl', bytes: bytes(bad.join('\n')) } }))).toMatch(/^mine\.jsonl:3: field "golden_answers" must be/);
    expect(await first(parseDemoUploads({ corpus: { name: 'c.jsonl', bytes: bytes('{"id": 1, "contents": "A\\nx"}\n{"id": 2}\n') }, questions: { name: 'q.jsonl', bytes: bytes(questionsText) } }))).toMatch(/^c\.jsonl:2: field "contents" must be a string/);
    // A supporting id the corpus lacks is named with its line.
    const stray = questionsText.replace('"film-183"', '"film-99999"');
    expect(await first(parseDemoUploads({ corpus, questions: { name: 'q.jsonl', bytes: bytes(stray) } }))).toBe('q.jsonl:1: supporting passage "film-99999" is not in corpus.jsonl');
    expect(await first(parseDemoUploads({ corpus, questions: { name: 'latin1.jsonl', bytes: new Uint8Array([0x7b, 0xe9, 0x7d]) } }))).toBe('latin1.jsonl: not UTF-8 text');
    expect(await first(parseDemoUploads({ corpus, questions: { name: 'empty.jsonl', bytes: bytes('\n\n') } }))).toBe('empty.jsonl: no questions');
    // A cut-off Parquet file, and a row with no answers.
    const file = await searchR1Parquet(searchR1Rows(parseQuestionsJsonl(questionsText).questions));
    expect(await first(parseSearchR1Parquet(file.slice(0, file.length - 40), 'cut.parquet'))).toMatch(/^cut\.parquet: not a readable Parquet file/);
    expect(() => questionsFromSearchR1Rows([{ question: 'q?', golden_answers: ['a'] }, { question: 'q2?' }], 'rows.parquet')).toThrow(/^rows\.parquet: row 2: field "golden_answers" must be/);
    expect(await first(parseDemoUploads({ corpus, questions: undefined as never }))).toBe('uploads.questions must be {name, bytes: Uint8Array}');
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { parseQuestionsJsonl, searchR1Prompt } from '../src/entry/node.js';

const root = new URL('../', import.meta.url).pathname;
const dataPath = `${root}assets/demo-policy/validation.jsonl`;
const cli = (...args: string[]) => spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'export', ...args], { encoding: 'utf8', timeout: 60_000 });

/** The file read back by hyparquet, an independent reader; INT64 arrives as bigint. */
async function readParquet(path: string) {
  const bytes = readFileSync(path);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return { rows: (await parquetReadObjects({ file })) as Record<string, any>[], metadata: parquetMetadata(file) };
}

describe('ig-search export --format search-r1', () => {
  it('writes one Parquet row per question with every Search-R1 / verl field, read back by hyparquet', async () => {
    const dir = mkdtempSync(`${tmpdir()}/ig-export-`);
    const run = cli('--format', 'search-r1', '--data', dataPath, '--out', `${dir}/test.parquet`, '--split', 'test');
    expect(run.stderr).toBe('');
    const questions = parseQuestionsJsonl(readFileSync(dataPath, 'utf8')).questions;
    expect(run.stdout).toMatch(new RegExp(`wrote ${questions.length} rows \\(test, data_source searchR1_nq\\)`));
    const { rows, metadata } = await readParquet(`${dir}/test.parquet`);
    expect(rows.length).toBe(questions.length);
    expect(Number(metadata.num_rows)).toBe(questions.length);
    rows.forEach((row, i) => {
      expect(row).toEqual({
        data_source: 'searchR1_nq',
        prompt: [{ role: 'user', content: searchR1Prompt(questions[i]!.question) }],
        ability: 'fact-reasoning',
        reward_model: { style: 'rule', ground_truth: { target: questions[i]!.golden_answers } },
        extra_info: { split: 'test', index: BigInt(i) },
      });
    });
    // The schema pandas/pyarrow (and so verl's RLHFDataset) read as lists of structs and nested structs.
    const schema = parquetSchema(metadata);
    const node = (path: string[]) => path.reduce((n, name) => n.children.find((c) => c.element.name === name)!, schema);
    expect(node(['prompt']).element.converted_type).toBe('LIST');
    expect(node(['prompt', 'list']).element.repetition_type).toBe('REPEATED');
    expect(node(['prompt', 'list', 'element']).children.map((c) => c.element.name)).toEqual(['role', 'content']);
    expect(node(['reward_model', 'ground_truth', 'target']).element.converted_type).toBe('LIST');
    expect(node(['extra_info', 'index']).element.type).toBe('INT64');
    expect(node(['data_source']).element.converted_type).toBe('UTF8');
  });

  it('--prompt-template and --data-source replace the defaults', async () => {
    const dir = mkdtempSync(`${tmpdir()}/ig-export-`);
    const dollars = ['What costs $& today?', "Is $' a quote?", 'Before $` after', 'Two $$ signs', 'Group $1 ref', 'Named $<q> ref'];
    writeFileSync(`${dir}/q.jsonl`, ['{"question": "Who? ", "golden_answers": "Ana"}', '', '{"question": "Where?", "golden_answers": ["Oslo", "Norway"]}', ...dollars.map((q) => JSON.stringify({ question: q, golden_answers: ['x'] }))].join('\n') + '\n');
    writeFileSync(`${dir}/template.txt`, 'Q: {question} | again {question}');
    const run = cli('--format', 'search-r1', '--data', `${dir}/q.jsonl`, '--out', `${dir}/q.parquet`, '--prompt-template', `${dir}/template.txt`, '--data-source', 'hotpotqa');
    expect(run.status).toBe(0);
    const { rows } = await readParquet(`${dir}/q.parquet`);
    expect(rows.map((r) => [r.data_source, r.prompt[0].content, r.reward_model.ground_truth.target, r.extra_info.index])).toEqual([
      ['hotpotqa', 'Q: Who? | again Who?', ['Ana'], 0n],
      ['hotpotqa', 'Q: Where? | again Where?', ['Oslo', 'Norway'], 1n],
      // `$` in a question is text, not a replacement pattern.
      ...dollars.map((q, i) => ['hotpotqa', `Q: ${q} | again ${q}`, ['x'], BigInt(i + 2)]),
    ]);
  });

  it('bad input is a typed error naming the file and line; nothing is written', () => {
    const dir = mkdtempSync(`${tmpdir()}/ig-export-`);
    writeFileSync(`${dir}/bad.jsonl`, '{"question": "Who?", "golden_answers": ["Ana"]}\n{"question": "Where?"}\n');
    writeFileSync(`${dir}/template.txt`, 'no placeholder');
    const cases: [string[], RegExp][] = [
      [['--format', 'csv', '--data', dataPath, '--out', `${dir}/x.parquet`], /--format must be search-r1, got csv/],
      [['--format', 'search-r1', '--data', `${dir}/bad.jsonl`, '--out', `${dir}/x.parquet`], /bad\.jsonl:2: field "golden_answers"/],
      [['--format', 'search-r1', '--data', dataPath, '--out', `${dir}/x.parquet`, '--prompt-template', `${dir}/template.txt`], /no \{question\} placeholder/],
      [['--format', 'search-r1', '--data', `${dir}/missing.jsonl`, '--out', `${dir}/x.parquet`], /cannot read .*missing\.jsonl/],
    ];
    for (const [args, message] of cases) {
      const run = cli(...args);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(message);
    }
    expect(() => readFileSync(`${dir}/x.parquet`)).toThrow();
    expect(cli('--format', 'search-r1', '--data', `${dir}/bad.jsonl`, '--out', `${dir}/ok.parquet`, '--skip-bad-lines').stdout).toMatch(/wrote 1 row .*skipped 1 bad lines/);
  });
});

// Data problems are found when the files are read, with file:line, and skippable — not at the
// training step that happens to draw the bad line.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { IgSearchError, parseCorpusJsonl, parseQuestionsJsonl } from '../../src/entry/node.js';

const POLICY = 'assets/demo-policy';
const quiet = async <T>(fn: () => Promise<T>) => {
  const [log, error] = [console.log, console.error];
  const lines: string[] = [];
  console.log = console.error = (l: string) => void lines.push(String(l));
  try {
    return { result: await fn().catch((e: unknown) => e), lines };
  } finally {
    [console.log, console.error] = [log, error];
  }
};

describe('data files', () => {
  it('a lone surrogate in a question, an answer or a passage is a bad line (file:line, skippable)', () => {
    const lone = '\ud800';
    const data = [`{"question": "ok?", "golden_answers": ["a"]}`, JSON.stringify({ question: `bad${lone}`, golden_answers: ['a'] }), JSON.stringify({ question: 'q', golden_answers: [`x${lone}`] })].join('\n');
    expect(() => parseQuestionsJsonl(data, { source: 'd.jsonl' })).toThrow(/d\.jsonl:2: field "question" holds a lone UTF-16 surrogate/);
    const skipped = parseQuestionsJsonl(data, { source: 'd.jsonl', skipBadLines: true });
    expect(skipped.questions.map((q) => q.question)).toEqual(['ok?']);
    expect(skipped.skipped.map((s) => s.line)).toEqual([2, 3]);
    expect(skipped.lines).toEqual([1]);
    const corpus = [JSON.stringify({ id: 1, contents: `"T"\ntext${lone}` }), JSON.stringify({ id: 2, contents: '"T"\nfine \ud83d\ude00' })].join('\n');
    expect(() => parseCorpusJsonl(corpus, { source: 'c.jsonl' })).toThrow(/c\.jsonl:1: field "contents" holds a lone UTF-16 surrogate/);
    expect(parseCorpusJsonl(corpus, { skipBadLines: true }).passages.map((p) => p.id)).toEqual(['2']); // a paired surrogate (emoji) is text
  });

  it('a question too long for the model with the run’s --max-tokens is refused at load with file:line, or skipped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-rel-data-'));
    const data = join(dir, 'train.jsonl');
    const good = readFileSync(`${POLICY}/train.jsonl`, 'utf8').trim().split('\n').slice(0, 3);
    writeFileSync(data, [good[0], JSON.stringify({ question: Array.from({ length: 3000 }, () => 'word').join(' '), golden_answers: ['x'] }), ...good.slice(1)].join('\n'));
    const args = ['train', '--model', POLICY, '--data', data, '--corpus', `${POLICY}/corpus.jsonl`, '--steps', '1', '--questions', '1', '--group', '2', '--max-tokens', '64', '--max-turns', '1'];
    const refused = await quiet(() => main([...args, '--out', join(dir, 'a')]));
    expect(refused.result).toBeInstanceOf(IgSearchError);
    expect((refused.result as IgSearchError).message).toMatch(/train\.jsonl:2: the prompt is \d+ tokens: with --max-tokens 64 it exceeds the model's 2048 positions/);
    const skipping = await quiet(() => main([...args, '--out', join(dir, 'b'), '--skip-bad-lines']));
    expect(skipping.result).toBe(0);
    expect(skipping.lines.some((l) => /train\.jsonl:2: skipped/.test(l))).toBe(true);
  });

  it('an empty corpus is refused at load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-rel-corpus-'));
    writeFileSync(join(dir, 'corpus.jsonl'), '\n');
    const { result } = await quiet(() => main(['train', '--model', POLICY, '--data', `${POLICY}/train.jsonl`, '--corpus', join(dir, 'corpus.jsonl'), '--out', join(dir, 'out'), '--steps', '1']));
    expect(result).toBeInstanceOf(IgSearchError);
    expect((result as IgSearchError).message).toMatch(/corpus\.jsonl: no passages/);
  });
});

import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { IgSearchError } from '../../src/entry/node.js';

const captured = async (argv: string[]) => {
  const lines: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = console.error = (line: string) => void lines.push(String(line));
  try {
    return { code: await main(argv).catch((e: unknown) => e), text: lines.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
};

describe('the command line', () => {
  it('every command answers --help with its own usage, running nothing', async () => {
    for (const command of ['demo', 'train', 'eval', 'doctor', 'score', 'run', 'sft']) {
      const { code, text } = await captured([command, '--help']);
      expect(code, command).toBe(0);
      expect(text, command).toMatch(new RegExp(`^usage: ig-search ${command === 'eval' ? 'train' : command}\\b`));
    }
  });

  it('refused flags fail before anything is loaded, as typed errors', async () => {
    for (const argv of [
      ['train', '--model', 'nowhere', '--data', 'nowhere.jsonl', '--corpus', 'c', '--out', '/tmp/ig-never', '--group', '0'],
      ['train', '--model', 'nowhere', '--data', 'nowhere.jsonl', '--corpus', 'c', '--out', '/tmp/ig-never', '--lr', 'abc'],
      ['train', '--model', 'nowhere', '--data', 'nowhere.jsonl', '--corpus', 'c', '--out', '/tmp/ig-never', '--micro-batch', '0'],
      ['doctor', '--size', '70000'],
    ]) {
      const { code } = await captured(argv);
      expect(code, argv.join(' ')).toBeInstanceOf(IgSearchError);
      expect((code as IgSearchError).message, argv.join(' ')).not.toMatch(/cannot read|nowhere/); // the flag, not the missing files
    }
  });
});

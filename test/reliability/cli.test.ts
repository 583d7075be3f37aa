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
    for (const command of ['demo', 'compare', 'train', 'eval', 'signal', 'doctor', 'score', 'run', 'sft', 'index', 'serve', 'studio', 'export', 'models']) {
      const { code, text } = await captured([command, '--help']);
      expect(code, command).toBe(0);
      expect(text, command).toMatch(new RegExp(`^usage: ig-search ${command}\\b`));
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

describe('command-line inputs', () => {
  it('--out that is a file, lies under a file, or cannot be written is a typed error naming the flag, before anything runs', async () => {
    const { mkdtempSync, writeFileSync, mkdirSync, chmodSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'ig-rel-out-'));
    writeFileSync(join(dir, 'file'), 'x');
    mkdirSync(join(dir, 'locked'));
    chmodSync(join(dir, 'locked'), 0o500);
    const POLICY = 'assets/demo-policy';
    const outs = [join(dir, 'file'), join(dir, 'file', 'below')];
    if (process.getuid?.() !== 0) outs.push(join(dir, 'locked', 'run')); // root writes anywhere
    for (const out of outs) {
      for (const argv of [
        ['train', '--model', POLICY, '--data', `${POLICY}/train.jsonl`, '--corpus', `${POLICY}/corpus.jsonl`, '--out', out, '--steps', '1'],
        ['sft', '--out', out, '--steps', '1'],
        ['demo', '--out', out, '--steps', '1'],
      ]) {
        const { code } = await captured(argv);
        expect(code, argv.join(' ')).toBeInstanceOf(IgSearchError);
        expect((code as IgSearchError).message, argv.join(' ')).toMatch(/^--out .*: (a file is in the way|it cannot be written here)/);
      }
    }
  });

  it('token-id lists refuse empty entries instead of reading them as token 0', async () => {
    for (const ids of ['', '1,,2', '3,']) {
      const { code } = await captured(['score', '--model', 'assets/demo-policy', '--prefix-ids', ids, '--continuation-ids', '4']);
      expect(code, JSON.stringify(ids)).toBeInstanceOf(IgSearchError);
      expect((code as IgSearchError).message).toMatch(/expected comma-separated token ids/);
    }
  });
});

describe('more command-line edges', () => {
  it('two runs started in the same second get their own directories', async () => {
    const { mkdtempSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { freshDirectory } = await import('../../src/cli/args.js');
    const root = mkdtempSync(join(tmpdir(), 'ig-rel-fresh-'));
    const [a, b, c] = [await freshDirectory(join(root, 'demo-x'), '--out'), await freshDirectory(join(root, 'demo-x'), '--out'), await freshDirectory(join(root, 'demo-x'), '--out')];
    expect(new Set([a, b, c]).size).toBe(3);
    expect(readdirSync(root).sort()).toEqual(['demo-x', 'demo-x-2', 'demo-x-3']);
  });

  it('run exits 1 when the retriever failed (the answer would be incomplete)', async () => {
    const { code, text } = await captured(['run', '--model', 'assets/demo-policy', '--retriever', 'http://127.0.0.1:9/retrieve', '--question', 'Who founded Zorvath?', '--max-tokens', '96', '--temperature', '0']);
    // The demo policy searches first; port 9 (discard) refuses the connection.
    expect(code).toBe(1);
    expect(text).toMatch(/the retriever failed/);
  });

  it('sft accepts --seed 0', async () => {
    const { mkdtempSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const out = join(mkdtempSync(join(tmpdir(), 'ig-rel-sft-')), 'policy');
    const { code } = await captured(['sft', '--out', out, '--seed', '0', '--steps', '1', '--people', '6', '--films', '3']);
    expect(code).toBe(0);
    expect(readdirSync(out)).toEqual(expect.arrayContaining(['model.safetensors', 'tokenizer.json', 'sft.json']));
  });
});

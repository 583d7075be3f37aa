import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoFromDirectory, startFixtureHub } from './helpers/hub.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('Deno runtime', () => {
  it('the Deno test suite passes on the built bundle (navigator.gpu + Deno.readFile)', () => {
    const deno = `${root}node_modules/.bin/deno`;
    const runSuite = () =>
      spawnSync(deno, ['test', '--allow-read', '--allow-net=127.0.0.1', '--no-check', 'test/deno/'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
        timeout: 300_000,
      });
    let result = runSuite();
    // Seen once in 19 runs on lavapipe: Deno aborts in its native teardown (glibc "double free or corruption") after
    // every test has passed and been reported. That one case is run again once; a second abort, or any
    // failing test, fails here.
    if (result.signal === 'SIGABRT' && /ok \| 4 passed \| 0 failed/.test(result.stdout)) {
      console.warn(`deno aborted at exit after all tests passed; running the suite again:\n${result.stderr.slice(-400)}`);
      result = runSuite();
    }
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.error, output).toBeUndefined();
    expect(output).toMatch(/ok \| 4 passed \| 0 failed/);
    expect(result.status, output).toBe(0);
  });

  it('examples/deno/train.ts runs IG-Search steps and writes a checkpoint in Deno', () => {
    const deno = `${root}node_modules/.bin/deno`;
    const result = spawnSync(deno, ['run', '--allow-read', '--allow-write', '--allow-env', '--no-check', 'examples/deno/train.ts', '2'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      timeout: 300_000,
    });
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.status, output).toBe(0);
    const steps = result.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { step: number; loss: number; ig: number; timing: { ig: number } });
    expect(steps.map((s) => s.step)).toEqual([1, 2]);
    expect(steps.every((s) => Number.isFinite(s.loss) && s.ig > 0 && s.timing.ig > 0)).toBe(true);
    expect(result.stdout).toMatch(/latest checkpoint .*step-000002/);
  });
  it('fromPretrained in Deno: downloads into HF_HUB_CACHE from HF_ENDPOINT, loads, and serves from the cache with the Hub gone', async () => {
    const dir = 'test/fixtures/qwen2/tiny-bf16';
    const expected = JSON.parse(readFileSync(`${root}${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][] };
    const files = { ...repoFromDirectory(`${root}${dir}`, (n) => n !== 'expected.json'), 'tokenizer.json': new Uint8Array(readFileSync(`${root}assets/demo-policy/tokenizer.json`)) };
    const hub = await startFixtureHub({ 'tiny/bf16': { files } });
    const cache = mkdtempSync(`${tmpdir()}/ig-deno-hub-`);
    const run = async () => {
      const { stdout } = await promisify(execFile)(`${root}node_modules/.bin/deno`, ['run', '--allow-read', '--allow-write', '--allow-net', '--allow-env', '--no-check', 'test/deno/hub_load.ts', 'tiny/bf16', JSON.stringify(expected.sequences)], {
        cwd: root,
        env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_TOKEN: '' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      return JSON.parse(stdout.trim().split('\n').pop()!) as { dir: string; logprobs: number[][]; models: string[] };
    };
    try {
      const first = await run();
      expect(first.dir.startsWith(`${cache}/models--tiny--bf16/snapshots/`)).toBe(true);
      expect(first.models).toEqual(['tiny/bf16']);
      expect(Math.max(...first.logprobs.flatMap((r, i) => r.map((v, j) => Math.abs(v - expected.logprobs[i]![j]!))))).toBeLessThan(2e-5);
      await hub.close();
      const offline = await run();
      expect(offline).toEqual(first);
    } finally {
      await hub.close().catch(() => {});
    }
  }, 240_000);
});

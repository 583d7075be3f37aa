import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('Deno runtime', () => {
  it('the Deno test suite passes on the built bundle (navigator.gpu + Deno.readFile)', () => {
    const deno = `${root}node_modules/.bin/deno`;
    const result = spawnSync(deno, ['test', '--allow-read', '--allow-net=127.0.0.1', '--no-check', 'test/deno/'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      timeout: 300_000,
    });
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
});

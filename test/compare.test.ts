import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCompare, type CompareEvent } from '../src/compare/compare.js';
import { renderCompareReport } from '../src/compare/report.js';
import { withGpu } from './helpers/gpu.js';

const root = new URL('../', import.meta.url).pathname;
const policy = `${root}assets/demo-policy`;
const env = withGpu({ core: true });

describe('runCompare pairs algorithms by seed', () => {
  it('IG-Search with λ = 0 is GRPO: paired runs train and answer identically, and the interval is exactly 0', async () => {
    const events: CompareEvent[] = [];
    const result = await runCompare(env.gpu, env.core, { policy, algos: ['grpo', 'ig-search'], seeds: [1, 2], steps: 2, questionsPerStep: 1, groupSize: 2, maxTokens: 96, lambda: 0, evalQuestions: 12, onEvent: (e) => events.push(e) });
    expect(result.aborted).toBe(false);
    expect(result.runs.map((r) => `${r.algo}/${r.seed}`)).toEqual(['grpo/1', 'ig-search/1', 'grpo/2', 'ig-search/2']);
    expect(result.questions.length).toBe(12);
    for (const seed of [1, 2]) {
      const [g, ig] = ['grpo', 'ig-search'].map((a) => result.runs.find((r) => r.algo === a && r.seed === seed)!);
      expect(ig!.correct).toEqual(g!.correct);
      expect(ig!.trainReward).toBe(g!.trainReward);
    }
    const trainRewards = (algo: string) => events.flatMap((e) => (e.type === 'step' && e.algo === algo ? [e.metrics.rewards] : []));
    expect(trainRewards('ig-search')).toEqual(trainRewards('grpo'));
    // Every IG-scored training search lands in its class; GRPO scores none. The report charts them first.
    for (const seed of [1, 2]) {
      const run = result.runs.find((r) => r.algo === 'ig-search' && r.seed === seed)!;
      const scored = events.flatMap((e) => (e.type === 'step' && e.algo === 'ig-search' && e.seed === seed ? e.metrics.ig : []));
      expect(Object.values(run.igByClass ?? {}).reduce((n, v) => n + v.length, 0)).toBe(scored.length);
      expect(result.runs.find((r) => r.algo === 'grpo' && r.seed === seed)!.igByClass).toBeUndefined();
    }
    if (result.runs.some((r) => r.igByClass)) expect(renderCompareReport(result)).toMatch(/<svg[^]*?IG by query class/);
    expect(result.options.split).toBe('validation');
    const ig = result.summary.find((s) => s.algo === 'ig-search')!;
    expect([ig.vsGrpo!.all.mean, ig.vsGrpo!.all.low, ig.vsGrpo!.all.high]).toEqual([0, 0, 0]);
    expect(ig.vsGrpo!.all.seeds).toBe(2);
    // The warm start is evaluated once, before training; progress carries an ETA once a step is done.
    expect(events[0]!.type).toBe('progress');
    expect(events.some((e) => e.type === 'started' && e.warmStart.correct.length === 12)).toBe(true);
    expect(events.some((e) => e.type === 'progress' && e.etaMs !== undefined && e.etaMs >= 0)).toBe(true);
  });

  it('refuses unknown or repeated algorithms and bad seeds before loading anything', async () => {
    await expect(runCompare(env.gpu, env.core, { policy: '/nowhere', algos: ['grpo', 'ppo' as 'grpo'] })).rejects.toThrow(/algos must list/);
    await expect(runCompare(env.gpu, env.core, { policy: '/nowhere', algos: ['grpo', 'grpo'] })).rejects.toThrow(/listed twice/);
    await expect(runCompare(env.gpu, env.core, { policy: '/nowhere', seeds: [-1] })).rejects.toThrow(/seeds/);
  });
});

describe('`ig-search compare` on the command line', () => {
  it('Ctrl-C keeps the finished runs in results.json and writes the report; --resume runs only what is missing', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ig-compare-'));
    const args = ['compare', '--out', out, '--algos', 'grpo,stepsearch', '--seeds', '2', '--steps', '1', '--questions', '1', '--group', '2', '--eval-questions', '6'];
    const child = spawn(process.execPath, [`${root}bin/ig-search.js`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 900 && !(existsSync(`${out}/results.json`) && JSON.parse(readFileSync(`${out}/results.json`, 'utf8')).runs.length >= 1); i++) await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    const partial = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as { runs: { algo: string; seed: number }[]; aborted: boolean };
    expect(partial.aborted).toBe(true);
    expect(partial.runs.length).toBeGreaterThanOrEqual(1);
    expect(partial.runs.length).toBeLessThan(4);
    expect(readFileSync(`${out}/report.html`, 'utf8')).toMatch(/ig-search compare/);

    const resumed = spawn(process.execPath, [`${root}bin/ig-search.js`, ...args, '--resume', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    resumed.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((resolve) => resumed.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    const done = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as { runs: { algo: string; seed: number }[]; aborted: boolean };
    expect(done.aborted).toBe(false);
    expect(done.runs.map((r) => `${r.algo}/${r.seed}`).sort()).toEqual(['grpo/1', 'grpo/2', 'stepsearch/1', 'stepsearch/2']);
    expect(done.runs.slice(0, partial.runs.length)).toEqual(partial.runs); // kept, not rerun
    expect(JSON.parse(stdout).summary.map((s: { algo: string }) => s.algo)).toEqual(['grpo', 'stepsearch']);
    expect(readFileSync(`${out}/results.md`, 'utf8')).toMatch(/\| stepsearch \| 2 \|/);
  }, 300_000);
});

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../src/entry/node.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the trainer in a worker_thread (comlink, built bundle)', () => {
  it('runs a short demo off the main thread, streams events through a callback and returns the report', async () => {
    const ig = await import('ig-search');
    const { api, terminate } = await ig.spawnTrainerWorker();
    try {
      const info = await api.info();
      expect(info.runtime).toBe('node');
      expect(info.adapter.length).toBeGreaterThan(0);
      const events: RunEvent[] = [];
      const result = await api.demo(
        { policy: `${root}assets/demo-policy`, algos: ['grpo', 'ig-search'], steps: 1, questionsPerStep: 1, groupSize: 2, evalEvery: 1, evalQuestions: 3, maxTurns: 2, maxTokens: 96 },
        ig.workerCallback((e: RunEvent) => void events.push(e)),
      );
      const steps = result.records.filter((r) => r.type === 'step');
      expect(steps.map((r) => `${r.run}:${r.step}`)).toEqual(['grpo:1', 'ig-search:1']);
      expect(result.records.filter((r) => r.type === 'eval').map((r) => r.run)).toEqual(['grpo', 'grpo', 'ig-search', 'ig-search']);
      // The demo chooses nothing on the test split: it evaluates the first questions of validation.
      expect(result.records.flatMap((r) => (r.type === 'eval' ? [[r.split, r.n]] : []))).toEqual(Array(4).fill(['validation', 3]));
      // Callbacks cross the boundary as well: every record was also streamed, plus progress events.
      expect(events.filter((e) => e.type !== 'progress')).toEqual(result.records);
      expect(events.some((e) => e.type === 'progress')).toBe(true);
      expect(result.summaries.map((s) => s.algo)).toEqual(['grpo', 'ig-search']);
      expect(result.summaries[1]!.igShare).toBeGreaterThan(0);
      expect((result.html.match(/<svg /g) ?? []).length).toBe(6);
    } finally {
      await terminate();
    }
  });
});

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

  it('pauses a demo before its next step, resumes it, stops it while paused, and runs again after the stop', async () => {
    const ig = await import('ig-search');
    const { api, terminate } = await ig.spawnTrainerWorker();
    const options = { policy: `${root}assets/demo-policy`, algos: ['grpo' as const], steps: 1, questionsPerStep: 1, groupSize: 2, evalEvery: 1, evalQuestions: 1, maxTurns: 1, maxTokens: 48 };
    // Each run is paused before it starts, so it waits before its first step whatever the timing.
    const pausedRun = async (then: 'resume' | 'abort') => {
      const seen: string[] = [];
      await api.pause();
      const result = await api.demo(
        options,
        ig.workerCallback((e: RunEvent) => {
          if (e.type === 'progress' && e.phase === 'paused') {
            seen.push(`paused@${e.step}`);
            void (then === 'resume' ? api.resume() : api.abort());
          }
          if (e.type === 'step') seen.push(`step${e.step}`);
        }),
      );
      return { seen, result };
    };
    try {
      const stopped = await pausedRun('abort');
      expect(stopped.seen).toEqual(['paused@0']); // a paused run stops without taking a step
      expect(stopped.result.aborted).toBe(true);
      expect(stopped.result.records.filter((r) => r.type === 'step')).toEqual([]);
      const resumed = await pausedRun('resume');
      expect(resumed.seen).toEqual(['paused@0', 'step1']);
      expect(resumed.result.aborted).toBe(false);
      expect(resumed.result.records.filter((r) => r.type === 'eval').map((r) => r.step)).toEqual([0, 1]);
    } finally {
      await terminate();
    }
  });

  it('trains on uploaded files (a held-out tenth evaluated), and "ask" then searches the uploaded corpus', async () => {
    const ig = await import('ig-search');
    const { readFileSync } = await import('node:fs');
    const read = (name: string) => readFileSync(`${root}assets/demo-policy/${name}`, 'utf8').split('\n').filter(Boolean);
    const questions = read('train.jsonl').slice(0, 20);
    const needed = new Set(questions.flatMap((l) => (JSON.parse(l) as { supporting: string[] }).supporting));
    // A corpus of its own: the questions' passages and the first 40 others, not the world's 1,812.
    const passages = read('corpus.jsonl').filter((l, i) => needed.has((JSON.parse(l) as { id: string }).id) || i < 40);
    const ids = new Set(passages.map((l) => (JSON.parse(l) as { id: string }).id));
    const file = (name: string, lines: string[]) => ({ name, bytes: new TextEncoder().encode(lines.join('\n') + '\n') });
    const { api, terminate } = await ig.spawnTrainerWorker();
    try {
      const bad = await api.demo({ policy: `${root}assets/demo-policy`, uploads: { corpus: file('mine.jsonl', passages), questions: file('q.jsonl', ['{"question": "x"}']) } }).catch((e: unknown) => e);
      expect((bad as Error).message).toMatch(/^q\.jsonl:1: field "golden_answers" must be/);
      const result = await api.demo({ policy: `${root}assets/demo-policy`, uploads: { corpus: file('mine.jsonl', passages), questions: file('q.jsonl', questions) }, algos: ['grpo'], steps: 1, questionsPerStep: 2, groupSize: 2, evalEvery: 1, evalQuestions: 0, maxTurns: 1, maxTokens: 64 });
      const evals = result.records.filter((r) => r.type === 'eval');
      expect(evals.map((r) => [r.step, r.n, r.split])).toEqual([[0, 2, 'validation'], [1, 2, 'validation']]);
      const answer = await api.ask({ policy: `${root}assets/demo-policy`, question: (JSON.parse(questions[0]!) as { question: string }).question, maxTurns: 2, maxTokens: 200 });
      expect(answer.model).toBe('grpo after 1 steps');
      const found = answer.searches.flatMap((s) => s.documents.map((d) => d.id));
      expect(found.length).toBeGreaterThan(0);
      for (const id of found) expect(ids.has(id), id).toBe(true);
      // Export (all weights trained): a model directory that CausalLM loads here and that scores as the worker does.
      const { mkdtempSync, writeFileSync } = await import('node:fs');
      const dir = mkdtempSync(`${(await import('node:os')).tmpdir()}/ig-worker-export-`);
      const files = await api.exportModel();
      expect(Object.keys(files).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
      for (const [name, data] of Object.entries(files)) writeFileSync(`${dir}/${name}`, data);
      const sequences = [[5, 17, 42, 99, 7, 3]];
      const inWorker = await api.logprobs(sequences);
      const gpu = await ig.Gpu.request();
      const exported = await ig.CausalLM.load(gpu, dir);
      const here = await exported.sequenceLogprobs(sequences);
      expect(Math.max(...here[0]!.map((v, j) => Math.abs(v - inWorker[0]![j]!)))).toBeLessThan(1e-4);
      exported.free();
      gpu.destroy();
    } finally {
      await terminate();
    }
  });

  it('downloads a Hub model into the cache with progress, trains it on the demo world, and exports it with its own tokenizer files', async () => {
    const ig = await import('ig-search');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { repoFromDirectory, startFixtureHub } = await import('./helpers/hub.js');
    const files = { ...repoFromDirectory(`${root}assets/demo-policy`, (n) => ['config.json', 'model.safetensors', 'tokenizer.json'].includes(n)), 'tokenizer_config.json': new TextEncoder().encode('{"model_max_length": 2048}') };
    const hub = await startFixtureHub({ 'ig/hub-policy': { files } });
    const cache = mkdtempSync(`${tmpdir()}/ig-worker-hub-`);
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache; // the worker thread starts with a copy of this environment
    const { api, terminate } = await ig.spawnTrainerWorker();
    if (saved === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = saved;
    try {
      const progress: { file: string; filesDone: number; filesTotal: number }[] = [];
      const got = await api.download('ig/hub-policy', { endpoint: hub.url }, ig.workerCallback((p: { file: string; filesDone: number; filesTotal: number }) => void progress.push(p)));
      expect(got.dir.startsWith(cache)).toBe(true);
      expect(got.architecture).toBe('qwen2');
      expect(got.parameters).toBeGreaterThan(100_000);
      expect(progress.some((p) => p.file === 'model.safetensors')).toBe(true);
      const missing = await api.download('ig/no-such-model', { endpoint: hub.url }).catch((e: unknown) => e);
      expect((missing as InstanceType<typeof ig.IgSearchError>).code).toBe('NOT_FOUND');
      const result = await api.demo({ policy: `${root}assets/demo-policy`, model: got.dir, algos: ['grpo'], steps: 1, questionsPerStep: 1, groupSize: 2, evalEvery: 1, evalQuestions: 2, maxTurns: 1, maxTokens: 48 });
      expect(result.records.filter((r) => r.type === 'step').map((r) => r.step)).toEqual([1]);
      // The export carries the tokenizer files of the model trained (the demo policy has no tokenizer_config.json).
      expect(Object.keys(await api.exportModel()).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    } finally {
      await terminate();
      await hub.close();
    }
  });
});


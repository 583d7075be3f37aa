// Run as its own process by worker_terminate.test.ts: terminate a trainer worker while its demo
// runs, DELAY ms after its first step. A plain thread kill here aborts the whole process (Dawn:
// "Promise not resolved", exit 134); terminate() must shut the work down first.
import { spawnTrainerWorker, workerCallback } from 'ig-search';

const policy = new URL('../../assets/demo-policy', import.meta.url).pathname;
const { api, terminate } = await spawnTrainerWorker();
let steps = 0;
let resolveFirst;
const first = new Promise((resolve) => (resolveFirst = resolve));
const demo = api
  .demo({ policy, algos: ['ig-search'], steps: 50, questionsPerStep: 2, groupSize: 2, evalEvery: 0, maxTurns: 2, maxTokens: 96 }, workerCallback((e) => {
    if (e.type === 'step') (steps++, resolveFirst());
  }))
  .then((r) => `finished: ${r.records.filter((x) => x.type === 'step').length} steps, aborted ${r.aborted}`, (e) => `rejected: ${e.message}`);
await first;
await new Promise((r) => setTimeout(r, Number(process.env.DELAY ?? 0)));
const code = await terminate();
console.log(JSON.stringify({ terminated: code, stepsSeen: steps, demo: await Promise.race([demo, new Promise((r) => setTimeout(() => r('pending'), 1000))]) }));

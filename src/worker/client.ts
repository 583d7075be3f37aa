/**
 * The main-thread side: wrap a worker that runs `dist/worker-browser.js` (browsers) or spawn
 * `dist/worker-node.js` (Node), and get the same typed API as in-process, every call async.
 */
import { proxy, releaseProxy, wrap, type Remote } from 'comlink';
import { IgSearchError } from '../errors.js';
import { currentPlatform } from '../platform/platform.js';
import type { TrainerWorkerApi } from './api.js';

export type TrainerWorker = Remote<TrainerWorkerApi>;

/** Wraps a Web Worker (or anything comlink accepts as an endpoint) running the trainer worker script. */
export function wrapTrainerWorker(endpoint: Parameters<typeof wrap>[0]): TrainerWorker {
  return wrap<TrainerWorkerApi>(endpoint);
}

/** Marks a callback (e.g. `onEvent`) to be called back across the worker boundary. */
export const workerCallback = <T extends (...args: never[]) => unknown>(fn: T): T & { [releaseProxy]?: never } => proxy(fn);

/**
 * Node: spawns the trainer in a worker_thread running the bundle's `worker-node.js`, wrapped with
 * comlink; `terminate()` ends the thread. Browsers construct `new Worker(…/worker-browser.js)` and
 * use `wrapTrainerWorker` instead.
 */
export async function spawnTrainerWorker(): Promise<{ api: TrainerWorker; terminate: () => Promise<number> }> {
  if (currentPlatform().runtime !== 'node') {
    throw new IgSearchError('UNSUPPORTED_RUNTIME', `spawnTrainerWorker is for Node; in ${currentPlatform().runtime} create a module Worker for dist/worker-browser.js and call wrapTrainerWorker`);
  }
  const { Worker } = await import('node:worker_threads');
  const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
  const worker = new Worker(new URL('./worker-node.js', import.meta.url));
  return { api: wrap<TrainerWorkerApi>(nodeEndpoint(worker)), terminate: () => worker.terminate() };
}

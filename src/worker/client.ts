/**
 * The main-thread side: wrap a worker that runs `dist/worker-browser.js` (browsers) or spawn
 * `dist/worker-node.js` (Node), and get the same typed API as in-process, every call async.
 */
import { proxy, releaseProxy, wrap, type Remote } from 'comlink';
import type { TrainerWorkerApi } from './api.js';

export type TrainerWorker = Remote<TrainerWorkerApi>;

/** Wraps a Web Worker (or anything comlink accepts as an endpoint) running the trainer worker script. */
export function wrapTrainerWorker(endpoint: Parameters<typeof wrap>[0]): TrainerWorker {
  return wrap<TrainerWorkerApi>(endpoint);
}

/** Marks a callback (e.g. `onEvent`) to be called back across the worker boundary. */
export const workerCallback = <T extends (...args: never[]) => unknown>(fn: T): T & { [releaseProxy]?: never } => proxy(fn);

/**
 * The main-thread side: wrap a worker that runs `dist/worker-browser.js` (browsers) or spawn
 * `dist/worker-node.js` (Node), and get the same typed API as in-process, every call async.
 */
import { proxy, releaseProxy, wrap, type Remote } from 'comlink';
import { IgSearchError } from '../errors.js';
import { currentPlatform } from '../platform/platform.js';
import type { TrainerWorkerApi } from './api.js';
import { installErrorTransfer } from './errors.js';

export type TrainerWorker = Remote<TrainerWorkerApi>;

/** Wraps a Web Worker (or anything comlink accepts as an endpoint) running the trainer worker script. */
export function wrapTrainerWorker(endpoint: Parameters<typeof wrap>[0]): TrainerWorker {
  installErrorTransfer();
  return wrap<TrainerWorkerApi>(endpoint);
}

/** Marks a callback (e.g. `onEvent`) to be called back across the worker boundary. */
export const workerCallback = <T extends (...args: never[]) => unknown>(fn: T): T & { [releaseProxy]?: never } => proxy(fn);

/**
 * Node: spawns the trainer in a worker_thread running the bundle's `worker-node.js`, wrapped with
 * comlink. `terminate()` first asks the worker to shut down — abort the run, let the current step
 * finish, release the GPU device — and ends the thread after that, or after `graceMs` (default
 * 120 s) if it does not answer. Ending a thread while a GPU call is in flight can take the whole
 * process down with it (Dawn), so there is no immediate kill. Browsers construct
 * `new Worker(…/worker-browser.js)` and use `wrapTrainerWorker` instead.
 */
export async function spawnTrainerWorker(): Promise<{ api: TrainerWorker; terminate: (graceMs?: number) => Promise<number> }> {
  if (currentPlatform().runtime !== 'node') {
    throw new IgSearchError('UNSUPPORTED_RUNTIME', `spawnTrainerWorker is for Node; in ${currentPlatform().runtime} create a module Worker for dist/worker-browser.js and call wrapTrainerWorker`);
  }
  const { Worker } = await import('node:worker_threads');
  const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
  installErrorTransfer();
  const worker = new Worker(new URL('./worker-node.js', import.meta.url));
  const api = wrap<TrainerWorkerApi>(nodeEndpoint(worker));
  let exited = false;
  worker.once('exit', () => (exited = true));
  const terminate = async (graceMs = 120_000) => {
    if (!exited) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([api.shutdown().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    return worker.terminate();
  };
  return { api, terminate };
}

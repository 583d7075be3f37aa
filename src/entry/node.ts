import { setPlatform } from '../platform/platform.js';
import { nodePlatform } from '../platform/node.js';

setPlatform(nodePlatform);

export * from '../index.js';

/**
 * Spawns the trainer in a Node worker_thread (dist/worker-node.js) and wraps it with comlink;
 * `terminate()` ends the thread.
 */
export async function spawnTrainerWorker(): Promise<{ api: import('../worker/client.js').TrainerWorker; terminate: () => Promise<number> }> {
  const { Worker } = await import('node:worker_threads');
  const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
  const { wrapTrainerWorker } = await import('../worker/client.js');
  const worker = new Worker(new URL('./worker-node.js', import.meta.url));
  return { api: wrapTrainerWorker(nodeEndpoint(worker)), terminate: () => worker.terminate() };
}

// A Node worker_thread serving TrainerWorkerApi over comlink (spawn it with `spawnTrainerWorker`).
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { setPlatform } from '../platform/platform.js';
import { nodePlatform } from '../platform/node.js';
import { createTrainerWorkerApi } from '../worker/api.js';
import { installErrorTransfer } from '../worker/errors.js';

setPlatform(nodePlatform);
installErrorTransfer();
if (!parentPort) throw new Error('ig-search worker-node.js must run as a worker_thread');
expose(createTrainerWorkerApi(), nodeEndpoint(parentPort));

// A module Web Worker serving TrainerWorkerApi over comlink:
//   const api = wrapTrainerWorker(new Worker(new URL('ig-search/dist/worker-browser.js', import.meta.url), { type: 'module' }));
import { expose } from 'comlink';
import { createTrainerWorkerApi } from '../worker/api.js';
import { installErrorTransfer } from '../worker/errors.js';

installErrorTransfer();
expose(createTrainerWorkerApi());

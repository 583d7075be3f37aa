import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { createFsHubStore, defaultHubCache, isLocalDirectory, savedHubToken } from '../hub/fs_store.js';
import { openFileSource } from './fs_source.js';
import { fetchBytes, webPlatform, type Platform } from './platform.js';

let dawn: Promise<GPU | undefined> | undefined;

/** Node: Dawn through the npm `webgpu` package (loaded lazily, once per process). */
export const nodePlatform: Platform = {
  runtime: 'node',
  gpu() {
    dawn ??= import('webgpu').then(({ create }) => {
      // XDG_RUNTIME_DIR unset makes the Vulkan loader print a harmless warning on every start.
      process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
      tuneLavapipe();
      return create([]) as GPU;
    });
    return dawn;
  },
  async readAsset(url) {
    if (url.protocol === 'file:') return new Uint8Array(await readFile(url));
    return fetchBytes(url);
  },
  async readFile(path) {
    if (/^https?:\/\//.test(path)) return webPlatform.readFile(path);
    const data = await readFile(path);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  },
  version() {
    return `node ${process.versions.node}`;
  },
  openFile: openFileSource,
  isDirectory: isLocalDirectory,
  async hubStore(cacheDir) {
    return createFsHubStore(cacheDir ?? defaultHubCache());
  },
  savedHubToken: () => savedHubToken(),
};

/**
 * lavapipe (Mesa's CPU Vulkan) runs compute work on LP_NUM_THREADS worker threads, one per core
 * by default. Measured on a 2-core machine, a 1024³ matmul runs ~1.5× faster with 16 workers
 * than with 2 (bench/matmul.ts): the workers idle between workgroup batches, and more of them
 * fill the gaps. Mesa reads the variable when Dawn loads the driver, so it is set here, before
 * `create()`, and only when the user has not set it. `IG_SEARCH_LP_THREADS=0` leaves Mesa's default.
 */
export function tuneLavapipe(): void {
  const env = process.env;
  if (env['LP_NUM_THREADS'] !== undefined || env['IG_SEARCH_LP_THREADS'] === '0') return;
  const wanted = Number(env['IG_SEARCH_LP_THREADS'] ?? Math.min(32, 8 * availableParallelism()));
  if (Number.isInteger(wanted) && wanted > 0) env['LP_NUM_THREADS'] = String(wanted);
}

import { createFsHubStore, defaultHubCache, isLocalDirectory, savedHubToken } from '../hub/fs_store.js';
import { openFileSource } from './fs_source.js';
import { webPlatform, type Platform } from './platform.js';

declare const Deno: {
  readFile(path: URL | string): Promise<Uint8Array>;
  version: { deno: string };
};

/** Deno: `navigator.gpu` (wgpu), assets read from disk or fetched for remote URLs. */
export const denoPlatform: Platform = {
  runtime: 'deno',
  gpu: webPlatform.gpu,
  async readAsset(url) {
    return url.protocol === 'file:' ? Deno.readFile(url) : webPlatform.readAsset(url);
  },
  async readFile(path) {
    return /^https?:\/\//.test(path) ? webPlatform.readFile(path) : Deno.readFile(path);
  },
  version() {
    return `deno ${Deno.version.deno}`;
  },
  // Deno runs node:fs, so the model cache is the same Hugging Face layout as in Node.
  openFile: openFileSource,
  isDirectory: isLocalDirectory,
  async hubStore(cacheDir) {
    return createFsHubStore(cacheDir ?? defaultHubCache());
  },
  savedHubToken: () => savedHubToken(),
};

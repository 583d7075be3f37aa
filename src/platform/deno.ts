import { webPlatform, type Platform } from './platform.js';

declare const Deno: {
  readFile(path: URL): Promise<Uint8Array>;
  version: { deno: string };
};

/** Deno: `navigator.gpu` (wgpu), assets read from disk or fetched for remote URLs. */
export const denoPlatform: Platform = {
  runtime: 'deno',
  gpu: webPlatform.gpu,
  async readAsset(url) {
    return url.protocol === 'file:' ? Deno.readFile(url) : webPlatform.readAsset(url);
  },
  version() {
    return `deno ${Deno.version.deno}`;
  },
};

import { readFile } from 'node:fs/promises';
import type { Platform } from './platform.js';

let dawn: Promise<GPU | undefined> | undefined;

/** Node: Dawn through the npm `webgpu` package (loaded lazily, once per process). */
export const nodePlatform: Platform = {
  runtime: 'node',
  gpu() {
    dawn ??= import('webgpu').then(({ create }) => {
      // XDG_RUNTIME_DIR unset makes the Vulkan loader print a harmless warning on every start.
      process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
      return create([]) as GPU;
    });
    return dawn;
  },
  async readAsset(url) {
    if (url.protocol === 'file:') return new Uint8Array(await readFile(url));
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${url.href}`);
    return new Uint8Array(await response.arrayBuffer());
  },
  version() {
    return `node ${process.versions.node}`;
  },
};

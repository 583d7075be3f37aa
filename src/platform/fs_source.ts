/** Ranged reads of a local file (Node, and Deno through node:fs). */
import { open } from 'node:fs/promises';
import type { ByteSource } from './platform.js';

export async function openFileSource(path: string): Promise<ByteSource> {
  const handle = await open(path, 'r');
  const size = (await handle.stat()).size;
  return {
    size,
    async read(begin, end) {
      const out = new Uint8Array(end - begin);
      let at = 0;
      while (at < out.length) {
        const { bytesRead } = await handle.read(out, at, out.length - at, begin + at);
        if (bytesRead === 0) throw new Error(`${path}: file ended at byte ${begin + at}, expected ${end}`);
        at += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

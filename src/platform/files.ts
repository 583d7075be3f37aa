/**
 * Writes that never follow a link someone placed in the way: a temporary file created exclusively
 * (`wx`, so a planted `name.tmp` link fails the write instead of redirecting it) and renamed over the
 * target; appends through a descriptor opened with O_NOFOLLOW; and a check that refuses a run-dir
 * entry that is a symbolic link. Node and Deno (node:fs).
 */
import { IgSearchError } from '../errors.js';

async function fs() {
  try {
    return await import('node:fs/promises');
  } catch (e) {
    throw new IgSearchError('UNSUPPORTED_RUNTIME', 'writing files needs a file system (Node or Deno)', { cause: e });
  }
}

/** A temporary name beside `path` no other writer picks. */
const tmpName = (path: string) => `${path}.${(globalThis as { process?: { pid?: number } }).process?.pid ?? 0}-${Math.random().toString(36).slice(2, 10)}.tmp`;

/** Writes `data` to `path` through an exclusively created temporary file and a rename: a reader never sees half a file, and no link is followed. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const f = await fs();
  const tmp = tmpName(path);
  const handle = await f.open(tmp, 'wx');
  try {
    await handle.writeFile(data);
  } catch (e) {
    await handle.close().catch(() => {});
    await f.unlink(tmp).catch(() => {});
    throw e;
  }
  await handle.close();
  await f.rename(tmp, path);
}

/** INVALID_ARGUMENT when `path` is a symbolic link (`what` names it); nothing when it is absent or a plain entry. */
export async function refuseLink(path: string, what: string): Promise<void> {
  const f = await fs();
  const entry = await f.lstat(path).catch(() => undefined);
  if (entry?.isSymbolicLink()) throw new IgSearchError('INVALID_ARGUMENT', `${what} ${path} is a symbolic link; refused (ig-search writes there and would write through it)`, { hint: 'remove the link, or give another output directory' });
}

/** An appender for `path` (created if absent) that refuses to open a symbolic link. */
export async function appendOnly(path: string): Promise<{ append(text: string): Promise<void>; appendBytes(bytes: Uint8Array): Promise<void>; close(): Promise<void> }> {
  const f = await fs();
  const { constants } = await import('node:fs');
  await refuseLink(path, 'file');
  const handle = await f.open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), 0o644);
  return { append: async (text) => void (await handle.write(text)), appendBytes: async (bytes) => void (await handle.write(bytes)), close: () => handle.close() };
}

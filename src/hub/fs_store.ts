/** The Hugging Face cache layout on a file system (Node, and Deno through its node: modules). See store.ts. */
import { createHash } from 'node:crypto';
import * as fsPromises from 'node:fs/promises';
import { copyFile, lstat, mkdir, open, readFile, readdir, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { IgSearchError } from '../errors.js';
import { writeFileAtomic } from '../platform/files.js';
import { checkRevision, COMMIT, SHA, shown } from './names.js';
import { repoFolder, type BlobWriter, type CachedModel, type HubStore } from './store.js';

type Env = Record<string, string | undefined>;

/** huggingface_hub's home: HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
const hfHome = (env: Env) => env['HF_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'huggingface');

/** huggingface_hub's cache directory: HF_HUB_CACHE (or its old name), else the home's hub/. */
export function defaultHubCache(env: Env = process.env): string {
  return env['HF_HUB_CACHE'] || env['HUGGINGFACE_HUB_CACHE'] || join(hfHome(env), 'hub');
}

/** The token huggingface_hub saved with `hf auth login` (HF_TOKEN_PATH, else the home's token), if any. */
export async function savedHubToken(env: Env = process.env): Promise<string | undefined> {
  try {
    return (await readFile(env['HF_TOKEN_PATH'] ?? join(hfHome(env), 'token'), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

const exists = async (path: string) => lstat(path).then(
  () => true,
  () => false,
);

/** Refuses file names that would leave the snapshot folder. */
function safe(file: string): string {
  if (file === '' || file.startsWith('/') || file.split('/').some((p) => p === '..' || p === '')) throw new IgSearchError('INVALID_ARGUMENT', `hub file name ${JSON.stringify(file)} is not a relative path inside the model`);
  return file;
}

export function createFsHubStore(root = defaultHubCache()): HubStore {
  const base = resolve(root);
  /** `path`, resolved, if it lies inside the cache; INVALID_ARGUMENT otherwise (the last line against a name that got past the checks). */
  const inside = (path: string): string => {
    const full = resolve(path);
    if (!full.startsWith(base + sep)) throw new IgSearchError('INVALID_ARGUMENT', `hub cache: ${shown(path)} lies outside ${base}; refused`);
    return full;
  };
  const folder = (repo: string) => inside(join(base, repoFolder(repo)));
  const blob = (repo: string, etag: string) => {
    if (!SHA.test(etag)) throw new IgSearchError('INVALID_ARGUMENT', `hub cache: blob name ${shown(etag)} is not a sha1 or sha256`);
    return inside(join(folder(repo), 'blobs', etag));
  };
  const snapshot = (repo: string, commit: string) => {
    if (!COMMIT.test(commit)) throw new IgSearchError('INVALID_ARGUMENT', `hub cache: snapshot ${shown(commit)} is not a commit hash`);
    return inside(join(folder(repo), 'snapshots', commit));
  };
  const refPath = (repo: string, revision: string) => inside(join(folder(repo), 'refs', checkRevision(revision)));
  return {
    root,
    snapshotDir: snapshot,
    async readRef(repo, revision) {
      try {
        const commit = (await readFile(refPath(repo, revision), 'utf8')).trim();
        return COMMIT.test(commit) ? commit : undefined;
      } catch {
        return undefined;
      }
    },
    async writeRef(repo, revision, commit) {
      if (!COMMIT.test(commit)) throw new IgSearchError('INVALID_ARGUMENT', `hub cache: ${shown(commit)} is not a commit hash`);
      const path = refPath(repo, revision);
      await mkdir(dirname(path), { recursive: true });
      await writeFileAtomic(path, commit);
    },
    async hasFile(repo, commit, file) {
      if (await stat(join(snapshot(repo, commit), safe(file))).then(() => true, () => false)) return true;
      return (await exists(join(folder(repo), '.no_exist', commit, file))) ? false : undefined;
    },
    async markMissing(repo, commit, file) {
      snapshot(repo, commit); // checks the commit
      const path = inside(join(folder(repo), '.no_exist', commit, safe(file)));
      await mkdir(dirname(path), { recursive: true });
      await writeFileAtomic(path, '');
    },
    async readFile(repo, commit, file) {
      const data = await readFile(join(snapshot(repo, commit), safe(file)));
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    },
    hasBlob: async (repo, etag) => (await lstat(blob(repo, etag)).catch(() => undefined))?.isFile() ?? false,
    async freeBytes(repo) {
      const dir = join(folder(repo), 'blobs');
      await mkdir(dir, { recursive: true });
      // Looked up, not imported: a runtime whose node:fs lacks statfs still loads this module.
      const statfs = (fsPromises as { statfs?: (path: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }> }).statfs;
      try {
        if (!statfs) return undefined;
        const s = await statfs(dir);
        return Number(s.bavail) * Number(s.bsize);
      } catch {
        return undefined; // a runtime without statfs
      }
    },
    async blobWriter(repo, etag, size): Promise<BlobWriter> {
      const path = blob(repo, etag);
      await mkdir(dirname(path), { recursive: true });
      const incomplete = `${path}.incomplete`;
      // A stale partial file is dropped; the new one is created exclusively, so a planted link is never written through.
      await unlink(incomplete).catch(() => {});
      const handle = await open(incomplete, 'wx');
      // LFS files are named by their sha256; small files by git's blob sha1 ("blob <size>\0" + bytes), streamed
      // since the size is known up front.
      const hash = etag.length === 64 ? createHash('sha256') : createHash('sha1').update(`blob ${size}\0`);
      let written = 0;
      return {
        async write(chunk) {
          hash.update(chunk);
          written += chunk.byteLength;
          await handle.write(chunk);
        },
        async commit() {
          await handle.close();
          const ok = written === size && hash.digest('hex') === etag;
          if (!ok) {
            await unlink(incomplete).catch(() => {});
            return false;
          }
          await rename(incomplete, path);
          return true;
        },
        async abort() {
          await handle.close().catch(() => {});
          await unlink(incomplete).catch(() => {});
        },
      };
    },
    async link(repo, commit, file, etag) {
      const target = inside(join(snapshot(repo, commit), safe(file)));
      await mkdir(dirname(target), { recursive: true });
      await unlink(target).catch(() => {});
      try {
        await symlink(relative(dirname(target), blob(repo, etag)), target);
      } catch {
        await copyFile(blob(repo, etag), target); // file systems without symlinks (huggingface_hub does the same)
      }
    },
    async list() {
      const names = await readdir(root).catch(() => [] as string[]);
      const out: CachedModel[] = [];
      for (const name of names.filter((n) => n.startsWith('models--')).sort()) {
        const path = join(root, name);
        const blobs = await readdir(join(path, 'blobs')).catch(() => [] as string[]);
        let bytes = 0;
        for (const b of blobs) bytes += await stat(join(path, 'blobs', b)).then((s) => s.size, () => 0);
        const refs: Record<string, string> = {};
        const walk = async (dir: string, prefix: string): Promise<void> => {
          for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
            if (entry.isDirectory()) await walk(join(dir, entry.name), `${prefix}${entry.name}/`);
            else refs[`${prefix}${entry.name}`] = (await readFile(join(dir, entry.name), 'utf8')).trim();
          }
        };
        await walk(join(path, 'refs'), '');
        out.push({ repo: name.slice('models--'.length).split('--').join('/'), bytes, snapshots: (await readdir(join(path, 'snapshots')).catch(() => [] as string[])).sort(), refs, path });
      }
      return out;
    },
    async remove(repo) {
      const path = folder(repo);
      if (!(await exists(path))) return false;
      await rm(path, { recursive: true, force: true });
      return true;
    },
  };
}

/** Whether `path` is a directory on this machine (a local model, not a Hub id). */
export async function isLocalDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}


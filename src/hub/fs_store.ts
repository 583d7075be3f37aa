/** The Hugging Face cache layout on a file system (Node, and Deno through its node: modules). See store.ts. */
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, open, readFile, readdir, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { IgSearchError } from '../errors.js';
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
  const folder = (repo: string) => join(root, repoFolder(repo));
  const blob = (repo: string, etag: string) => join(folder(repo), 'blobs', etag);
  const snapshot = (repo: string, commit: string) => join(folder(repo), 'snapshots', commit);
  return {
    root,
    snapshotDir: snapshot,
    async readRef(repo, revision) {
      try {
        return (await readFile(join(folder(repo), 'refs', revision), 'utf8')).trim() || undefined;
      } catch {
        return undefined;
      }
    },
    async writeRef(repo, revision, commit) {
      const path = join(folder(repo), 'refs', revision);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(`${path}.tmp`, commit);
      await rename(`${path}.tmp`, path);
    },
    async hasFile(repo, commit, file) {
      if (await stat(join(snapshot(repo, commit), safe(file))).then(() => true, () => false)) return true;
      return (await exists(join(folder(repo), '.no_exist', commit, file))) ? false : undefined;
    },
    async markMissing(repo, commit, file) {
      const path = join(folder(repo), '.no_exist', commit, safe(file));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, '');
    },
    async readFile(repo, commit, file) {
      const data = await readFile(join(snapshot(repo, commit), safe(file)));
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    },
    hasBlob: (repo, etag) => exists(blob(repo, etag)),
    async blobWriter(repo, etag): Promise<BlobWriter> {
      const path = blob(repo, etag);
      await mkdir(dirname(path), { recursive: true });
      const incomplete = `${path}.incomplete`;
      const handle = await open(incomplete, 'w');
      // LFS files are named by their sha256; small files by git's blob sha1 ("blob <size>\0" + bytes).
      const sha256 = createHash('sha256');
      const parts: Uint8Array[] = [];
      let size = 0;
      return {
        async write(chunk) {
          sha256.update(chunk);
          if (etag.length === 40) parts.push(chunk.slice());
          size += chunk.byteLength;
          await handle.write(chunk);
        },
        async commit() {
          await handle.close();
          let ok = true;
          if (etag.length === 64) ok = sha256.digest('hex') === etag;
          else if (etag.length === 40) {
            const sha1 = createHash('sha1').update(`blob ${size}\0`);
            for (const p of parts) sha1.update(p);
            ok = sha1.digest('hex') === etag;
          }
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
      const target = join(snapshot(repo, commit), safe(file));
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


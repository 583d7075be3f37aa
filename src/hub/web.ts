/**
 * `fromPretrained` in browsers and Web Workers: the same Hub files, kept in Cache Storage
 * (`caches.open('ig-search-models')`) under their resolve URLs pinned to a commit, so the loaders —
 * which read `{base}/config.json` etc. through the platform — find them there on the next page
 * load, offline included. A branch or tag is remembered as the commit it pointed to. Every file is
 * checked before it is cached: against the hashes the Hub's tree listing gives for the commit
 * (`/api/models/{repo}/tree/{commit}`: sha256 for LFS files, git's blob sha1 for the rest) — LFS
 * files arrive through the storage host's redirect, whose headers (X-Linked-Etag) a browser hides;
 * without a listing (a mirror that serves only `resolve/`), small files against their ETag.
 */
import { IgSearchError } from '../errors.js';
import type { CachedModel } from './store.js';

export const WEB_CACHE = 'ig-search-models';
const REF = 'https://ig-search.invalid/refs/';

interface WebOptions {
  endpoint: string;
  revision: string;
  token?: string;
  offline: boolean;
  files: { required: readonly string[]; optional: readonly string[] };
  onProgress?: (p: { file: string; bytes: number; totalBytes: number; filesDone: number; filesTotal: number; cached: boolean }) => void;
  fetcher: typeof fetch;
}

const cacheStorage = () => (globalThis as { caches?: CacheStorage }).caches;

/** The cached copy of `url`, if Cache Storage has one (what the web platform's readFile asks first). */
export async function cachedResponse(url: string): Promise<Uint8Array | undefined> {
  const storage = cacheStorage();
  if (!storage || !/\/resolve\/[0-9a-f]{40}\//.test(url)) return undefined;
  const hit = await (await storage.open(WEB_CACHE)).match(url);
  // A file the model does not have, remembered so that loaders probing for it get a 404 offline too.
  if (hit?.headers.get(MISSING)) throw new IgSearchError('FETCH_FAILED', `${url}: HTTP 404 (the model has no such file)`);
  return hit ? new Uint8Array(await hit.arrayBuffer()) : undefined;
}

const MISSING = 'x-ig-search-missing';

export async function webFromPretrained(repo: string, o: WebOptions, shardNames: (index: string) => string[]): Promise<string> {
  const storage = cacheStorage();
  if (!storage) throw new IgSearchError('UNSUPPORTED_RUNTIME', `fromPretrained(${JSON.stringify(repo)}): this runtime has neither a file system nor Cache Storage; give a base URL`);
  const cache = await storage.open(WEB_CACHE);
  const refKey = `${REF}${encodeURIComponent(o.endpoint)}/${repo}/${encodeURIComponent(o.revision)}`;
  const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
  const fromCache = async (why: string) => {
    const commit = /^[0-9a-f]{40}$/.test(o.revision) ? o.revision : await (await cache.match(refKey))?.text();
    const base = commit && `${o.endpoint}/${repo}/resolve/${commit}`;
    if (base && (await cache.match(`${base}/config.json`))) return base;
    throw new IgSearchError('OFFLINE', `${repo}@${o.revision}: ${why}, and it is not in this browser's cache`, { hint: 'load it once with the network on' });
  };
  if (o.offline) return fromCache('offline');
  let first: Response;
  try {
    first = await o.fetcher(`${o.endpoint}/${repo}/resolve/${encodeURIComponent(o.revision)}/config.json`, { headers });
  } catch (e) {
    return fromCache(`the Hub did not answer (${(e as Error).message})`);
  }
  if (first.status === 401 || first.status === 403) throw new IgSearchError('ACCESS_DENIED', `${repo}: access refused (HTTP ${first.status}); a gated or private model needs a token`);
  if (first.status === 404) throw new IgSearchError('NOT_FOUND', `${repo}: no such model or revision ${o.revision} (HTTP 404)`);
  if (!first.ok) throw new IgSearchError('FETCH_FAILED', `${repo}/config.json: HTTP ${first.status}`);
  const commit = first.headers.get('x-repo-commit');
  if (!commit || !/^[0-9a-f]{40}$/.test(commit)) throw new IgSearchError('FETCH_FAILED', `${o.endpoint}: the answer names no commit (X-Repo-Commit, exposed to scripts by CORS); is it a Hugging Face Hub?`);
  const base = `${o.endpoint}/${repo}/resolve/${commit}`;
  let done = 0;
  let total = 0;
  // The commit's hashes by file; a Hub without the listing API leaves the ETag check alone.
  const listed = new Map<string, { sha256?: string; sha1?: string; size?: number }>();
  try {
    const tree = await o.fetcher(`${o.endpoint}/api/models/${repo}/tree/${commit}`, { headers });
    if (tree.ok) {
      for (const e of (await tree.json()) as { path?: unknown; oid?: unknown; size?: unknown; lfs?: { oid?: unknown } }[]) {
        if (typeof e.path === 'string') listed.set(e.path, { sha256: typeof e.lfs?.oid === 'string' ? e.lfs.oid : undefined, sha1: typeof e.oid === 'string' ? e.oid : undefined, size: Number.isSafeInteger(e.size) && (e.size as number) >= 0 ? (e.size as number) : undefined });
      }
    }
  } catch {
    // No listing: the ETag check below is what remains.
  }
  const put = async (file: string, response: Response, etag: string | null): Promise<Uint8Array> => {
    // Held in memory until hashed, so never more than announced: the listing's size, else Content-Length.
    const header = response.headers.get('content-length');
    const size = listed.get(file)?.size ?? (header !== null && /^\d{1,16}$/.test(header.trim()) ? Number(header) : undefined);
    if (size === undefined) throw new IgSearchError('BAD_RESPONSE', `${repo}: ${file}: the answer does not say how many bytes it is; refused (a body without a bound)`);
    const reader = response.body!.getReader();
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      if (bytes + value.byteLength > size) {
        await reader.cancel().catch(() => {});
        throw new IgSearchError('BAD_RESPONSE', `${repo}: ${file}: the body runs past the ${size} bytes announced; refused`);
      }
      parts.push(value);
      bytes += value.byteLength;
      o.onProgress?.({ file, bytes, totalBytes: size, filesDone: done, filesTotal: total, cached: false });
    }
    const data = new Uint8Array(bytes);
    let at = 0;
    for (const p of parts) (data.set(p, at), (at += p.byteLength));
    const tag = (etag ?? '').replace(/^W\//, '').replace(/"/g, '');
    const want = listed.get(file) ?? (/^[0-9a-f]{40}$/.test(tag) ? { sha1: tag } : {});
    const got = want.sha256 ? await digest('SHA-256', data) : want.sha1 ? await digest('SHA-1', new TextEncoder().encode(`blob ${data.byteLength}\0`), data) : undefined;
    if (got !== (want.sha256 ?? want.sha1)) throw new IgSearchError('CHECKSUM_MISMATCH', `${repo}: ${file}: the bytes do not hash to the Hub's ${want.sha256 ? 'sha256' : 'sha1'} ${want.sha256 ?? want.sha1}`);
    await cache.put(`${base}/${file}`, new Response(data, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.byteLength) } }));
    return data;
  };
  const fetchFile = async (file: string, optional: boolean): Promise<Uint8Array | undefined> => {
    const hit = await cache.match(`${base}/${file}`);
    if (hit) {
      done++;
      o.onProgress?.({ file, bytes: 0, totalBytes: 0, filesDone: done, filesTotal: total, cached: true });
      return hit.headers.get(MISSING) ? undefined : new Uint8Array(await hit.arrayBuffer());
    }
    const response = file === 'config.json' ? first : await o.fetcher(`${base}/${file}`, { headers: new URL(`${base}/${file}`).origin === new URL(o.endpoint).origin ? headers : {} });
    if (response.status === 404 && optional) {
      await markMissing(file);
      done++;
      o.onProgress?.({ file, bytes: 0, totalBytes: 0, filesDone: done, filesTotal: total, cached: true });
      return undefined;
    }
    if (!response.ok) throw new IgSearchError(response.status === 404 ? 'NOT_FOUND' : 'FETCH_FAILED', `${repo}: ${file}: HTTP ${response.status}`);
    const data = await put(file, response, response.headers.get('etag'));
    done++;
    o.onProgress?.({ file, bytes: data.byteLength, totalBytes: data.byteLength, filesDone: done, filesTotal: total, cached: false });
    return data;
  };
  const markMissing = (file: string) => cache.put(`${base}/${file}`, new Response('', { headers: { [MISSING]: '1' } }));
  total = 2;
  await fetchFile('config.json', false);
  const index = await fetchFile('model.safetensors.index.json', true);
  const weights = index ? shardNames(new TextDecoder().decode(index)) : ['model.safetensors'];
  if (index) await markMissing('model.safetensors'); // loaders look for a single file first
  const rest = [...o.files.required.filter((f) => f !== 'config.json'), ...weights];
  total = 2 + rest.length + o.files.optional.length;
  for (const file of rest) await fetchFile(file, false);
  for (const file of o.files.optional) await fetchFile(file, true);
  if (o.revision !== commit) await cache.put(refKey, new Response(commit));
  return base;
}

/** Hex digest of the concatenated parts. */
async function digest(algorithm: 'SHA-1' | 'SHA-256', ...parts: Uint8Array[]): Promise<string> {
  const whole = parts.length === 1 ? parts[0]! : new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  if (parts.length > 1) parts.reduce((at, p) => (whole.set(p, at), at + p.byteLength), 0);
  return [...new Uint8Array(await crypto.subtle.digest(algorithm, whole as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Models in this browser's cache. */
export async function webCachedModels(): Promise<CachedModel[]> {
  const storage = cacheStorage();
  if (!storage) return [];
  const cache = await storage.open(WEB_CACHE);
  const models = new Map<string, CachedModel>();
  for (const request of await cache.keys()) {
    const m = /^(.*)\/([^/]+\/[^/]+)\/resolve\/([0-9a-f]{40})\//.exec(request.url);
    if (!m) continue;
    const model = models.get(m[2]!) ?? { repo: m[2]!, bytes: 0, snapshots: [], refs: {}, path: `${m[1]}/${m[2]}` };
    if (!model.snapshots.includes(m[3]!)) model.snapshots.push(m[3]!);
    model.bytes += (await (await cache.match(request))!.arrayBuffer()).byteLength;
    models.set(m[2]!, model);
  }
  for (const request of await cache.keys()) {
    if (!request.url.startsWith(REF)) continue;
    const [, repoA, repoB, revision] = /\/refs\/[^/]+\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(request.url) ?? [];
    const model = models.get(`${repoA}/${repoB}`);
    if (model) model.refs[decodeURIComponent(revision!)] = await (await cache.match(request))!.text();
  }
  return [...models.values()].sort((a, b) => a.repo.localeCompare(b.repo));
}

/** Deletes a model's files and refs from this browser's cache. */
export async function webRemoveCachedModel(repo: string): Promise<boolean> {
  const storage = cacheStorage();
  if (!storage) return false;
  const cache = await storage.open(WEB_CACHE);
  let removed = false;
  for (const request of await cache.keys()) {
    if (request.url.includes(`/${repo}/resolve/`) || (request.url.startsWith(REF) && request.url.includes(`/${repo}/`))) removed = (await cache.delete(request)) || removed;
  }
  return removed;
}

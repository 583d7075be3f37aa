/**
 * A Hugging Face Hub on 127.0.0.1 for tests, in the Hub's URL layout and headers:
 * `{base}/{repo}/resolve/{revision}/{file}` answers HEAD/GET with X-Repo-Commit and an ETag (git's
 * blob sha1 for small files); LFS files (*.safetensors) answer with a 302 to a storage host on
 * another origin (127.0.0.2) carrying X-Linked-Etag (sha256) and X-Linked-Size. Missing repos,
 * revisions and files get the Hub's 401/404 with X-Error-Code; a gated repo wants a token; `slow`
 * files stall once mid-body; `corrupt` files send other bytes than their hash says.
 * `/api/models/{repo}/tree/{revision}` lists the files with their hashes (git's `oid`, `lfs.oid`).
 * A repo with `movesTo` has its branch moved to a second commit right after the first request on
 * `main`; both commits stay reachable by hash. `startTamperingProxy` puts a hostile front on a hub.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepo {
  /** Files by name: their bytes. */
  files: Record<string, Uint8Array>;
  commit?: string;
  /** Only this token gets in (401 GatedRepo otherwise). */
  gatedToken?: string;
  /** Files whose body stalls for `stallMs` after the first chunk, on the first GET only. */
  slow?: string[];
  /** Files served with bytes that do not match their hash. */
  corrupt?: string[];
  /** After the first request on `main`, the branch points here (another commit, other files). */
  movesTo?: { commit: string; files: Record<string, Uint8Array> };
}

export interface FixtureHub {
  url: string;
  requests: { method: string; path: string; authorization?: string; host: string }[];
  close(): Promise<void>;
}

const isLfs = (name: string) => name.endsWith('.safetensors');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

/** A directory's files as a repo (`only` picks some). */
export function repoFromDirectory(dir: string, only?: (name: string) => boolean): Record<string, Uint8Array> {
  return Object.fromEntries(readdirSync(dir).filter((n) => !only || only(n)).map((n) => [n, new Uint8Array(readFileSync(`${dir}/${n}`))]));
}

export async function startFixtureHub(repos: Record<string, HubRepo>, options: { stallMs?: number } = {}): Promise<FixtureHub> {
  const requests: FixtureHub['requests'] = [];
  const stalled = new Set<string>();
  const commitOf = (name: string, repo: HubRepo) => repo.commit ?? createHash('sha1').update(name).digest('hex');
  const byHash = new Map<string, { bytes: Uint8Array; corrupt: boolean; slow: boolean; key: string }>();
  const moved = new Set<string>();
  for (const [name, repo] of Object.entries(repos)) {
    for (const [file, bytes] of Object.entries({ ...repo.movesTo?.files, ...repo.files })) {
      if (isLfs(file)) byHash.set(`${name}:${sha256(bytes)}`, { bytes, corrupt: repo.corrupt?.includes(file) ?? false, slow: repo.slow?.includes(file) ?? false, key: `${name}/${file}` });
    }
  }
  let storage = '';
  const send = (res: import('node:http').ServerResponse, req: IncomingMessage, bytes: Uint8Array, key: string, slow: boolean) => {
    if (req.method === 'HEAD') return void res.end();
    if (slow && !stalled.has(key)) {
      stalled.add(key);
      res.write(bytes.subarray(0, 16));
      setTimeout(() => res.destroy(), options.stallMs ?? 2000); // stalls, then drops the connection
      return;
    }
    res.end(bytes);
  };
  const handler = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    // CORS as the Hub answers it, so a page on another origin (the browser test) can read files and headers.
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'x-repo-commit, etag, x-linked-etag, x-linked-size, x-error-code, content-length');
    if (req.method === 'OPTIONS') return void res.writeHead(204, { 'access-control-allow-headers': 'authorization, accept-encoding', 'access-control-allow-methods': 'GET, HEAD' }).end();
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, host: req.headers.host ?? '' });
    const lfs = /^\/lfs\/([^/]+)\/([0-9a-f]{64})$/.exec(path);
    if (lfs) {
      const blob = byHash.get(`${decodeURIComponent(lfs[1]!)}:${lfs[2]}`);
      if (!blob) return void res.writeHead(404).end();
      const bytes = blob.corrupt ? blob.bytes.map((b, i) => (i === 7 ? b ^ 0xff : b)) : blob.bytes;
      res.writeHead(200, { 'content-length': bytes.byteLength, 'content-type': 'application/octet-stream' });
      return send(res, req, bytes, blob.key, blob.slow);
    }
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(path);
    if (tree) {
      const repo = repos[decodeURIComponent(tree[1]!)];
      if (!repo || (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`)) return void res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end();
      const revision = decodeURIComponent(tree[2]!);
      if (revision !== 'main' && revision !== commitOf(tree[1]!, repo)) return void res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
      const entries = Object.entries(repo.files).map(([file, bytes]) => ({
        type: 'file',
        oid: gitSha1(isLfs(file) ? new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.byteLength}\n`) : bytes),
        size: bytes.byteLength,
        path: file,
        ...(isLfs(file) ? { lfs: { oid: sha256(bytes), size: bytes.byteLength, pointerSize: 134 } } : {}),
      }));
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entries));
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = m ? repos[decodeURIComponent(m[1]!)] : undefined;
    if (!m || !repo) return void res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end();
    const revision = decodeURIComponent(m[2]!);
    const later = repo.movesTo && (revision === repo.movesTo.commit || (revision === 'main' && moved.has(m[1]!)));
    if (revision === 'main') moved.add(m[1]!);
    const commit = later ? repo.movesTo!.commit : commitOf(m[1]!, repo);
    if (revision !== 'main' && revision !== commit) return void res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) return void res.writeHead(401, { 'x-error-code': 'GatedRepo' }).end();
    const file = decodeURIComponent(m[3]!);
    const bytes = (later ? repo.movesTo!.files : repo.files)[file];
    if (!bytes) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit }).end();
    if (isLfs(file)) {
      const hash = sha256(bytes);
      return void res.writeHead(302, { location: `${storage}/lfs/${encodeURIComponent(m[1]!)}/${hash}`, 'x-repo-commit': commit, 'x-linked-etag': `"${hash}"`, 'x-linked-size': String(bytes.byteLength), 'content-length': 0 }).end();
    }
    res.writeHead(200, { 'x-repo-commit': commit, etag: `"${gitSha1(bytes)}"`, 'content-length': bytes.byteLength, 'content-type': 'application/octet-stream' });
    send(res, req, bytes, `${m[1]}/${file}`, repo.slow?.includes(file) ?? false);
  };
  const listen = async (host: string): Promise<[Server, string]> => {
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return [server, `http://${host}:${(server.address() as AddressInfo).port}`];
  };
  const [hub, url] = await listen('127.0.0.1');
  const [store, storeUrl] = await listen('127.0.0.2');
  storage = storeUrl;
  const stop = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, requests, close: async () => void (await Promise.all([stop(hub), stop(store)])) };
}

/** What a tampering proxy changes in one answer: status, headers (undefined removes one), and the body (`endless` streams zeros forever). */
export interface Tampered {
  status?: number;
  headers?: Record<string, string | undefined>;
  body?: Uint8Array | 'endless';
}

export interface TamperingProxy {
  url: string;
  /** Body bytes the proxy has sent, in all. */
  sent(): number;
  requests: { method: string; path: string }[];
  close(): Promise<void>;
}

/**
 * A hostile Hub: forwards each request to `upstream` (redirects not followed) and lets `tamper`
 * rewrite the answer before it goes out. Answers `tamper` leaves alone pass through unchanged.
 */
export async function startTamperingProxy(upstream: string, tamper: (request: { method: string; path: string }, answer: { status: number; headers: Record<string, string> }) => Tampered | undefined): Promise<TamperingProxy> {
  let sent = 0;
  const requests: TamperingProxy['requests'] = [];
  const server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    requests.push({ method, path });
    const answer = await fetch(`${upstream}${path}`, { method, redirect: 'manual', headers: req.headers.authorization ? { authorization: req.headers.authorization } : {} });
    const headers: Record<string, string> = {};
    answer.headers.forEach((v, k) => {
      if (k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive') headers[k] = v;
    });
    const change = tamper({ method, path }, { status: answer.status, headers }) ?? {};
    const out: Record<string, string> = { ...headers };
    for (const [k, v] of Object.entries(change.headers ?? {})) {
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
    const body = change.body ?? new Uint8Array(await answer.arrayBuffer());
    if (change.body !== undefined && change.headers?.['content-length'] === undefined) delete out['content-length'];
    res.writeHead(change.status ?? answer.status, out);
    if (method === 'HEAD') return void res.end();
    if (body === 'endless') {
      const chunk = new Uint8Array(64 * 1024);
      const pump = () => {
        while (!res.destroyed) {
          sent += chunk.byteLength;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.on('close', () => res.removeAllListeners('drain'));
      return pump();
    }
    sent += body.byteLength;
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: () => sent,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

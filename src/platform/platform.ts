/**
 * What differs between Node, Deno and browsers, in one small interface. Each runtime entry
 * (`src/entry/*.ts`) installs its implementation; everything else asks `currentPlatform()`.
 */
import { IgSearchError } from '../errors.js';
import type { HubStore } from '../hub/store.js';
import { cachedResponse } from '../hub/web.js';

export type RuntimeName = 'node' | 'deno' | 'browser';

export interface Platform {
  readonly runtime: RuntimeName;
  /** The WebGPU entry point, or undefined when this runtime has none. */
  gpu(): Promise<GPU | undefined>;
  /** Reads an asset that ships beside the bundle (the .wasm), given its URL. */
  readAsset(url: URL): Promise<Uint8Array>;
  /** Reads a user file (model weights, data) by path, or by URL where the runtime fetches. */
  readFile(path: string): Promise<Uint8Array>;
  /** Human-readable runtime version for `doctor`. */
  version(): string;
  /** Random access to a file's bytes without reading all of it (runtimes with a file system). */
  openFile?(path: string): Promise<ByteSource>;
  /** Whether `path` is a local directory (runtimes with a file system). */
  isDirectory?(path: string): Promise<boolean>;
  /** The Hub model cache (`fromPretrained`); runtimes without one leave it out. */
  hubStore?(cacheDir?: string): Promise<HubStore>;
  /** The Hub token huggingface_hub saved, if this runtime can read it. */
  savedHubToken?(): Promise<string | undefined>;
}

/** A file read by ranges: what lets a checkpoint stream to the GPU a piece at a time. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [begin, end) as a fresh array. */
  read(begin: number, end: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A ByteSource over bytes already in memory (runtimes without random file access). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.byteLength, read: async (begin, end) => bytes.slice(begin, end), close: async () => {} };
}

/** Whether a read failed because the file is not there (Node ENOENT, Deno NotFound, HTTP 404). */
export function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string; name?: string }).code ?? (e as { name?: string }).name;
  return code === 'ENOENT' || code === 'NotFound' || /HTTP 404\b/.test((e as Error)?.message ?? '');
}

/** A failed read of a user file as a typed error naming the path (typed errors pass through). */
export function readFailure(path: string, e: unknown): IgSearchError {
  return e instanceof IgSearchError ? e : new IgSearchError('INVALID_ARGUMENT', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
}

/** A user file's bytes, or undefined when it does not exist; any other failure is a typed error naming the path. */
export async function readFileIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await currentPlatform().readFile(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw readFailure(path, e);
  }
}

/** `path` by ranges where the runtime can, else read whole. */
export async function openByteSource(path: string): Promise<ByteSource> {
  const platform = currentPlatform();
  if (platform.openFile && !/^https?:\/\//.test(path)) return platform.openFile(path);
  return bytesSource(await platform.readFile(path));
}

/**
 * Fetches a URL's bytes with a stall timeout: the request fails with FETCH_FAILED when no byte
 * arrives for `stallMs` (default 30 s; in Node/Deno the environment variable
 * IG_SEARCH_FETCH_TIMEOUT_MS overrides it) — a large file may take long, a silent server may not.
 */
export async function fetchBytes(url: string | URL, stallMs = defaultStallMs()): Promise<Uint8Array> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), stallMs);
  };
  const failed = (reason: string, cause?: unknown) =>
    new IgSearchError('FETCH_FAILED', `${String(url)}: ${reason}`, { cause, hint: 'check the URL and the network; local paths avoid the network' });
  try {
    arm();
    const response = await fetch(url, { signal: controller.signal });
    if (!response.ok) throw failed(`HTTP ${response.status}`);
    return await readBody(response, { onChunk: arm });
  } catch (e) {
    if (e instanceof IgSearchError) throw e;
    throw failed(controller.signal.aborted ? `no data for ${stallMs} ms` : (e as Error).message, e);
  } finally {
    clearTimeout(timer);
  }
}

/** Thrown by `readBody` when a body is longer than its `maxBytes`. */
export class BodyTooLarge extends Error {}

/**
 * A response body as bytes, read chunk by chunk: `onChunk` runs before each read (a stall timer),
 * and past `maxBytes` the read stops (the rest is cancelled, never held) with BodyTooLarge.
 */
export async function readBody(response: Response, options: { maxBytes?: number; onChunk?: () => void } = {}): Promise<Uint8Array> {
  const limit = options.maxBytes ?? Infinity;
  if (Number(response.headers.get('content-length') ?? NaN) > limit) throw new BodyTooLarge();
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.byteLength > limit) throw new BodyTooLarge();
    return bytes;
  }
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    options.onChunk?.();
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.byteLength));
  return out;
}

function defaultStallMs(): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['IG_SEARCH_FETCH_TIMEOUT_MS'];
  const ms = env === undefined ? NaN : Number(env);
  return Number.isFinite(ms) && ms > 0 ? ms : 30_000;
}

/** navigator.gpu + fetch: browsers and Web Workers, and the fallback when no entry ran. */
export const webPlatform: Platform = {
  runtime: 'browser',
  async gpu() {
    return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  },
  async readAsset(url) {
    return fetchBytes(url);
  },
  async readFile(path) {
    // A Hub file fromPretrained put in Cache Storage is read from there (offline too).
    return (await cachedResponse(path)) ?? fetchBytes(path);
  },
  version() {
    return (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? 'unknown';
  },
};

let current: Platform = webPlatform;

export function setPlatform(platform: Platform): void {
  current = platform;
}

export function currentPlatform(): Platform {
  return current;
}

/**
 * What differs between Node, Deno and browsers, in one small interface. Each runtime entry
 * (`src/entry/*.ts`) installs its implementation; everything else asks `currentPlatform()`.
 */
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
}

/** navigator.gpu + fetch: browsers and Web Workers, and the fallback when no entry ran. */
export const webPlatform: Platform = {
  runtime: 'browser',
  async gpu() {
    return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  },
  async readAsset(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${url.href}`);
    return new Uint8Array(await response.arrayBuffer());
  },
  async readFile(path) {
    const response = await fetch(path);
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${path}`);
    return new Uint8Array(await response.arrayBuffer());
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

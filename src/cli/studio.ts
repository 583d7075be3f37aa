/**
 * `ig-search studio`: serves the studio — a static page that trains IG-Search in the tab, in a Web
 * Worker on `navigator.gpu`, and shows what it credits — with the browser bundle and the embedded
 * demo policy, on 127.0.0.1. Nothing runs in this process but the file server; the same files can
 * be deployed anywhere static (`dist/studio/`, `dist/`, `assets/demo-policy/`).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IgSearchError } from '../errors.js';
import { numberFlag, parseOptions } from './args.js';

export const STUDIO_USAGE = `  studio [--host 127.0.0.1] [--port 8080] [--quiet]
                               the studio: train IG-Search in a browser tab on the demo world, watch its reward, EM and IG by
                               query class, and inspect what each token of a step was credited (open the printed URL)`;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.jsonl': 'application/jsonl',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

/**
 * URL prefix → directory of the package it serves. The page is /dist/studio/ ("/" redirects there),
 * so the paths it uses — ../browser.js, ../worker-browser.js, ../../assets/demo-policy — are the
 * package's own layout, and a static copy of dist/ and assets/demo-policy/ works the same.
 */
function routes(packageRoot: string): [string, string][] {
  return [
    ['/dist/', join(packageRoot, 'dist')],
    ['/assets/demo-policy/', join(packageRoot, 'assets', 'demo-policy')],
  ];
}

export const STUDIO_PAGE = '/dist/studio/';

/** The file a request path names, or undefined when it is outside every served directory. */
export function resolveStudioPath(packageRoot: string, urlPath: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0]!);
  } catch {
    return undefined;
  }
  if (path.includes('\0')) return undefined;
  for (const [prefix, dir] of routes(packageRoot)) {
    if (!path.startsWith(prefix)) continue;
    const rest = path.slice(prefix.length);
    const file = normalize(join(dir, rest.endsWith('/') || rest === '' ? `${rest}index.html` : rest));
    return file.startsWith(dir + sep) ? file : undefined;
  }
  return undefined;
}

/** Serves the studio's files from `packageRoot` (GET and HEAD only); resolves once listening. */
export function serveStudio(packageRoot: string, options: { host?: string; port?: number } = {}): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if ((req.url ?? '/').split('?')[0] === '/') {
        res.writeHead(302, { location: STUDIO_PAGE }).end();
        return;
      }
      const file = resolveStudioPath(packageRoot, req.url ?? '/');
      const info = file ? await stat(file).catch(() => undefined) : undefined;
      if (!file || !info?.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      // Cross-origin isolation is not needed; the worker and the wasm come from this origin.
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': info.size, 'cache-control': 'no-cache' });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
    })();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      const host = options.host ?? '127.0.0.1';
      resolve({ server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/` });
    });
  });
}

export async function studio(argv: string[]): Promise<number> {
  const values = parseOptions('studio', argv, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8080' },
    quiet: { type: 'boolean', default: false },
  });
  const port = numberFlag(values.port, '--port');
  if (port > 65535) throw new IgSearchError('INVALID_ARGUMENT', `--port must be at most 65535, got ${port}`);
  const packageRoot = fileURLToPath(new URL('..', import.meta.url)); // dist/cli.js → the package
  const index = resolveStudioPath(packageRoot, STUDIO_PAGE)!;
  if (!(await stat(index).catch(() => undefined))) throw new IgSearchError('INVALID_ARGUMENT', `studio: ${index} is missing; build the package first (npm run build:js)`);
  const { server, url } = await serveStudio(packageRoot, { host: values.host, port });
  console.log(`studio at ${url.replace(/\/$/, '')}${STUDIO_PAGE} (Ctrl-C stops it)`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  if (!values.quiet) console.error('studio stopped');
  return 0;
}

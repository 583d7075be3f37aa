/**
 * fromPretrained against a hostile or broken Hub: answers that would write outside the cache, bodies
 * without end, indexes naming a flood of shards, malformed redirects and headers, a branch that moves
 * mid-download, and models without a tokenizer. Every case ends in a typed error (or a correct
 * download) with nothing written outside HF_HUB_CACHE and the cache left readable.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CausalLM, Gpu, fromPretrained } from '../../src/entry/node.js';
import { checkRevision } from '../../src/hub/names.js';
import { repoFromDirectory, startFixtureHub, startTamperingProxy, type FixtureHub, type Tampered } from '../helpers/hub.js';

const TINY = 'test/fixtures/qwen2/tiny-bf16';
const TOKENIZER = new Uint8Array(readFileSync('assets/demo-policy/tokenizer.json'));
const A = 'a000000000000000000000000000000000000001';
const B = 'b000000000000000000000000000000000000002';
const files = (): Record<string, Uint8Array> => ({ ...repoFromDirectory(TINY, (n) => n !== 'expected.json'), 'tokenizer.json': TOKENIZER });
const encode = (s: string) => new TextEncoder().encode(s);

let hub: FixtureHub;
beforeAll(async () => {
  const moved = files();
  moved['config.json'] = encode(new TextDecoder().decode(moved['config.json']).replace('{', '{"_moved": true, '));
  const flood = { weight_map: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`w${i}`, `model-${String(i).padStart(6, '0')}.safetensors`])) };
  const noTokenizer = files();
  delete noTokenizer['tokenizer.json'];
  const missingShard = files();
  delete missingShard['model-00002-of-00002.safetensors'];
  hub = await startFixtureHub({
    'tiny/model': { files: files(), commit: A },
    'tiny/moving': { files: files(), commit: A, movesTo: { commit: B, files: moved } },
    'tiny/flood': { files: { 'config.json': files()['config.json']!, 'model.safetensors.index.json': encode(JSON.stringify(flood)) } },
    'tiny/no-tokenizer': { files: noTokenizer, commit: A },
    'tiny/missing-shard': { files: missingShard, commit: A },
  });
});
afterAll(async () => {
  await hub?.close();
});

/** A fresh cache two levels down a scratch folder, so a write that escapes it shows up beside it. */
function scratch(): { root: string; cacheDir: string; escaped: () => string[] } {
  const root = mkdtempSync(join(tmpdir(), 'ig-hostile-'));
  const cacheDir = join(root, 'home', 'hub');
  mkdirSync(cacheDir, { recursive: true });
  return { root, cacheDir, escaped: () => readdirSync(root).filter((n) => n !== 'home').concat(readdirSync(join(root, 'home')).filter((n) => n !== 'hub')) };
}

/** fromPretrained through a proxy that applies `tamper`; the error it ends with (or undefined). */
async function through(repo: string, tamper: Parameters<typeof startTamperingProxy>[1], extra: { cacheDir?: string; revision?: string } = {}) {
  const proxy = await startTamperingProxy(hub.url, tamper);
  const where = scratch();
  const cacheDir = extra.cacheDir ?? where.cacheDir;
  try {
    const error = await fromPretrained(repo, { endpoint: proxy.url, cacheDir, retries: 3, stallTimeoutMs: 5000, revision: extra.revision }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    return { error, proxy, ...where };
  } finally {
    await proxy.close();
  }
}

const onConfig = (change: Tampered, methods = ['HEAD', 'GET']) => (r: { method: string; path: string }) => (r.path.endsWith('/config.json') && methods.includes(r.method) ? change : undefined);

describe('a hostile Hub cannot write outside HF_HUB_CACHE (ETags are hashes, paths stay inside)', () => {
  it.each([
    ['a traversal', '"../../../escape/pwned-config"'],
    ['40 × ../ to an absolute path', `"${'../'.repeat(40)}tmp/ig-pwned"`],
    ['the parent directory', '".."'],
    ['a 64-character traversal', `"${'../'.repeat(20)}abcd"`],
  ])('an ETag that is %s is BAD_RESPONSE and nothing lands outside', async (_, etag) => {
    const run = await through('tiny/model', onConfig({ headers: { etag } }));
    expect(run.error).toMatchObject({ name: 'IgSearchError', code: 'BAD_RESPONSE', message: expect.stringMatching(/is not a sha1 or sha256/) });
    expect(run.escaped()).toEqual([]);
    expect(existsSync('/tmp/ig-pwned')).toBe(false);
    const folder = join(run.cacheDir, 'models--tiny--model');
    expect(existsSync(join(folder, 'snapshots', A, 'config.json'))).toBe(false);
  });

  it('an ETag naming a file that exists is refused, not linked without a download', async () => {
    const where = scratch();
    writeFileSync(join(where.root, 'secret.txt'), 'not a model');
    const run = await through('tiny/model', onConfig({ headers: { etag: '"../../../../secret.txt"' } }), { cacheDir: where.cacheDir });
    expect(run.error).toMatchObject({ code: 'BAD_RESPONSE' });
    expect(existsSync(join(where.cacheDir, 'models--tiny--model', 'snapshots', A, 'config.json'))).toBe(false);
  });

  it('an ETag of another length than 40 or 64 cannot skip the hash check: tampered bytes are refused', async () => {
    const run = await through('tiny/model', onConfig({ headers: { etag: '"0123456789abcdef"' }, body: encode('{"tampered": true}') }));
    expect(run.error).toMatchObject({ code: 'BAD_RESPONSE' });
    // A 300-character ETag is the same typed error, not a raw ENAMETOOLONG.
    const long = await through('tiny/model', onConfig({ headers: { etag: `"${'a'.repeat(300)}"` } }));
    expect(long.error).toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/ETag "a{80}…"/) });
  });

  it('the LFS hash (X-Linked-Etag) is held to the same rule', async () => {
    const run = await through('tiny/model', (r, a) => (a.headers['x-linked-etag'] ? { headers: { 'x-linked-etag': '"../../../../escape-lfs"' } } : undefined));
    expect(run.error).toMatchObject({ code: 'BAD_RESPONSE' });
    expect(run.escaped()).toEqual([]);
  });

  it('a revision that would leave refs/ is INVALID_ARGUMENT before any request; git ref names pass', async () => {
    const run = await through('tiny/model', () => undefined, { revision: '../../../escape/rev' });
    expect(run.error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/revision "..\/..\/..\/escape\/rev" is not a branch, tag or commit/) });
    expect(run.proxy.requests).toEqual([]);
    expect(run.escaped()).toEqual([]);
    for (const good of ['main', 'v1.0', 'refs/pr/1', 'release-2024_01', A]) expect(checkRevision(good)).toBe(good);
    for (const bad of ['..', 'a/../b', '.hidden', 'x.lock', 'a//b', '/abs', 'end/', 'sp ace', 'a~1', 'a^', 'c:d', 'q?', 's*', '[x', 'b\\s', '@', 'x@{1}', 'dot.', 'nul\0', 'x'.repeat(201)]) {
      expect(() => checkRevision(bad)).toThrow(/is not a branch, tag or commit name/);
    }
  });
});

describe('downloads are bounded by what the Hub announced', () => {
  it('a body that runs past its announced size stops there with BAD_RESPONSE, once, not retried', async () => {
    const size = readFileSync(join(TINY, 'config.json')).byteLength;
    const run = await through('tiny/model', onConfig({ body: 'endless' }, ['GET']));
    expect(run.error).toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(new RegExp(`config.json: the body runs past the ${size} bytes announced`)) });
    expect(run.proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/config.json'))).toHaveLength(1);
    // The proxy keeps writing until the socket closes; the client read at most a few chunks of it.
    expect(run.proxy.sent()).toBeLessThan(16 * 1024 * 1024);
    const blobs = join(run.cacheDir, 'models--tiny--model', 'blobs');
    expect(readdirSync(blobs).filter((b) => b.endsWith('.incomplete'))).toEqual([]);
  });

  it('an LFS file longer than its X-Linked-Size, and a file whose size nobody announces, are refused', async () => {
    const shorter = await through('tiny/model', (r, a) => (a.headers['x-linked-size'] ? { headers: { 'x-linked-size': '100' } } : undefined));
    expect(shorter.error).toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/announced as 100 bytes/) });
    const unsized = await through('tiny/model', onConfig({ headers: { 'content-length': undefined }, body: 'endless' }));
    expect(unsized.error).toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/says how many bytes/) });
  });

  it('an index naming 100,000 shards is LIMIT_EXCEEDED naming the index and the count, after a handful of requests', async () => {
    const run = await through('tiny/flood', () => undefined);
    expect(run.error).toMatchObject({ code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/tiny\/flood\/model\.safetensors\.index\.json: weight_map names more than 2048 shards \(100000\)/) });
    expect(run.proxy.requests.length).toBeLessThan(8);
  });
});

describe('a broken answer is named for what it is, never taken for "offline"', () => {
  it.each<[string, Tampered, RegExp]>([
    ['a Location that is no URL', { status: 302, headers: { location: 'http://[broken' } }, /redirects to "http:\/\/\[broken", not an http\(s\) URL/],
    ['a Location to another scheme', { status: 302, headers: { location: 'file:///etc/passwd' } }, /not an http\(s\) URL/],
    ['a bad X-Repo-Commit', { headers: { 'x-repo-commit': 'not-a-commit' } }, /names no commit \(X-Repo-Commit "not-a-commit"\)/],
    ['an HTTP 400', { status: 400 }, /HTTP 400/],
  ])('%s is BAD_RESPONSE', async (_, change, message) => {
    const run = await through('tiny/model', onConfig(change, ['HEAD']));
    expect(run.error).toMatchObject({ name: 'IgSearchError', code: 'BAD_RESPONSE', message: expect.stringMatching(message) });
  });

  it('a redirect loop is BAD_RESPONSE, not OFFLINE', async () => {
    const run = await through('tiny/model', (r) => (r.method === 'HEAD' && r.path.endsWith('/config.json') ? { status: 302, headers: { location: r.path } } : undefined));
    expect(run.error).toMatchObject({ code: 'BAD_RESPONSE', message: expect.stringMatching(/more than 5 redirects/) });
  });
});

describe('one commit, whatever the branch does', () => {
  it('config.json comes from the commit the HEAD named, even if main moves before the GET', async () => {
    const { cacheDir } = scratch();
    const dir = await fromPretrained('tiny/moving', { endpoint: hub.url, cacheDir });
    expect(dir.endsWith(join('snapshots', A))).toBe(true);
    expect(readFileSync(join(dir, 'config.json'))).toEqual(readFileSync(join(TINY, 'config.json')));
    expect(hub.requests.filter((r) => r.path.startsWith('/tiny/moving/resolve/main/')).map((r) => r.method)).toEqual(['HEAD']);
  });
});

describe('models without a tokenizer, and failures that leave a readable cache', () => {
  it('a model with no tokenizer.json loads by id and scores token ids', async () => {
    const { cacheDir } = scratch();
    const dir = await fromPretrained('tiny/no-tokenizer', { endpoint: hub.url, cacheDir });
    expect(existsSync(join(cacheDir, 'models--tiny--no-tokenizer', '.no_exist', A, 'tokenizer.json'))).toBe(true);
    // Served offline from the cache afterwards, the absent tokenizer included.
    expect(await fromPretrained('tiny/no-tokenizer', { endpoint: hub.url, cacheDir, offline: true })).toBe(dir);
    const gpu = await Gpu.request();
    try {
      const fromHub = await CausalLM.load(gpu, dir);
      const local = await CausalLM.load(gpu, TINY);
      expect(await fromHub.scoreContinuations([1, 5], [[9, 2, 7]])).toEqual(await local.scoreContinuations([1, 5], [[9, 2, 7]]));
      fromHub.free();
      local.free();
    } finally {
      gpu.destroy();
    }
  });

  it('a download that fails after config.json leaves refs/main, so huggingface_hub can read what is there', async () => {
    const { cacheDir } = scratch();
    await expect(fromPretrained('tiny/missing-shard', { endpoint: hub.url, cacheDir })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/model-00002-of-00002\.safetensors/) });
    const folder = join(cacheDir, 'models--tiny--missing-shard');
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(A);
    expect(readFileSync(join(folder, 'snapshots', A, 'config.json'))).toEqual(readFileSync(join(TINY, 'config.json')));
    await expect(fromPretrained('tiny/missing-shard', { endpoint: hub.url, cacheDir, offline: true })).rejects.toMatchObject({ code: 'OFFLINE', message: expect.stringMatching(/lacks model-00002-of-00002\.safetensors/) });
  });
});

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IgSearchError, CausalLM, cachedModels, fromPretrained, loadTokenizer, loadWasmCore, removeCachedModel, type DownloadProgress } from '../src/entry/node.js';
import { withGpu } from './helpers/gpu.js';
import { repoFromDirectory, startFixtureHub, type FixtureHub } from './helpers/hub.js';

const SHARDED = 'test/fixtures/qwen2/tiny-bf16';
const TOKENIZER = new Uint8Array(readFileSync('assets/demo-policy/tokenizer.json'));
const COMMIT = 'c0ffee0000000000000000000000000000000001';

function sharded(): Record<string, Uint8Array> {
  return { ...repoFromDirectory(SHARDED, (n) => n !== 'expected.json'), 'tokenizer.json': TOKENIZER, 'tokenizer_config.json': new TextEncoder().encode('{"chat_template": "{{ messages[0].content }}!"}') };
}

let hub: FixtureHub;
const env = withGpu();
beforeAll(async () => {
  hub = await startFixtureHub(
    {
      'tiny/qwen2-sharded': { files: sharded(), commit: COMMIT },
      'tiny/gated': { files: sharded(), gatedToken: 'hf_secret' },
      'tiny/slow': { files: sharded(), slow: ['model-00002-of-00002.safetensors'] },
      'tiny/corrupt': { files: sharded(), corrupt: ['model-00001-of-00002.safetensors'] },
    },
    { stallMs: 1500 },
  );
});
afterAll(async () => {
  await hub?.close();
});

const cache = () => mkdtempSync(join(tmpdir(), 'ig-hub-'));

describe('fromPretrained: Hub ids into the Hugging Face cache', () => {
  it('downloads a sharded model into the HF cache layout; it loads and scores exactly as the local directory', async () => {
    const cacheDir = cache();
    const seen: DownloadProgress[] = [];
    const dir = await fromPretrained('tiny/qwen2-sharded', { endpoint: hub.url, cacheDir, onProgress: (p) => seen.push(p) });
    const folder = join(cacheDir, 'models--tiny--qwen2-sharded');
    expect(dir).toBe(join(folder, 'snapshots', COMMIT));
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    // Snapshot files are relative links to blobs named by the Hub's ETag: sha256 for LFS files, git's sha1 otherwise.
    const shard = 'model-00001-of-00002.safetensors';
    expect(lstatSync(join(dir, shard)).isSymbolicLink()).toBe(true);
    const sha = createHash('sha256').update(readFileSync(join(SHARDED, shard))).digest('hex');
    expect(readlinkSync(join(dir, shard))).toBe(join('..', '..', 'blobs', sha));
    const cfg = readFileSync(join(SHARDED, 'config.json'));
    expect(readdirSync(join(folder, 'blobs'))).toContain(createHash('sha1').update(`blob ${cfg.byteLength}\0`).update(cfg).digest('hex'));
    // Absent optional files are remembered (.no_exist), as huggingface_hub does.
    expect(existsSync(join(folder, '.no_exist', COMMIT, 'chat_template.jinja'))).toBe(true);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json', shard, 'model-00002-of-00002.safetensors']) expect(readFileSync(join(dir, f))).toEqual(f.startsWith('tokenizer') ? Buffer.from(sharded()[f]!) : readFileSync(join(SHARDED, f)));
    // Progress: bytes grow within a file, every file ends done.
    const last = seen.at(-1)!;
    expect(last.filesDone).toBe(last.filesTotal);
    const shardBytes = seen.filter((p) => p.file === shard && !p.cached).map((p) => p.bytes);
    expect(shardBytes.at(-1)).toBe(readFileSync(join(SHARDED, shard)).byteLength);
    expect(shardBytes).toEqual([...shardBytes].sort((a, b) => a - b));

    const ids = [1, 5, 9, 2, 7, 3];
    const fromHub = await CausalLM.load(env.gpu, dir);
    const local = await CausalLM.load(env.gpu, SHARDED);
    expect(await fromHub.scoreContinuations(ids.slice(0, 2), [ids.slice(2)])).toEqual(await local.scoreContinuations(ids.slice(0, 2), [ids.slice(2)]));
    fromHub.free();
    local.free();
    const tokenizer = await loadTokenizer(await loadWasmCore(), dir);
    expect(tokenizer.chatTemplate!.render([{ role: 'user', content: 'hi' }])).toBe('hi!');

    // A second call is served from the cache: HEADs only (files already linked are not fetched again).
    const before = hub.requests.length;
    expect(await fromPretrained('tiny/qwen2-sharded', { endpoint: hub.url, cacheDir })).toBe(dir);
    expect(hub.requests.slice(before).every((r) => r.method === 'HEAD')).toBe(true);
    // Offline (HF_HUB_OFFLINE's option) and with the Hub unreachable: the cache alone.
    expect(await fromPretrained('tiny/qwen2-sharded', { endpoint: hub.url, cacheDir, offline: true })).toBe(dir);
    expect(await fromPretrained('tiny/qwen2-sharded', { endpoint: 'http://127.0.0.1:9', cacheDir, retries: 0 })).toBe(dir);
    expect(await fromPretrained('tiny/qwen2-sharded', { endpoint: hub.url, cacheDir, offline: true, revision: COMMIT })).toBe(dir);
    expect((await cachedModels({ cacheDir })).map((m) => [m.repo, m.snapshots, m.refs])).toEqual([['tiny/qwen2-sharded', [COMMIT], { main: COMMIT }]]);
    expect(await removeCachedModel('tiny/qwen2-sharded', { cacheDir })).toBe(true);
    expect(await cachedModels({ cacheDir })).toEqual([]);
    await expect(fromPretrained('tiny/qwen2-sharded', { endpoint: hub.url, cacheDir, offline: true })).rejects.toMatchObject({ code: 'OFFLINE' });
  });

  it('gated models want a token, which never goes to the storage host', async () => {
    const cacheDir = cache();
    await expect(fromPretrained('tiny/gated', { endpoint: hub.url, cacheDir })).rejects.toMatchObject({ code: 'ACCESS_DENIED', message: expect.stringMatching(/gated model/) });
    await expect(fromPretrained('tiny/gated', { endpoint: hub.url, cacheDir, token: 'wrong' })).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
    const before = hub.requests.length;
    const dir = await fromPretrained('tiny/gated', { endpoint: hub.url, cacheDir, token: 'hf_secret' });
    expect(existsSync(join(dir, 'model-00002-of-00002.safetensors'))).toBe(true);
    const mine = hub.requests.slice(before);
    expect(mine.filter((r) => r.path.startsWith('/lfs/')).length).toBe(2);
    expect(mine.filter((r) => r.path.startsWith('/lfs/')).every((r) => r.authorization === undefined && r.host.startsWith('127.0.0.2'))).toBe(true);
    expect(mine.filter((r) => !r.path.startsWith('/lfs/')).every((r) => r.authorization === 'Bearer hf_secret')).toBe(true);
  });

  it('missing models, revisions and ids are typed errors; a stalled body is retried; a corrupted file never enters the cache', async () => {
    const cacheDir = cache();
    await expect(fromPretrained('tiny/nothing', { endpoint: hub.url, cacheDir })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/tiny\/nothing: no such model/) });
    await expect(fromPretrained('tiny/qwen2-sharded', { endpoint: hub.url, cacheDir, revision: 'v9' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/no revision v9/) });
    await expect(fromPretrained('not a model id', { cacheDir })).rejects.toThrow(/not a directory, a URL or a Hub id/);
    await expect(fromPretrained('tiny/qwen2-sharded', { endpoint: 'http://127.0.0.1:9', cacheDir, retries: 1 })).rejects.toMatchObject({ code: 'OFFLINE' });

    const slow = await fromPretrained('tiny/slow', { endpoint: hub.url, cacheDir, stallTimeoutMs: 500 });
    expect(readFileSync(join(slow, 'model-00002-of-00002.safetensors'))).toEqual(readFileSync(join(SHARDED, 'model-00002-of-00002.safetensors')));
    expect(hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/lfs/')).length).toBeGreaterThanOrEqual(3);

    const error = await fromPretrained('tiny/corrupt', { endpoint: hub.url, cacheDir, retries: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IgSearchError);
    expect(error).toMatchObject({ code: 'CHECKSUM_MISMATCH', message: expect.stringMatching(/model-00001-of-00002.safetensors: the bytes do not hash/) });
    const blobs = readdirSync(join(cacheDir, 'models--tiny--corrupt', 'blobs'));
    expect(blobs.some((b) => b.endsWith('.incomplete'))).toBe(false);
    expect(blobs).not.toContain(createHash('sha256').update(readFileSync(join(SHARDED, 'model-00001-of-00002.safetensors'))).digest('hex'));
  });

  it('a local directory or a URL passes through untouched', async () => {
    expect(await fromPretrained(`${SHARDED}/`)).toBe(SHARDED);
    expect(await fromPretrained('https://example.org/m/')).toBe('https://example.org/m');
  });
});

describe('the CLI with Hub ids', () => {
  it('run --model ORG/NAME downloads through HF_ENDPOINT into HF_HUB_CACHE, then models lists and removes it', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const demo = await startFixtureHub({ 'ig/demo-policy': { files: repoFromDirectory('assets/demo-policy', (n) => ['config.json', 'model.safetensors', 'tokenizer.json'].includes(n)) } });
    const cacheDir = cache();
    const env = { ...process.env, HF_ENDPOINT: demo.url, HF_HUB_CACHE: cacheDir, HF_TOKEN: '' };
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, ['bin/ig-search.js', ...args], { env, encoding: 'utf8', timeout: 120_000 });
    try {
      const run = await cli('run', '--model', 'ig/demo-policy', '--corpus', 'assets/demo-policy/corpus.jsonl', '--question', 'Where was Ana born?', '--max-tokens', '40', '--json');
      const fromHub = JSON.parse(run.stdout);
      const local = JSON.parse((await cli('run', '--model', 'assets/demo-policy', '--corpus', 'assets/demo-policy/corpus.jsonl', '--question', 'Where was Ana born?', '--max-tokens', '40', '--json')).stdout);
      expect(fromHub.text).toBe(local.text);
      expect(fromHub.tokens).toBeGreaterThan(0);
      const listed = JSON.parse((await cli('models', '--json')).stdout);
      expect(listed.map((m: { repo: string }) => m.repo)).toEqual(['ig/demo-policy']);
      expect(listed[0].bytes).toBe(['config.json', 'model.safetensors', 'tokenizer.json'].reduce((n, f) => n + readFileSync(`assets/demo-policy/${f}`).byteLength, 0));
      await demo.close();
      // The Hub gone: the cached copy serves (HF_HUB_OFFLINE too).
      const offline = await promisify(execFile)(process.execPath, ['bin/ig-search.js', 'run', '--model', 'ig/demo-policy', '--corpus', 'assets/demo-policy/corpus.jsonl', '--question', 'Where was Ana born?', '--max-tokens', '40', '--json'], { env: { ...env, HF_HUB_OFFLINE: '1' }, encoding: 'utf8', timeout: 120_000 });
      expect(JSON.parse(offline.stdout).text).toBe(local.text);
      expect((await cli('models', 'rm', 'ig/demo-policy')).stdout).toMatch(/removed ig\/demo-policy/);
      expect((await cli('models')).stdout).toMatch(/no models in the cache/);
    } finally {
      await demo.close().catch(() => {});
    }
  }, 180_000);
});

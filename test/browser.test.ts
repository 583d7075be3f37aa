import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matmulRef } from '../src/kernels/matmul/ref.js';
import type { MatmulShape } from '../src/kernels/matmul/matmul.js';
import { launchChromium } from './helpers/chromium.js';
import { maxScaledError, mulberry32, randomFloats } from './helpers/random.js';
import { serveDirectory } from './helpers/serve.js';
import { repoFromDirectory, startFixtureHub } from './helpers/hub.js';

/** What test/browser/harness.html puts on window. */
interface Harness {
  matmul(a: number[], b: number[], shape: MatmulShape): Promise<{ out: Record<string, number[]>; adapter: { description: string }; picked: string }>;
  wasm(text: string): Promise<{
    round: { text: string; scalars: number };
    panic?: { name: string; code: string; message: string; isIgSearchError: boolean };
    after: string;
  }>;
  qwen2(dir: string, sequences: number[][], attentionVariant?: 'rows' | 'flash', greedy?: { prompt: number[]; tokens: number[] }): Promise<{ logprobs: number[][]; tokens: number[] }>;
  hub(endpoint: string, repo: string, sequences: number[][]): Promise<{ dir: string; logprobs: number[][]; files: number[]; models: { repo: string; snapshots: string[]; refs: Record<string, string> }[] }>;
  hubRemove(repo: string): Promise<{ removed: boolean; models: { repo: string }[] }>;
}

const root = fileURLToPath(new URL('..', import.meta.url));
let server: Awaited<ReturnType<typeof serveDirectory>>;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  server = await serveDirectory(root);
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.url}/test/browser/harness.html`);
  await page.waitForFunction(() => (window as { harnessReady?: boolean }).harnessReady === true);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('browser (headless Debian chromium, navigator.gpu)', () => {
  it('Qwen2 (BF16, sharded, fetched over HTTP) matches the PyTorch fixture, scoring and greedy decoding, with either attention variant', async () => {
    const dir = 'test/fixtures/qwen2/tiny-bf16';
    const expected = JSON.parse(readFileSync(`${root}${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][]; greedy: { prompt: number[]; tokens: number[] } };
    for (const variant of ['rows', 'flash'] as const) {
      const got = await page.evaluate(([d, s, v, g]) => (window as unknown as { harness: Harness }).harness.qwen2(d, s, v, g), [`/${dir}`, expected.sequences, variant, expected.greedy] as const);
      expect(got.logprobs.map((r) => r.length)).toEqual(expected.logprobs.map((r) => r.length));
      expect(Math.max(...got.logprobs.flatMap((r, i) => r.map((v, j) => Math.abs(v - expected.logprobs[i]![j]!)))), variant).toBeLessThan(1e-4);
      expect(got.tokens, `${variant} greedy`).toEqual(expected.greedy.tokens);
    }
  });

  it('fromPretrained by name from a Hub server into Cache Storage; the second page load works with the server gone', async () => {
    const dir = 'test/fixtures/qwen2/tiny-bf16';
    const expected = JSON.parse(readFileSync(`${root}${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][] };
    const files = { ...repoFromDirectory(`${root}${dir}`, (n) => n !== 'expected.json'), 'tokenizer.json': new Uint8Array(readFileSync(`${root}assets/demo-policy/tokenizer.json`)) };
    const commit = 'b0b0000000000000000000000000000000000002';
    const hub = await startFixtureHub({ 'tiny/bf16': { files, commit }, 'tiny/corrupt': { files, corrupt: ['model-00001-of-00002.safetensors'] } });
    const call = () => page.evaluate(([e, s]) => (window as unknown as { harness: Harness }).harness.hub(e, 'tiny/bf16', s), [hub.url, expected.sequences] as const);
    try {
      const first = await call();
      expect(first.dir).toBe(`${hub.url}/tiny/bf16/resolve/${commit}`);
      expect(first.files[0]).toBe(first.files[1]);
      expect(Math.max(...first.logprobs.flatMap((r, i) => r.map((v, j) => Math.abs(v - expected.logprobs[i]![j]!))))).toBeLessThan(1e-4);
      expect(first.models).toEqual([{ repo: 'tiny/bf16', bytes: expect.any(Number), snapshots: [commit], refs: { main: commit }, path: `${hub.url}/tiny/bf16` }]);
      // An LFS file whose bytes do not match the sha256 in the Hub's listing is refused and not cached.
      const corrupt = await page.evaluate(([e]) => (window as unknown as { harness: Harness }).harness.hub(e!, 'tiny/corrupt', []).then(() => 'loaded', (err: { code?: string; message: string }) => `${err.code}: ${err.message}`), [hub.url] as const);
      expect(corrupt).toMatch(/^CHECKSUM_MISMATCH: tiny\/corrupt: model-00001-of-00002\.safetensors: .*sha256 [0-9a-f]{64}/);
      const afterCorrupt = await page.evaluate(() => (window as unknown as { harness: Harness }).harness.hubRemove('tiny/corrupt'));
      expect(afterCorrupt.models.map((m) => m.repo)).toEqual(['tiny/bf16']);
      await hub.close();
      await page.reload();
      await page.waitForFunction(() => (window as { harnessReady?: boolean }).harnessReady === true);
      const offline = await call();
      expect(offline.logprobs).toEqual(first.logprobs);
      const removed = await page.evaluate(() => (window as unknown as { harness: Harness }).harness.hubRemove('tiny/bf16'));
      expect(removed).toEqual({ removed: true, models: [] });
    } finally {
      await hub.close().catch(() => {});
    }
  });

  it('matmul through the browser bundle matches the f64 reference for every variant the adapter runs', async () => {
    const shapes: MatmulShape[] = [
      { M: 37, N: 70, K: 45 },
      { M: 9, N: 33, K: 17, batch: 2, transposeB: true },
    ];
    const rng = mulberry32(11);
    for (const shape of shapes) {
      const batch = shape.batch ?? 1;
      const a = randomFloats(batch * shape.M * shape.K, rng);
      const b = randomFloats(batch * shape.K * shape.N, rng);
      const result = await page.evaluate(
        ({ a, b, shape }) => (window as unknown as { harness: Harness }).harness.matmul(a, b, shape),
        { a: Array.from(a), b: Array.from(b), shape },
      );
      const expected = matmulRef(a, b, shape);
      expect(Object.keys(result.out).length).toBeGreaterThanOrEqual(5);
      for (const [variant, c] of Object.entries(result.out)) {
        expect(maxScaledError(c, expected), `${variant} on ${result.adapter.description}`).toBeLessThan(1e-4);
      }
    }
  });

  it('the Wasm core loads over fetch, round-trips UTF-8 and maps a panic to IgSearchError', async () => {
    const text = 'browser 🌐 搜索 — ok';
    const result = await page.evaluate((text) => (window as unknown as { harness: Harness }).harness.wasm(text), text);
    expect(result.round).toEqual({ text, scalars: [...text].length });
    expect(result.panic?.name).toBe('IgSearchError');
    expect(result.panic?.isIgSearchError).toBe(true);
    expect(result.panic?.code).toBe('WASM_PANIC');
    expect(result.panic?.message).toMatch(/browser panic probe/);
    expect(result.after).toBe('after');
  });

  it('examples/browser/demo.html trains GRPO and IG-Search in a Web Worker and shows the report', async () => {
    const demo = await browser.newPage();
    demo.on('pageerror', (e) => console.error('demo page error:', e));
    await demo.goto(`${server.url}/examples/browser/demo.html?steps=1&questions=1&group=2&eval=2&maxTokens=64`);
    await demo.waitForFunction(() => (window as { demoResult?: unknown }).demoResult !== undefined, undefined, { timeout: 280_000, polling: 500 });
    const result = await demo.evaluate(() => (window as unknown as { demoResult: { error?: string; records: { type: string; run: string; ig?: number[] }[]; info: { runtime: string } } }).demoResult);
    expect(result.error).toBeUndefined();
    expect(result.info.runtime).toBe('browser');
    const steps = result.records.filter((r) => r.type === 'step');
    expect(steps.map((r) => r.run)).toEqual(['grpo', 'ig-search']);
    expect(result.records.filter((r) => r.type === 'eval').length).toBe(4);
    const report = demo.frameLocator('#report');
    await expect.poll(() => report.locator('svg').count()).toBe(6);
    await demo.close();
  }, 300_000);

  it('examples/browser/index.html loads a model by name from a Hub server and runs an IG-Search LoRA step', async () => {
    const files = repoFromDirectory(`${root}assets/demo-policy`, (n) => ['config.json', 'model.safetensors', 'tokenizer.json'].includes(n));
    const hub = await startFixtureHub({ 'ig/demo-policy': { files } });
    const example = await browser.newPage();
    example.on('pageerror', (e) => console.error('example page error:', e));
    try {
      await example.goto(`${server.url}/examples/browser/index.html?model=ig/demo-policy&endpoint=${encodeURIComponent(hub.url)}&steps=1`);
      await example.waitForFunction(() => /done:|Error/.test(document.getElementById('out')!.textContent ?? ''), undefined, { timeout: 280_000, polling: 500 });
      const text = await example.evaluate(() => document.getElementById('out')!.textContent!);
      expect(text).toMatch(/download model\.safetensors: \d+ bytes/);
      expect(text).toMatch(/step 1: reward \d\.\d\d, loss -?\d+\.\d{4}, ‖∇‖ \d+\.\d{3}/);
      expect(text).toMatch(/done: 1 IG-Search LoRA steps/);
      expect(hub.requests.filter((r) => r.path.startsWith('/lfs/')).length).toBe(1);
    } finally {
      await example.close();
      await hub.close();
    }
  }, 300_000);
});

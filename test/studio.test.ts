import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveStudioPath, serveStudio } from '../src/cli/studio.js';
import { CausalLM, Gpu, loadWasmCore, LoraAdapters, Tokenizer } from '../src/entry/node.js';
import { repoFromDirectory, startFixtureHub } from './helpers/hub.js';
import { launchChromium } from './helpers/chromium.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let browser: Browser;
let server: Awaited<ReturnType<typeof serveStudio>>;

beforeAll(async () => {
  server = await serveStudio(root, { port: 0 });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.server.close(r));
});

interface StudioState {
  steps: { step: number; reward: number; ig: number[]; classes: string[]; allFailShare: number; allFailGradNorm: number; timing: Record<string, number> }[];
  evals: { step: number; em: number }[];
  inspection?: { run: string; step: number; rollouts: { pieces: { kind: string }[] }[] };
  byClass: Record<string, number[]>;
}

describe('ig-search studio (headless chromium, WebGPU on SwiftShader)', () => {
  it('serves only the package\'s dist/ and demo policy: / redirects to the page, paths that leave them are refused', async () => {
    const home = await fetch(server.url, { redirect: 'manual' });
    expect(home.status).toBe(302);
    expect(home.headers.get('location')).toBe('/dist/studio/');
    const page = await fetch(`${server.url}dist/studio/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<script type="module" src="./studio.js">');
    expect((await fetch(`${server.url}dist/ig_core.wasm`)).headers.get('content-type')).toBe('application/wasm');
    for (const bad of ['/dist/../package.json', '/dist/%2e%2e/package.json', '/assets/demo-policy/../../README.md', '/src/index.ts', '/dist/%00x']) {
      expect(resolveStudioPath(root, bad), bad).toBeUndefined();
    }
    expect((await fetch(`${server.url}dist/%2e%2e/package.json`)).status).toBe(404);
    expect((await fetch(`${server.url}dist/studio/`, { method: 'POST' })).status).toBe(405);
  });

  it('trains 2 IG-Search steps of LoRA adapters in the tab: the charts get their points, IG is split by query class, the inspector shades query tokens', async () => {
    const policy = Tokenizer.fromJSON(await loadWasmCore(), readFileSync(`${root}assets/demo-policy/tokenizer.json`, 'utf8'));
    const page = await browser.newPage({ viewport: { width: 1360, height: 1500 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}dist/studio/?algo=ig-search&steps=2&questions=2&group=4&eval=4&evalEvery=2&maxTokens=96&lora=4&lr=3e-3`);
    await page.waitForFunction(() => (window as unknown as { studio: { ready: boolean } }).studio.ready, undefined, { timeout: 60_000 });
    await page.click('button[name=start]');
    // Pause at once: the run waits before its next step (the first, or the second if step 1 was already under way), then resumes.
    await page.click('button[name=pause]');
    await page.waitForFunction(() => /paused before step [12]\//.test(document.querySelector('.status')?.textContent ?? ''), undefined, { timeout: 200_000, polling: 250 });
    expect(await page.locator('button[name=pause]').textContent()).toBe('Resume');
    await page.click('button[name=pause]');
    await page.waitForFunction(() => (window as unknown as { studio: { done: boolean; state?: StudioState } }).studio.done && ((window as unknown as { studio: { state?: StudioState } }).studio.state?.steps.length ?? 0) > 0, undefined, { timeout: 280_000, polling: 500 });
    const state = await page.evaluate(() => (window as unknown as { studio: { state: StudioState } }).studio.state);
    expect(errors).toEqual([]);
    expect(await page.locator('.status').textContent()).toMatch(/^Done after 2 steps/);
    expect(state.steps.map((s) => s.step)).toEqual([1, 2]);
    expect(state.evals.map((e) => e.step)).toEqual([0, 2]);
    // uPlot drew each series' points: the reward chart holds the two steps.
    expect(await page.locator('.chart .u-title').allTextContents()).toEqual(['Training reward (EM of the rollouts)', 'Validation EM (greedy)', "Gradient norm: the step's, and its all-fail groups' (GRPO: 0)", 'Step time by phase (s)']);
    // The step records carry what the gradient and time charts plot.
    for (const s of state.steps) {
      expect(s.timing.rollout).toBeGreaterThan(0);
      if (s.ig.length) expect(s.timing.ig).toBeGreaterThan(0); // IG-Search scored this step's searches
      expect(s.allFailShare).toBeGreaterThanOrEqual(0);
      expect(s.allFailShare).toBeLessThanOrEqual(1);
      expect(Number.isFinite(s.allFailGradNorm)).toBe(true);
    }
    const igCount = state.steps.reduce((n, s) => n + s.ig.length, 0);
    expect(igCount).toBeGreaterThan(0);
    const classed = Object.values(state.byClass).reduce((n, v) => n + v.length, 0);
    expect(classed).toBe(igCount);
    expect(await page.locator('.classes tr[data-class=precise] td').nth(1).textContent()).toBe(String(state.byClass['precise']!.length));
    // The distribution of IG by class, drawn by the same chart the reports use, counts every classed search.
    expect(await page.locator('.classes .histogram svg').count()).toBe(1);
    expect(await page.locator('.classes .histogram svg').textContent()).toContain(`${classed} searches`);
    // Two steps give fewer than 30 searches of a class: the AUC is not measured, in the chart and the text alike.
    expect(classed).toBeLessThan(30);
    expect(await page.locator('[data-auc]').textContent()).toBe('not measured (fewer than 30 of a class)');
    // The inspector shows step 2, one span per trajectory token of the group shown, query tokens shaded.
    expect(state.inspection?.step).toBe(2);
    expect(await page.locator('.inspector .tok.query').count()).toBeGreaterThan(0);
    const tokens = await page.locator('.inspector .tok').count();
    const perGroup = state.inspection!.rollouts.slice(0, 4).reduce((n, r) => n + r.pieces.length, 0) + state.inspection!.rollouts.slice(4).reduce((n, r) => n + r.pieces.length, 0);
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThan(perGroup);
    // Try: the trained weights answer a question of the world, searching it; the text streams in.
    const question = await page.locator('.inspector h3').textContent();
    await page.fill('input[name=question]', question!);
    await page.click('button[name=ask]');
    await page.waitForFunction(() => (window as unknown as { studio: { asked?: unknown } }).studio.asked !== undefined, undefined, { timeout: 120_000, polling: 250 });
    const asked = await page.evaluate(() => (window as unknown as { studio: { asked: { model: string; text: string; searches: { query: string }[]; error?: string } } }).studio.asked);
    expect(asked.error).toBeUndefined();
    expect(asked.model).toBe('ig-search after 2 steps (LoRA rank 4)');
    expect(asked.searches.length).toBeGreaterThan(0);
    expect(await page.locator('.answer-text').textContent()).toBe(asked.text);
    expect(asked.text).toContain(asked.searches[0]!.query);
    // Export: the trained weights download as a model directory that CausalLM loads back here, and it
    // scores a sequence as the tab does.
    const dir = mkdtempSync(join(tmpdir(), 'ig-studio-export-'));
    const downloads = new Map<string, string>();
    page.on('download', (d) => void d.path().then((p) => downloads.set(d.suggestedFilename(), p!)));
    await page.click('button[name=export-model]');
    await expect.poll(() => downloads.size, { timeout: 60_000 }).toBe(2);
    expect([...downloads.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    for (const [name, path] of downloads) copyFileSync(path, join(dir, name));
    const sequences = [Array.from(policy.encode(`${question} Vaivale`, { addSpecialTokens: false }))];
    const inTab = await page.evaluate((s) => (window as unknown as { studio: { logprobs(s: number[][]): Promise<number[][]> } }).studio.logprobs(s), sequences);
    const gpu = await Gpu.request();
    const warm = await CausalLM.load(gpu, `${root}assets/demo-policy`);
    const adapters = await LoraAdapters.load(warm, dir);
    expect(adapters.config.rank).toBe(4);
    const here = await warm.sequenceLogprobs(sequences, { adapters });
    expect(Math.max(...here[0]!.map((v, j) => Math.abs(v - inTab[0]![j]!)))).toBeLessThan(1e-4);
    const before = await warm.sequenceLogprobs(sequences);
    expect(Math.max(...before[0]!.map((v, j) => Math.abs(v - here[0]![j]!)))).toBeGreaterThan(1e-4); // trained adapters, not the bare warm start
    adapters.free();
    warm.free();
    gpu.destroy();
    await page.screenshot({ path: `${root}docs/studio.png`, fullPage: true });
    await page.close();
  }, 300_000);

  it('refuses a bad upload with its file and line, and keeps the worker for the next run', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}dist/studio/?steps=1`);
    await page.waitForFunction(() => (window as unknown as { studio: { ready: boolean } }).studio.ready, undefined, { timeout: 60_000 });
    const corpus = readFileSync(`${root}assets/demo-policy/corpus.jsonl`);
    await page.setInputFiles('input[name=file-corpus]', { name: 'corpus.jsonl', mimeType: 'application/jsonl', buffer: corpus });
    await page.setInputFiles('input[name=file-questions]', { name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"question": "Who?", "golden_answers": ["A"]}\n{"question": "Who else?"}\n') });
    await page.click('button[name=start]');
    await page.waitForFunction(() => (window as unknown as { studio: { done: boolean } }).studio.done && document.querySelector('.status.error') !== null, undefined, { timeout: 60_000, polling: 250 });
    expect(await page.locator('.status').textContent()).toMatch(/^INVALID_ARGUMENT: bad\.jsonl:2: field "golden_answers" must be a string or a non-empty list of strings/);
    expect(errors).toEqual([]);
    expect(await page.locator('button[name=start]').isEnabled()).toBe(true);
    await page.close();
  }, 120_000);

  it('loads a Hub model into Cache Storage with progress, loads it again with the Hub gone, and trains it', async () => {
    const files = repoFromDirectory(`${root}assets/demo-policy`, (n) => ['config.json', 'model.safetensors', 'tokenizer.json'].includes(n));
    const hub = await startFixtureHub({ 'ig/demo-policy': { files } });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const hubStatus = () => page.locator('[data-hub-status]').textContent();
    const load = async () => {
      await page.waitForFunction(() => (window as unknown as { studio: { ready: boolean } }).studio.ready, undefined, { timeout: 60_000 });
      await page.click('button[name=hub-load]');
      await page.waitForFunction(() => /cache$|^[A-Z_]+:/.test(document.querySelector('[data-hub-status]')?.textContent ?? ''), undefined, { timeout: 60_000, polling: 200 });
    };
    try {
      await page.goto(`${server.url}dist/studio/?model=ig/demo-policy&endpoint=${encodeURIComponent(hub.url)}&steps=1&questions=1&group=2&eval=1&evalEvery=1&maxTokens=48`);
      await load();
      expect(await hubStatus()).toMatch(/^ig\/demo-policy: qwen2, 0\.\d\dM parameters, kept in this browser's cache$/);
      expect(hub.requests.filter((r) => r.path.startsWith('/lfs/')).length).toBe(1);
      // The Hub goes away: the next visit loads the model from Cache Storage.
      await hub.close();
      await page.reload();
      await load();
      expect(await hubStatus()).toMatch(/kept in this browser's cache$/);
      expect(await page.locator('[data-model]').textContent()).toBe('ig/demo-policy (from the Hub)');
      await page.click('button[name=start]');
      await page.waitForFunction(() => (window as unknown as { studio: { done: boolean; state?: { steps: unknown[] } } }).studio.done && (window as unknown as { studio: { state?: { steps: unknown[] } } }).studio.state!.steps.length > 0, undefined, { timeout: 200_000, polling: 500 });
      expect(await page.locator('.status[role=status]').textContent()).toMatch(/^Done after 1 steps/);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await hub.close().catch(() => undefined);
    }
  }, 300_000);
});


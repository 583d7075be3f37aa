import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { matmulRef } from '../src/kernels/matmul/ref.js';
import { loadWasmCore, Tokenizer } from '../src/entry/node.js';
import { maxScaledError, mulberry32, randomFloats } from './helpers/random.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the built Node bundle (dist/node.js) and CLI', () => {
  it('resolves through the package exports map (main entry and ig-search/internals) and multiplies correctly on Dawn', async () => {
    const ig = await import('ig-search');
    const internals = await import('ig-search/internals');
    expect('matmul' in ig).toBe(false); // kernel-level names live on the internals subpath only
    expect(ig.Qwen2Model).toBe(ig.CausalLM); // the deprecated name still loads the same class
    const gpu = await ig.Gpu.request();
    const shape = { M: 45, N: 77, K: 38, batch: 2, broadcastB: true, transposeB: true };
    const rng = mulberry32(5);
    const a = randomFloats(2 * 45 * 38, rng);
    const b = randomFloats(77 * 38, rng);
    const c = await internals.matmul(gpu, a, b, shape);
    expect(maxScaledError(c, matmulRef(a, b, shape))).toBeLessThan(1e-5);
    const core = await ig.loadWasmCore();
    expect(core.selfTestUtf8('dist ✓').text).toBe('dist ✓');
    gpu.destroy();
  });

  it('`ig-search doctor --json` reports a working runtime, adapter, Wasm core and a correct matmul', () => {
    const result = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'doctor', '--size', '256', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{')));
    expect(report.runtime).toBe('node');
    expect(report.wasm.ok).toBe(true);
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(report.matmul.size).toBe(256);
    expect(report.matmul.gflops).toBeGreaterThan(0);
    expect(report.matmul.maxAbsError).toBeLessThan(1e-3);
    // What a model picks here: one CPU matmul for every size on a CPU adapter, gemv → tiled → wide on a GPU;
    // flash attention for the forward passes everywhere, flash-decoding on GPUs only.
    const { matmul, attention, f16Compute } = report.kernels;
    if (report.adapter.isSoftware) expect(new Set(Object.values(matmul)).size).toBe(1);
    else expect(matmul).toEqual({ decode: 'gemv', mid: 'tiled', prefill: 'wide' });
    expect(attention).toEqual({ forward: 'flash', decode: report.adapter.isSoftware ? 'rows' : 'flash' });
    expect(f16Compute).toBe(report.features.includes('shader-f16'));
  });

  it('`ig-search score` gives the PyTorch fixture log-probs for a prefix/continuation split', () => {
    const dir = `${root}test/fixtures/qwen2/tiny-f32`;
    const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as { sequences: number[][]; logprobs: number[][] };
    const seq = expected.sequences[2]!;
    const args = ['score', '--model', dir, '--prefix-ids', seq.slice(0, 20).join(','), '--continuation-ids', seq.slice(20).join(','), '--continuation-ids', seq.slice(20, 23).join(','), '--json'];
    const result = spawnSync(process.execPath, [`${root}bin/ig-search.js`, ...args], { encoding: 'utf8', timeout: 120_000 });
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { continuations: { logprobs: number[]; mean: number }[] };
    const want = expected.logprobs[2]!.slice(19);
    expect(Math.max(...out.continuations[0]!.logprobs.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-4);
    expect(Math.max(...out.continuations[1]!.logprobs.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-4);
    const bad = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'score', '--model', dir, '--prefix', 'hello', '--continuation', 'x'], { encoding: 'utf8', timeout: 120_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT: score: text input needs .*tokenizer\.json/);
  });

  it('`ig-search score` on a BF16 checkpoint stores bf16 weights by default (--weights auto), with the f32 log-probs exactly', () => {
    const dir = `${root}test/fixtures/qwen2/tiny-bf16`;
    const score = (...extra: string[]) => spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'score', '--model', dir, '--prefix-ids', '3,17,4', '--continuation-ids', '99,250,8', '--json', ...extra], { encoding: 'utf8', timeout: 120_000 });
    const auto = score();
    const wide = score('--weights', 'f32');
    expect(auto.status, auto.stderr).toBe(0);
    expect([JSON.parse(auto.stdout).weights, JSON.parse(wide.stdout).weights]).toEqual(['bf16', 'f32']);
    expect(JSON.parse(auto.stdout).continuations).toEqual(JSON.parse(wide.stdout).continuations);
    const bad = score('--weights', 'f8');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--weights must be auto, f32, bf16 or f16, got f8/);
  });

  it('`ig-search run` produces one well-formed trajectory (fixture model, trained tokenizer, JSONL corpus)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-run-'));
    copyFileSync(`${root}test/fixtures/qwen2/tiny-f32/model.safetensors`, join(dir, 'model.safetensors'));
    // The instruction prompt is longer than the fixture's 128 positions; RoPE works at any position.
    const config = JSON.parse(readFileSync(`${root}test/fixtures/qwen2/tiny-f32/config.json`, 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 1024 }));
    const core = await loadWasmCore();
    const passages = [
      { id: '1', contents: '"Paris"\nParis is the capital of France.' },
      { id: '2', contents: '"Rome"\nRome is the capital of Italy.' },
    ];
    const { json } = Tokenizer.train(core, [...passages.map((p) => p.contents), 'What is the capital of France? Answer the question below.'], {
      vocabSize: 512,
      specialTokens: ['<search>', '</search>', '<answer>', '</answer>', '<information>', '</information>'],
    });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'corpus.jsonl'), passages.map((p) => JSON.stringify(p)).join('\n'));
    const args = ['run', '--model', dir, '--question', 'What is the capital of France?', '--corpus', join(dir, 'corpus.jsonl'), '--max-tokens', '40', '--temperature', '1', '--seed', '3', '--json'];
    const result = spawnSync(process.execPath, [`${root}bin/ig-search.js`, ...args], { encoding: 'utf8', timeout: 120_000 });
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { finish: string; tokens: number; searches: unknown[]; text: string };
    // A random-weight model may end any way; whichever it is must agree with the trajectory.
    const consistent: Record<string, boolean> = {
      answer: out.text.includes('</answer>'),
      max_turns: out.searches.length === 4 && out.text.endsWith('</search>'),
      length: out.tokens === 40 || out.text.endsWith('</search>'), // full, or the documents no longer fit
      stop_token: out.tokens <= 40 && !out.text.includes('</answer>'),
    };
    expect(consistent[out.finish], `${out.finish}: ${JSON.stringify(out.text)}`).toBe(true);
    expect(out.tokens).toBeGreaterThan(0);
    expect(out.tokens).toBeLessThanOrEqual(40);
    const missing = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'run', '--model', dir, '--question', 'q'], { encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/exactly one of --corpus FILE\.jsonl or --retriever URL/);
  });

  it('`ig-search sft` writes a loadable model directory that `ig-search run` uses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-sft-'));
    const out = join(dir, 'policy');
    const sft = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'sft', '--out', out, '--steps', '2', '--batch', '1', '--people', '4', '--films', '2'], { encoding: 'utf8', timeout: 300_000 });
    expect(sft.status, sft.stderr).toBe(0);
    expect(sft.stdout).toMatch(/final loss \d/);
    const losses = JSON.parse(readFileSync(join(out, 'sft.json'), 'utf8')).losses as number[];
    expect(losses.length).toBe(2);
    const question = JSON.parse(readFileSync(join(out, 'test.jsonl'), 'utf8').split('\n')[0]!).question as string;
    const run = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'run', '--model', out, '--corpus', join(out, 'corpus.jsonl'), '--question', question, '--max-tokens', '24', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).tokens).toBeGreaterThan(0);
  });

  it('an unknown command exits 2 with usage', () => {
    const result = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'frobnicate'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('`ig-search demo --out DIR` writes metrics.jsonl and a self-contained report.html under DIR', () => {
    const out = mkdtempSync(join(tmpdir(), 'ig-demo-'));
    const result = spawnSync(process.execPath, [`${root}bin/ig-search.js`, 'demo', '--out', out, '--steps', '1', '--questions', '1', '--group', '2', '--eval-every', '1', '--eval-questions', '3', '--json'], { encoding: 'utf8', timeout: 240_000 });
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { dir: string; summaries: { algo: string; steps: number }[] };
    expect(summary.dir.startsWith(out)).toBe(true);
    expect(summary.summaries.map((s) => [s.algo, s.steps])).toEqual([['grpo', 1], ['ig-search', 1]]);
    const records = readFileSync(`${summary.dir}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(records.filter((r) => r.type === 'step').length).toBe(2);
    // Both runs start from the same weights: the warm start is evaluated once and recorded for each.
    const initial = records.filter((r): r is { type: string; step: number; run: string; correct: number[] } => r.type === 'eval' && (r as { step?: number }).step === 0);
    expect(initial.map((r) => r.run)).toEqual(['grpo', 'ig-search']);
    expect(initial[1]!.correct).toEqual(initial[0]!.correct);
    expect(initial[0]!.correct.length).toBe(3);
    const html = readFileSync(`${summary.dir}/report.html`, 'utf8');
    expect((html.match(/<svg /g) ?? []).length).toBe(6);
    expect(html).not.toMatch(/<script|src="http/);
    // IG-Search's last step, token by token: one shaded span per trajectory token of the group shown.
    expect(html).toContain('What step 1 of ig-search credited, token by token');
    expect((html.match(/<span class="tok (policy|query|information)"/g) ?? []).length).toBeGreaterThan(20);
    expect(result.stderr).toMatch(/ETA/);
  });

  it('Ctrl-C (SIGINT) during `ig-search train` finishes the step, writes a checkpoint and exits 130', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ig-sigint-'));
    const policy = `${root}assets/demo-policy`;
    const child = spawn(process.execPath, [`${root}bin/ig-search.js`, 'train', '--model', policy, '--data', `${policy}/train.jsonl`, '--corpus', `${policy}/corpus.jsonl`, '--out', out, '--steps', '50', '--questions', '1', '--group', '2', '--max-tokens', '96', '--checkpoint-every', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Interrupt once the first step's record is on disk.
    for (let i = 0; i < 600 && !(existsSync(`${out}/metrics.jsonl`) && readFileSync(`${out}/metrics.jsonl`, 'utf8').includes('"type":"step"')); i++) await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted: finishing the current step/);
    const latest = readFileSync(`${out}/latest`, 'utf8').trim();
    const state = JSON.parse(readFileSync(`${out}/${latest}/trainer_state.json`, 'utf8')) as { step: number };
    expect(state.step).toBeGreaterThanOrEqual(1);
    expect(state.step).toBeLessThan(50);
    expect(latest).toBe(`step-${String(state.step).padStart(6, '0')}`);
  });
});


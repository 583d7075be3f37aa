/**
 * Decoding speed with the KV cache: generated tokens/s at batch 1 and 16 for the fixture model and a
 * Qwen2.5-0.5B-shaped random model, beside PyTorch fp32 CPU greedy decoding with a KV cache on the
 * same checkpoint and prompts (same run), and WebGPU dispatches per decode step.
 *
 *   npm run bench -- rollout          # writes bench/results/rollout.json
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, Gpu, Qwen2Model, qwen2ConfigJson, qwen2TensorShapes, randomQwen2Tensors, readQwen2Config, writeSafetensors, type Qwen2Config } from 'ig-search';
import { printTable, runTorch, timeIt, writeResults } from './_lib.js';

const QWEN05 = readQwen2Config({
  model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2,
  vocab_size: 151936, max_position_embeddings: 32768, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
});

function writeRandomCheckpoint(config: Qwen2Config): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig-bench-rollout-'));
  const tensors = randomQwen2Tensors(config, 7);
  const shapes = qwen2TensorShapes(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(qwen2ConfigJson(config)));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(new Map([...tensors].map(([n, data]) => [n, { data, shape: shapes.get(n)! }]))));
  return dir;
}

const fixtureDir = 'test/fixtures/qwen2/tiny-f32';
const qwenDir = writeRandomCheckpoint(QWEN05);
const MODELS = [
  { name: 'fixture tiny-f32', dir: fixtureDir, config: readQwen2Config(readFileSync(`${fixtureDir}/config.json`, 'utf8')), promptLength: 32, newTokens: 64, minReps: 2 },
  { name: 'Qwen2.5-0.5B-shaped', dir: qwenDir, config: QWEN05, promptLength: 32, newTokens: 24, minReps: 1 },
];
const BATCHES = [1, 16];

const gpu = await Gpu.request();
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'})\n`);
let seed = 1;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

interface Row { model: string; batch: number; newTokens: number; seconds: number; tokensPerSecond: number; dispatchesPerStep: number; tokens: number[][]; torch?: { seconds: number; tokensPerSecond: number; agreement: number } }
const rows: Row[] = [];
const jobs: { dir: string; prompts: number[][]; newTokens: number; minReps: number }[] = [];
for (const m of MODELS) {
  const model = await Qwen2Model.load(gpu, m.dir);
  for (const batch of BATCHES) {
    const prompts = Array.from({ length: batch }, () => Array.from({ length: m.promptLength }, () => Math.floor(rand() * m.config.vocabSize)));
    const before = gpu.dispatchCount;
    const out = await generate(model, prompts, { temperature: 0, maxNewTokens: m.newTokens });
    const dispatchesPerStep = (gpu.dispatchCount - before) / m.newTokens;
    const seconds = await timeIt(async () => void (await generate(model, prompts, { temperature: 0, maxNewTokens: m.newTokens })), { minReps: m.minReps, minSeconds: 1 });
    rows.push({ model: m.name, batch, newTokens: m.newTokens, seconds, tokensPerSecond: (batch * m.newTokens) / seconds, dispatchesPerStep, tokens: out.map((o) => Array.from(o.tokens)) });
    jobs.push({ dir: m.dir, prompts, newTokens: m.newTokens, minReps: m.minReps });
    console.log(`${m.name} batch ${batch}: ${((batch * m.newTokens) / seconds).toFixed(1)} tokens/s`);
  }
  model.free();
  gpu.pool.trim();
}

const torch = runTorch<{ seconds: number; tokens: number[][] }[]>('bench/torch_rollout.py', jobs);
rmSync(qwenDir, { recursive: true, force: true });
if (torch.skipped) console.log(torch.skipped);
rows.forEach((r, i) => {
  const t = torch.result?.[i];
  if (!t) return;
  let same = 0;
  let total = 0;
  t.tokens.forEach((seq, s) => seq.forEach((tok, j) => ((total += 1), (same += tok === r.tokens[s]![j] ? 1 : 0))));
  r.torch = { seconds: t.seconds, tokensPerSecond: (r.batch * r.newTokens) / t.seconds, agreement: same / total };
});

console.log('\ngreedy decoding with a KV cache (prefill included), fp32');
printTable(
  ['model', 'batch', 'new tokens', 'ours tok/s', 'torch tok/s', 'ours/torch', 'dispatches/step', 'same tokens as torch'],
  rows.map((r) => [r.model, r.batch, r.newTokens, r.tokensPerSecond, r.torch?.tokensPerSecond ?? NaN, r.torch ? r.torch.seconds / r.seconds : NaN, r.dispatchesPerStep.toFixed(0), r.torch ? `${(100 * r.torch.agreement).toFixed(0)}%` : '—']),
);
const qwen = rows.filter((r) => r.model === 'Qwen2.5-0.5B-shaped' && r.torch);
const path = writeResults('rollout', {
  adapter: gpu.adapter,
  torch: torch.torch ?? null,
  ratios: {
    // Headline: the 0.5B-shaped model, batch 16 and batch 1 (geometric mean would hide the spread).
    vs_torch_cpu: qwen.find((r) => r.batch === 16)?.torch ? qwen.find((r) => r.batch === 16)!.torch!.seconds / qwen.find((r) => r.batch === 16)!.seconds : null,
    vs_torch_cpu_batch1: qwen.find((r) => r.batch === 1)?.torch ? qwen.find((r) => r.batch === 1)!.torch!.seconds / qwen.find((r) => r.batch === 1)!.seconds : null,
  },
  cases: rows.map(({ tokens: _tokens, ...r }) => r),
});
console.log(`\nwrote ${path}`);
gpu.destroy();

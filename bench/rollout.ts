/**
 * Decoding speed with the KV cache: generated tokens/s at batch 1 and 16 for the fixture model and a
 * Qwen2.5-0.5B-shaped random model, beside PyTorch fp32 CPU greedy decoding with a KV cache on the
 * same checkpoint and prompts (same run), and WebGPU dispatches per decode step.
 *
 *   npm run bench -- rollout          # writes bench/results/rollout.json
 */
import { generate, Gpu, CausalLM } from 'ig-search';
import { printTable, runTorch, timeIt, writeResults } from './_lib.js';
import { FIXTURE_CONFIG, FIXTURE_DIR, QWEN05, writeRandomCheckpoint } from './_models.js';


const qwenCheckpoint = writeRandomCheckpoint(QWEN05, 'rollout');
const qwenDir = qwenCheckpoint.dir;
const MODELS = [
  { name: 'fixture tiny-f32', dir: FIXTURE_DIR, config: FIXTURE_CONFIG, promptLength: 32, newTokens: 64, minReps: 2 },
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
  const model = await CausalLM.load(gpu, m.dir);
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
qwenCheckpoint.remove();
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
    // WebGPU dispatches per decode step per layer, 0.5B-shaped at batch 16 (what fused kernels cut).
    dispatches_per_token_per_layer: (() => {
      const r = rows.find((x) => x.model === 'Qwen2.5-0.5B-shaped' && x.batch === 16);
      return r ? r.dispatchesPerStep / QWEN05.numLayers : null;
    })(),
    // The fixture at batch 1 (dispatch-bound): ours against PyTorch's eager CPU decoding.
    fixture_batch1_vs_torch_cpu: (() => {
      const r = rows.find((x) => x.model === 'fixture tiny-f32' && x.batch === 1);
      return r?.torch ? r.torch.seconds / r.seconds : null;
    })(),
  },
  cases: rows.map(({ tokens: _tokens, ...r }) => r),
});
console.log(`\nwrote ${path}`);
gpu.destroy();

/**
 * One training step (full fine-tuning, and LoRA r 16 on every projection) — forward log-probs, policy loss (PPO-clip, dual clip, k3 KL), whole-model
 * backward, grad-norm clip, AdamW — in tokens/s and peak GPU bytes, for the fixture model and a
 * Qwen2.5-0.5B-shaped random model, beside PyTorch fp32 CPU doing the same step (same checkpoint,
 * batch and loss) in the same run.
 *
 *   npm run bench -- train            # writes bench/results/train.json
 */
import { AdamW, Gpu, LoraAdapters, policyLoss, CausalLM, modelGradients, type Gradients } from 'ig-search';
import { printTable, runTorch, timeIt, writeResults } from './_lib.js';
import { FIXTURE_CONFIG, FIXTURE_DIR, QWEN05, writeRandomCheckpoint } from './_models.js';


const qwenCheckpoint = writeRandomCheckpoint(QWEN05, 'train');
const qwenDir = qwenCheckpoint.dir;
const ALL = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
const CASES = [
  { name: 'fixture tiny-f32', dir: FIXTURE_DIR, config: FIXTURE_CONFIG, batch: 4, length: 64, minReps: 3, lora: false },
  { name: 'fixture tiny-f32 LoRA r16', dir: FIXTURE_DIR, config: FIXTURE_CONFIG, batch: 4, length: 64, minReps: 3, lora: true },
  { name: 'Qwen2.5-0.5B-shaped', dir: qwenDir, config: QWEN05, batch: 2, length: 64, minReps: 1, lora: false },
  { name: 'Qwen2.5-0.5B-shaped LoRA r16', dir: qwenDir, config: QWEN05, batch: 2, length: 64, minReps: 1, lora: true },
];

const gpu = await Gpu.request();
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'})\n`);
let seed = 3;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

const rows: { name: string; batch: number; length: number; seconds: number; tokensPerSecond: number; peakGpuBytes: number; torch?: number }[] = [];
const jobs: unknown[] = [];
for (const c of CASES) {
  const model = await CausalLM.load(gpu, c.dir);
  const lora = c.lora ? LoraAdapters.create(model, { rank: 16, alpha: 32, targets: ALL, seed: 1 }) : undefined;
  const sequences = Array.from({ length: c.batch }, () => Array.from({ length: c.length }, () => Math.floor(rand() * c.config.vocabSize)));
  const n = c.length - 1;
  const current = await model.sequenceLogprobs(sequences, { adapters: lora });
  const old = current.map((lp) => Array.from(lp, (v) => v + (rand() - 0.5) * 0.2));
  const ref = current.map((lp) => Array.from(lp, (v) => v + (rand() - 0.5) * 0.2));
  const advantages = sequences.map(() => Array.from({ length: n }, () => (rand() - 0.5) * 2));
  const offsets = sequences.map((_, s) => s * n).concat(sequences.length * n);
  const flat = (x: ArrayLike<number>[]) => Float32Array.from(x.flatMap((a) => Array.from(a)));
  let grads: Gradients | undefined;
  let optimizer: AdamW | undefined;
  const trainStep = async () => {
    const logp = await model.sequenceLogprobs(sequences, { adapters: lora });
    const { grad } = await policyLoss(gpu, { logp: flat(logp), oldLogp: flat(old), refLogp: flat(ref), advantages: flat(advantages), mask: new Uint8Array(flat(logp).length).fill(1), sequenceOffsets: offsets });
    if (lora) lora.zeroGrad();
    else grads?.zero();
    grads = await modelGradients(model, sequences, logp.map((_, s) => grad.subarray(offsets[s]!, offsets[s + 1]!)), lora ? { lora } : { accumulate: grads });
    optimizer ??= await AdamW.create(gpu, grads.trainables, { lr: 1e-6, weightDecay: 0.01, maxGradNorm: 1 });
    await optimizer.step();
  };
  gpu.pool.resetPeak();
  await trainStep();
  const peak = gpu.pool.stats().peakLiveBytes;
  const seconds = await timeIt(trainStep, { minReps: c.minReps, minSeconds: 1 });
  rows.push({ name: c.name, batch: c.batch, length: c.length, seconds, tokensPerSecond: (c.batch * c.length) / seconds, peakGpuBytes: peak });
  jobs.push({ dir: c.dir, sequences, old, ref, advantages, minReps: c.minReps, lora: c.lora ? { rank: 16, alpha: 32, targets: ALL } : null });
  console.log(`${c.name}: ${((c.batch * c.length) / seconds).toFixed(1)} tokens/s per train step`);
  optimizer?.free();
  grads?.free();
  lora?.free();
  model.free();
  gpu.pool.trim();
}

const torch = runTorch<{ seconds: number }[]>('bench/torch_train.py', jobs);
qwenCheckpoint.remove();
if (torch.skipped) console.log(torch.skipped);
rows.forEach((r, i) => (r.torch = torch.result?.[i]?.seconds));

console.log('\nfull fine-tuning step (forward, loss, backward, clip, AdamW), fp32');
printTable(
  ['model', 'batch', 'ours tok/s', 'torch tok/s', 'ours/torch', 'peak GPU MiB'],
  rows.map((r) => [r.name, `${r.batch}×${r.length}`, r.tokensPerSecond, r.torch ? (r.batch * r.length) / r.torch : NaN, r.torch ? r.torch / r.seconds : NaN, (r.peakGpuBytes / 2 ** 20).toFixed(1)]),
);
const qwen = rows[2]!;
const qwenLora = rows[3]!;
const path = writeResults('train', {
  adapter: gpu.adapter,
  torch: torch.torch ?? null,
  ratios: { vs_torch_cpu: qwen.torch ? qwen.torch / qwen.seconds : null, vs_torch_cpu_lora: qwenLora.torch ? qwenLora.torch / qwenLora.seconds : null },
  cases: rows,
});
console.log(`\nwrote ${path}`);
gpu.destroy();

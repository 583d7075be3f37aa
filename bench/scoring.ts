/**
 * Teacher-forced scoring: tokens/s and peak GPU bytes for the fixture model and a
 * Qwen2.5-0.5B-shaped random model, beside PyTorch fp32 on the CPU (same checkpoint, same
 * batch, same run; log-probs compared), and IG scoring with prefix sharing vs naive.
 *
 * IG workload ("Search-R1-shaped"): for each search step, a trajectory prefix h, retrieved and
 * random document blocks of equal length and two gold answers. Naive = one full forward per
 * (step, real|random, gold) sequence with log-probs at every position (what a straightforward
 * implementation does); "no cache" = the same sequences, LM head only on answer tokens; shared =
 * h once, each document block once, answers after them (scoreInformationGain).
 *
 *   npm run bench -- scoring          # writes bench/results/scoring.json
 */
import { Gpu, CausalLM, scoreInformationGain, type ModelConfig } from 'ig-search';
import { printTable, runTorch, timeIt, writeResults } from './_lib.js';
import { FIXTURE_CONFIG, FIXTURE_DIR, QWEN05, writeRandomCheckpoint } from './_models.js';

interface Case {
  name: string;
  dir: string;
  config: ModelConfig;
  batch: number;
  length: number;
  /** IG workload: steps, each with its prefix length; document block and answer lengths. */
  ig: { prefixes: number[]; docs: number; answer: number };
  minReps: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}


const qwenCheckpoint = writeRandomCheckpoint(QWEN05, 'scoring');
const qwenDir = qwenCheckpoint.dir;
const CASES: Case[] = [
  {
    name: 'fixture tiny-f32',
    dir: FIXTURE_DIR,
    config: FIXTURE_CONFIG,
    batch: 16,
    length: 128,
    ig: { prefixes: [24, 56, 24, 56, 24, 56, 24, 56, 24, 56], docs: 24, answer: 4 },
    minReps: 3,
  },
  {
    name: 'Qwen2.5-0.5B-shaped',
    dir: qwenDir,
    config: QWEN05,
    batch: 2,
    length: 128,
    ig: { prefixes: [240, 520], docs: 243, answer: 4 },
    minReps: 1,
  },
];

const gpu = await Gpu.request();
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'})\n`);

const rows: (string | number)[][] = [];
const halfRows: (string | number)[][] = [];
const igRows: (string | number)[][] = [];
const results: Record<string, unknown>[] = [];
const torchJobs: { dir: string; sequences: number[][]; minReps: number }[] = [];
const ours: { seconds: number; logprobs: Float32Array[] }[] = [];

for (const c of CASES) {
  const model = await CausalLM.load(gpu, c.dir);
  const random = rng(c.batch * 1000 + c.length);
  const token = () => Math.floor(random() * c.config.vocabSize);
  const sequences = Array.from({ length: c.batch }, () => Array.from({ length: c.length }, token));
  const base = gpu.pool.stats().liveBytes;
  gpu.pool.resetPeak();
  const logprobs = await model.sequenceLogprobs(sequences);
  const peak = gpu.pool.stats().peakLiveBytes;
  const seconds = await timeIt(async () => void (await model.sequenceLogprobs(sequences)), { minReps: c.minReps, minSeconds: 1 });
  ours.push({ seconds, logprobs });
  torchJobs.push({ dir: c.dir, sequences, minReps: c.minReps });

  // IG scoring.
  const steps: { prefix: number[]; real: number[]; random: number[]; answers: number[][] }[] = c.ig.prefixes.map((p) => ({
    prefix: Array.from({ length: p }, token),
    real: Array.from({ length: c.ig.docs }, token),
    random: Array.from({ length: c.ig.docs }, token),
    answers: [Array.from({ length: c.ig.answer }, token), Array.from({ length: c.ig.answer }, token)],
  }));
  const naiveSequences = steps.flatMap((s) => s.answers.flatMap((a) => [[...s.prefix, ...s.real, ...a], [...s.prefix, ...s.random, ...a]]));
  const naive = await timeIt(async () => void (await model.sequenceLogprobs(naiveSequences)), { minReps: c.minReps, minSeconds: 1 });
  const noCache = await timeIt(async () => void (await scoreInformationGain(model, steps, { prefixCache: false })), { minReps: c.minReps, minSeconds: 1 });
  const shared = await timeIt(async () => void (await scoreInformationGain(model, steps)), { minReps: c.minReps, minSeconds: 1 });
  // Rows the engine actually forwarded, counted by the model (not a formula).
  const count = async (run: () => Promise<unknown>) => {
    const before = model.rowsForwarded;
    await run();
    return model.rowsForwarded - before;
  };
  const naiveRows = await count(() => model.sequenceLogprobs(naiveSequences));
  const sharedRows = await count(() => scoreInformationGain(model, steps));
  igRows.push([c.name, steps.length, naiveRows, sharedRows, naive * 1000, noCache * 1000, shared * 1000, naive / shared]);
  results.push({
    model: c.name,
    parameters: model.parameters,
    scoring: { batch: c.batch, length: c.length, seconds, tokensPerSecond: (c.batch * c.length) / seconds, peakGpuBytes: peak, activationPeakBytes: peak - base, weightBytes: base },
    ig: { workload: c.ig, steps: steps.length, naiveRows, sharedRows, naiveSeconds: naive, noCacheSeconds: noCache, sharedSeconds: shared, speedup: naive / shared },
  });
  model.free();
  gpu.pool.trim();
  if (c.config.vocabSize > 100_000 && gpu.hasF16) {
    // The same model with f16 weight matrices (shader-f16): speed, bytes, and distance to f32.
    const half = await CausalLM.load(gpu, c.dir, { weights: 'f16' });
    const before = gpu.pool.stats().liveBytes;
    gpu.pool.resetPeak();
    const lp16 = await half.sequenceLogprobs(sequences);
    const peak16 = gpu.pool.stats().peakLiveBytes;
    const s16 = await timeIt(async () => void (await half.sequenceLogprobs(sequences)), { minReps: c.minReps, minSeconds: 1 });
    let diff = 0;
    lp16.forEach((row, i) => row.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - logprobs[i]![j]!)))));
    results[results.length - 1]!['f16'] = { seconds: s16, tokensPerSecond: (c.batch * c.length) / s16, peakGpuBytes: peak16, weightBytes: before, maxAbsLogprobDiffVsF32: diff };
    half.free();
    gpu.pool.trim();
  }
  console.log(`${c.name}: ${((c.batch * c.length) / seconds).toFixed(1)} tokens/s, IG shared ${(shared * 1000).toFixed(0)} ms vs naive ${(naive * 1000).toFixed(0)} ms`);
}

const torch = runTorch<{ seconds: number; logprobs: number[][] }[]>('bench/torch_scoring.py', torchJobs);
qwenCheckpoint.remove();
if (torch.skipped) console.log(torch.skipped);

CASES.forEach((c, i) => {
  const t = torch.result?.[i];
  const tokens = c.batch * c.length;
  let maxDiff = NaN;
  if (t) {
    maxDiff = 0;
    t.logprobs.forEach((row, s) => row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - ours[i]!.logprobs[s]![j]!)))));
  }
  const r = results[i]!;
  Object.assign(r, { torch: t ? { seconds: t.seconds, tokensPerSecond: tokens / t.seconds, maxAbsLogprobDiff: maxDiff } : null, vsTorch: t ? t.seconds / ours[i]!.seconds : null });
  const s = r['scoring'] as { tokensPerSecond: number; peakGpuBytes: number; activationPeakBytes: number };
  const half = r['f16'] as { tokensPerSecond: number; peakGpuBytes: number; maxAbsLogprobDiffVsF32: number; seconds: number } | undefined;
  if (half) halfRows.push([`${c.name} f16 weights`, `${c.batch}×${c.length}`, half.tokensPerSecond, t ? tokens / t.seconds : NaN, t ? t.seconds / half.seconds : NaN, `${half.maxAbsLogprobDiffVsF32.toExponential(1)} vs f32`, (half.peakGpuBytes / 2 ** 20).toFixed(1), '']);
  rows.push([c.name, `${c.batch}×${c.length}`, s.tokensPerSecond, t ? tokens / t.seconds : NaN, t ? t.seconds / ours[i]!.seconds : NaN, Number.isNaN(maxDiff) ? '—' : maxDiff.toExponential(1), (s.peakGpuBytes / 2 ** 20).toFixed(1), (s.activationPeakBytes / 2 ** 20).toFixed(1)]);
});

console.log('\nteacher-forced scoring (fp32)');
printTable(['model', 'batch', 'ours tok/s', 'torch tok/s', 'ours/torch', 'max |Δ logp|', 'peak MiB', 'activations MiB'], [...rows, ...halfRows]);
console.log('\nIG scoring: prefix-shared vs naive');
printTable(['model', 'steps', 'naive rows', 'shared rows', 'naive ms', 'no-cache ms', 'shared ms', 'speedup'], igRows);

const headline = results[1]!;
const path = writeResults('scoring', {
  adapter: gpu.adapter,
  torch: torch.torch ?? null,
  ratios: {
    vs_torch_cpu: headline['vsTorch'],
    prefix_sharing_speedup: (headline['ig'] as { speedup: number }).speedup,
  },
  cases: results,
});
console.log(`\nwrote ${path}`);
gpu.destroy();

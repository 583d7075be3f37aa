/**
 * Matmul GFLOP/s: the variant ig-search picks for this adapter and shape, the GPU-shaped kernels
 * (wide 128×128, tiled 64×64, gemv for few rows) and a naive one-thread-per-output kernel, beside
 * PyTorch fp32 on the CPU, same shapes, same run.
 * Shapes: squares 256…2048 and LM-head-shaped T×d · (V×d)ᵀ products (HF weight layout).
 *
 *   npm run bench -- matmul            # writes bench/results/matmul.json
 */
import { Gpu } from 'ig-search';
import { Matmul, pickMatmulVariant, type MatmulShape, type MatmulVariant } from 'ig-search/internals';
import { printTable, runTorch, timeIt, writeResults } from './_lib.js';

interface Case {
  name: string;
  shape: MatmulShape;
}

const CASES: Case[] = [
  ...[256, 512, 1024, 2048].map((s) => ({ name: `${s}³`, shape: { M: s, N: s, K: s } })),
  { name: 'LM 128×896·(32768×896)ᵀ', shape: { M: 128, N: 32768, K: 896, transposeB: true } },
  { name: 'LM 512×896·(32768×896)ᵀ', shape: { M: 512, N: 32768, K: 896, transposeB: true } },
];

/** Skip a (slow) variant where one run would take longer than this at its expected speed. */
const MAX_FLOP: Record<MatmulVariant, number> = { naive: 2.2e9, tiled: 3.5e10, wide: 7e10, gemv: 2e9, blocked: Infinity, subgroup8: Infinity };

const flop = (s: MatmulShape) => 2 * s.M * s.N * s.K;

async function measure(gpu: Gpu, variant: MatmulVariant, shape: MatmulShape): Promise<number> {
  const mm = await Matmul.create(gpu, { variant, transposeB: shape.transposeB ?? false });
  const a = gpu.allocate(shape.M * shape.K * 4, 'bench.A');
  const b = gpu.allocate(shape.K * shape.N * 4, 'bench.B');
  const c = gpu.allocate(shape.M * shape.N * 4, 'bench.C');
  // Contents do not change the speed of fp32 FMAs; fill with small values to stay finite.
  gpu.device.queue.writeBuffer(a, 0, new Float32Array(shape.M * shape.K).fill(0.01));
  gpu.device.queue.writeBuffer(b, 0, new Float32Array(shape.K * shape.N).fill(0.02));
  const seconds = await timeIt(async () => {
    const batch = gpu.batch('bench');
    mm.encode(batch, a, b, c, shape);
    batch.submit();
    await gpu.sync();
  });
  for (const buffer of [a, b, c]) gpu.pool.release(buffer);
  gpu.pool.trim();
  return flop(shape) / seconds / 1e9;
}

const gpu = await Gpu.request();
const picked = pickMatmulVariant(gpu);
const variants: MatmulVariant[] = [picked, ...(['subgroup8', 'blocked', 'wide', 'tiled', 'gemv', 'naive'] as const).filter((v) => v !== picked && (v !== 'subgroup8' || gpu.features.has('subgroups')))];
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'}); ig-search picks "${picked}" for mid-sized products`);
console.log(`LP_NUM_THREADS=${process.env['LP_NUM_THREADS'] ?? '(Mesa default)'}\n`);

const ours: Record<string, Record<string, number | null>> = {};
for (const { name, shape } of CASES) {
  ours[name] = {};
  for (const variant of variants) {
    if (flop(shape) > MAX_FLOP[variant]) {
      ours[name]![variant] = null;
      continue;
    }
    ours[name]![variant] = await measure(gpu, variant, shape);
    process.stderr.write(`  ${name} ${variant}: ${ours[name]![variant]!.toFixed(2)} GFLOP/s\n`);
  }
}

const torch = runTorch<number[]>('bench/torch_matmul.py', CASES.map((c) => c.shape));
if (torch.skipped) console.log(torch.skipped);

// On a GPU the variant depends on the shape (wide for many rows, gemv for few); a CPU adapter has one.
const pickedFor = (shape: MatmulShape) => pickMatmulVariant(gpu, shape);
const rows = CASES.map(({ name, shape }, i) => {
  const t = torch.result?.[i] ?? NaN;
  const best = ours[name]![pickedFor(shape)]!;
  return [name, ...variants.map((v) => ours[name]![v] ?? NaN), t, best / t];
});
console.log('');
printTable(['shape', ...variants.map((v) => `${v}${v === picked ? ' (ours)' : ''} GFLOP/s`), 'torch CPU GFLOP/s', 'ours / torch'], rows);

const at1024 = ours['1024³']!;
const torch1024 = torch.result?.[2];
const picked1024 = pickedFor(CASES[2]!.shape);
const lmIndex = CASES.findIndex((c) => c.name.startsWith('LM 512'));
const ratios = {
  vs_torch_cpu: torch1024 ? at1024[picked1024]! / torch1024 : null,
  vs_naive_wgsl: at1024['naive'] ? at1024[picked1024]! / at1024['naive'] : null,
  vs_tiled_wgsl: at1024['tiled'] && picked1024 !== 'tiled' ? at1024[picked1024]! / at1024['tiled'] : null,
  vs_blocked_wgsl: at1024['blocked'] && picked1024 !== 'blocked' ? at1024[picked1024]! / at1024['blocked'] : null,
  lm_vs_torch_cpu: torch.result ? ours[CASES[lmIndex]!.name]![pickedFor(CASES[lmIndex]!.shape)]! / torch.result[lmIndex]! : null,
};
console.log(`\nratios: ${JSON.stringify(ratios)}`);
const path = writeResults('matmul', {
  adapter: gpu.adapter,
  lpNumThreads: process.env['LP_NUM_THREADS'] ?? null,
  picked: Object.fromEntries(CASES.map(({ name, shape }) => [name, pickedFor(shape)])),
  torch: torch.torch ?? null,
  torchSkipped: torch.skipped ?? null,
  unit: 'GFLOP/s (median of repeated runs, fp32)',
  cases: CASES.map(({ name, shape }, i) => ({ name, shape, ...ours[name], torch_cpu: torch.result?.[i] ?? null })),
  ratios,
});
console.log(`wrote ${path}`);
gpu.destroy();

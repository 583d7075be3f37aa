/**
 * What this adapter does with ig-search's kernels, on whatever adapter WebGPU finds (a GPU, or a
 * software rasteriser on a CPU): fp32 matmul GFLOP/s for every variant it can run (the picked one
 * first), memory bandwidth (a buffer copy, and the decode-shaped matrix-vector product), and greedy
 * causal attention over one long sequence (forward and backward, both attention variants), and greedy
 * decoding tok/s with dispatches per token, for the fixture model and a Qwen2.5-0.5B-shaped one —
 * beside PyTorch in the same run, on CUDA when the machine has it, else on the CPU. Where the
 * adapter's fp32 and memory peaks are known (a table of datacenter and desktop GPUs below), figures
 * are also given as a fraction of them; otherwise those fractions are null, never estimated.
 *
 *   npm run bench -- gpu            # writes bench/results/gpu.json
 */
import { generate, Gpu, CausalLM } from 'ig-search';
import { Attention, AttentionBackward, AttentionDecode, Matmul, ropeTable, pickAttentionVariant, pickDecodeVariant, pickMatmulVariant, type AttentionVariant, type MatmulCompute, type MatmulShape, type MatmulVariant } from 'ig-search/internals';
import { printTable, runTorch, timeIt, writeResults } from './_lib.js';
import { FIXTURE_CONFIG, FIXTURE_DIR, QWEN05, writeRandomCheckpoint } from './_models.js';

/** Published dense fp32 (non-tensor-core) TFLOP/s and memory GB/s, matched against the adapter's name. */
const KNOWN_PEAKS: { match: RegExp; name: string; fp32Tflops: number; gbPerS: number }[] = [
  { match: /h200/i, name: 'NVIDIA H200 SXM', fp32Tflops: 67, gbPerS: 4800 },
  { match: /h100.*pcie/i, name: 'NVIDIA H100 PCIe', fp32Tflops: 51, gbPerS: 2000 },
  { match: /h100/i, name: 'NVIDIA H100 SXM', fp32Tflops: 67, gbPerS: 3350 },
  { match: /a100/i, name: 'NVIDIA A100', fp32Tflops: 19.5, gbPerS: 2039 },
  { match: /l4\b/i, name: 'NVIDIA L4', fp32Tflops: 30.3, gbPerS: 300 },
  { match: /rtx 4090/i, name: 'NVIDIA RTX 4090', fp32Tflops: 82.6, gbPerS: 1008 },
  { match: /rtx 3090/i, name: 'NVIDIA RTX 3090', fp32Tflops: 35.6, gbPerS: 936 },
];

const gpu = await Gpu.request();
const info = gpu.adapter;
const adapterName = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
const peak = info.isSoftware ? undefined : KNOWN_PEAKS.find((p) => p.match.test(adapterName));
const picked = pickMatmulVariant(gpu);
// On a GPU the variant depends on the shape (wide for many rows, gemv for few rows of weights).
const pickedFor = (shape: MatmulShape) => pickMatmulVariant(gpu, shape);
const variants: MatmulVariant[] = info.isSoftware
  ? [picked, ...(['subgroup8', 'blocked', 'wide', 'tiled'] as const).filter((v) => v !== picked && (v !== 'subgroup8' || gpu.features.has('subgroups')))]
  : ['wide', 'tiled'];
console.log(`adapter: ${adapterName} (${info.isSoftware ? 'software' : 'GPU'}); features: ${[...gpu.features].sort().join(', ')}`);
console.log(`peak: ${peak ? `${peak.name}: ${peak.fp32Tflops} TFLOP/s fp32, ${peak.gbPerS} GB/s` : 'not known for this adapter'}; ig-search picks matmul "${picked}" for mid-sized products\n`);

// Matmul: a square, and the LM head of a 0.5B model at a scoring batch (HF weight layout).
const big = info.isSoftware ? 1024 : 4096;
const MATMUL: { name: string; shape: MatmulShape }[] = [
  { name: `${big}³`, shape: { M: big, N: big, K: big } },
  { name: 'LM 512×896·(32768×896)ᵀ', shape: { M: 512, N: 32768, K: 896, transposeB: true } },
];
const flop = (s: MatmulShape) => 2 * s.M * s.N * s.K;

async function timeDispatch(encode: (batch: ReturnType<Gpu['batch']>) => void): Promise<number> {
  return timeIt(async () => {
    const batch = gpu.batch('bench');
    encode(batch);
    batch.submit();
    await gpu.sync();
  }, { minReps: 3, minSeconds: 1 });
}

async function matmulGflops(variant: MatmulVariant, shape: MatmulShape, compute: MatmulCompute = 'f32'): Promise<number> {
  const mm = await Matmul.create(gpu, { variant, transposeB: shape.transposeB ?? false, compute });
  const [a, b, c] = [shape.M * shape.K, shape.K * shape.N, shape.M * shape.N].map((n, i) => gpu.upload(new Float32Array(n).fill(0.01 * (i + 1)), `bench.${'ABC'[i]}`));
  const seconds = await timeDispatch((batch) => mm.encode(batch, a!, b!, c!, shape));
  for (const x of [a!, b!, c!]) gpu.pool.release(x);
  gpu.pool.trim();
  return flop(shape) / seconds / 1e9;
}

const matmulRows: Record<string, Record<string, number>> = {};
for (const { name, shape } of MATMUL) {
  matmulRows[name] = {};
  for (const variant of variants) {
    // The shared-memory tiles are the GPU kernels: on a CPU adapter only the square, which they can finish.
    if (info.isSoftware && (variant === 'tiled' || variant === 'wide') && shape.N > 4096) continue;
    matmulRows[name]![variant] = await matmulGflops(variant, shape);
    console.log(`  ${name} ${variant}: ${matmulRows[name]![variant]!.toFixed(1)} GFLOP/s`);
  }
  // The opt-in half-precision products (wide only), where the adapter has shader-f16.
  if (gpu.hasF16 && !(info.isSoftware && shape.N > 4096)) {
    matmulRows[name]!['wide f16'] = await matmulGflops('wide', shape, 'f16');
    console.log(`  ${name} wide f16: ${matmulRows[name]!['wide f16']!.toFixed(1)} GFLOP/s`);
  }
}
const matmulColumns = gpu.hasF16 ? [...variants, 'wide f16'] : variants;

// Bandwidth: a 256 MiB buffer copy (read + write), and the decode-shaped product (1 row · 4096×4096ᵀ:
// each weight read once, so its speed is the weights' bytes over the time).
const copyBytes = 256 * 2 ** 20;
const src = gpu.allocate(copyBytes, 'bench.copy.src');
const dst = gpu.allocate(copyBytes, 'bench.copy.dst');
const copySeconds = await timeDispatch((batch) => batch.copy(src, dst, copyBytes));
gpu.pool.release(src);
gpu.pool.release(dst);
const copyGbPerS = (2 * copyBytes) / copySeconds / 1e9;
const gemv: MatmulShape = { M: 1, N: 4096, K: 4096, transposeB: true };
const gemvGbPerS = (4 * gemv.N * gemv.K) / (flop(gemv) / (await matmulGflops(pickedFor(gemv), gemv)) / 1e9) / 1e9;
console.log(`  copy: ${copyGbPerS.toFixed(1)} GB/s; decode matvec 4096×4096 f32 (${pickedFor(gemv)}): ${gemvGbPerS.toFixed(1)} GB/s\n`);

// Causal attention over one sequence, 0.5B-shaped heads (14 query heads over 2 KV heads of 64): the
// scoring / training-forward kernel and the training backward, in both variants. FLOPs count the
// products a causal pass needs: forward 2·T²·heads·d (QKᵀ and PV over half the square), backward
// 2.5 times that (QKᵀ and dO·Vᵀ recomputed, dV, dQ, dK).
const ATTENTION = { T: info.isSoftware ? 1024 : 4096, heads: 14, kvHeads: 2, headDim: 64 };
const attentionFlop = 2 * ATTENTION.T * ATTENTION.T * ATTENTION.heads * ATTENTION.headDim;
async function attentionGflops(variant: AttentionVariant): Promise<{ forward: number; backward: number }> {
  const { T, heads, kvHeads, headDim } = ATTENTION;
  const filled = (n: number, label: string) => gpu.upload(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.5), `bench.attention.${label}`);
  const rows = new Uint32Array(T * 8);
  const ends = new Uint32Array(T).fill(T);
  for (let t = 0; t < T; t++) rows.set([0, t, t, 0, 0, 0, 0, 0], t * 8);
  const b = {
    q: filled(T * heads * headDim, 'q'), k: filled(T * kvHeads * headDim, 'k'), v: filled(T * kvHeads * headDim, 'v'), dO: filled(T * heads * headDim, 'dO'),
    rows: gpu.upload(rows, 'bench.attention.rows'), ends: gpu.upload(ends, 'bench.attention.ends'),
    o: gpu.allocate(T * heads * headDim * 4), stats: gpu.allocate(T * heads * 8), dQ: gpu.allocate(T * heads * headDim * 4), dK: gpu.allocate(T * kvHeads * headDim * 4), dV: gpu.allocate(T * kvHeads * headDim * 4),
  };
  const forward = await Attention.create(gpu, { headDim, variant });
  const backward = await AttentionBackward.create(gpu, { headDim, variant });
  const forwardSeconds = await timeDispatch((batch) => forward.encode(batch, { q: b.q, kCache: b.k, vCache: b.v, rows: b.rows, out: b.o }, ATTENTION));
  const backwardSeconds = await timeDispatch((batch) => backward.encode(batch, { ...b, kCache: b.k, vCache: b.v }, ATTENTION));
  for (const buffer of Object.values(b)) gpu.pool.release(buffer);
  gpu.pool.trim();
  return { forward: attentionFlop / forwardSeconds / 1e9, backward: (2.5 * attentionFlop) / backwardSeconds / 1e9 };
}
const attentionPicked = pickAttentionVariant(ATTENTION.headDim);
const attentionRows: Partial<Record<AttentionVariant, { forward: number; backward: number }>> = {};
for (const variant of ['rows', 'flash'] as const) {
  attentionRows[variant] = await attentionGflops(variant);
  console.log(`  attention T=${ATTENTION.T} ${variant}: forward ${attentionRows[variant]!.forward.toFixed(1)}, backward ${attentionRows[variant]!.backward.toFixed(1)} GFLOP/s`);
}

// Where the forward's fallback should sit on this adapter: 8 tiles of 64 rows in k groups per tile, each group
// after its own 512 cached keys (flash stages k contexts per tile; rows reads one per row). flashSuits falls
// back to rows past 16× the keys on CPU adapters, 2× on GPUs.
const MIXED = [1, 4, 16];
async function mixedLayoutMs(k: number, variant: AttentionVariant): Promise<number> {
  const { heads, kvHeads, headDim: d } = ATTENTION;
  const T = 512;
  const groups = (T / 64) * k;
  const slots = groups * 512 + T;
  const rows = new Uint32Array(T * 8);
  for (let t = 0; t < T; t++) {
    const g = Math.floor(t / (64 / k));
    rows.set([0, 512, groups * 512 + t, g * 512, 512, groups * 512 + g * (64 / k), 0, 0], t * 8);
  }
  const b = { q: gpu.allocate(T * heads * d * 4), kCache: gpu.allocate(slots * kvHeads * d * 4), vCache: gpu.allocate(slots * kvHeads * d * 4), rows: gpu.upload(rows, 'bench.mixed.rows'), out: gpu.allocate(T * heads * d * 4) };
  const kernel = await Attention.create(gpu, { headDim: d, variant });
  const seconds = await timeDispatch((batch) => kernel.encode(batch, b, { T, heads, kvHeads, headDim: d }));
  for (const buffer of Object.values(b)) gpu.pool.release(buffer);
  gpu.pool.trim();
  return seconds * 1000;
}
const mixedRows: { groupsPerTile: number; rowsMs: number; flashMs: number }[] = [];
for (const k of MIXED) {
  const [rowsMs, flashMs] = [await mixedLayoutMs(k, 'rows'), await mixedLayoutMs(k, 'flash')];
  mixedRows.push({ groupsPerTile: k, rowsMs, flashMs });
  console.log(`  attention, 64-row tiles in ${k} groups after 512 keys each: rows ${rowsMs.toFixed(1)} ms, flash ${flashMs.toFixed(1)} ms`);
}

// Decode attention at a long context: one new token for each of 16 sequences, each after 2,048 cached
// keys (the fused projection, cache write and attention of one layer), in both variants.
const DECODE = { T: 16, context: 2048, heads: 14, kvHeads: 2, headDim: 64 };
async function decodeAttentionGflops(variant: AttentionVariant): Promise<number> {
  const { T, context, heads, kvHeads, headDim: d } = DECODE;
  const width = (heads + 2 * kvHeads) * d;
  const slots = T * (context + 1);
  const rows = new Uint32Array(T * 8);
  for (let t = 0; t < T; t++) rows.set([0, context, t * (context + 1) + context, 0, 0, t * (context + 1), 0, 0], t * 8);
  const filled = (n: number) => gpu.upload(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61) * 0.5), 'bench.decode');
  const b = {
    qkv: filled(T * width), bias: filled(width), qkNormWeight: filled(2 * d), table: gpu.upload(ropeTable(context + 1, d, 10000), 'bench.decode.rope'),
    rows: gpu.upload(rows, 'bench.decode.rows'), kCache: filled(slots * kvHeads * d), vCache: filled(slots * kvHeads * d), out: gpu.allocate(T * heads * d * 4),
  };
  const kernel = await AttentionDecode.create(gpu, { headDim: d, variant });
  const seconds = await timeDispatch((batch) => kernel.encode(batch, b, DECODE));
  for (const buffer of Object.values(b)) gpu.pool.release(buffer);
  gpu.pool.trim();
  return (4 * T * (context + 1) * heads * d) / seconds / 1e9;
}
const decodePicked = pickDecodeVariant(gpu);
const decodeAttention: Partial<Record<AttentionVariant, number>> = {};
for (const variant of ['rows', 'flash'] as const) {
  decodeAttention[variant] = await decodeAttentionGflops(variant);
  console.log(`  decode attention, 16 rows × ${DECODE.context} keys, ${variant}: ${decodeAttention[variant]!.toFixed(2)} GFLOP/s`);
}
console.log();

// Greedy decoding with the KV cache (prefill included), as bench/rollout.ts measures it.
const checkpoint = writeRandomCheckpoint(QWEN05, 'gpu');
const MODELS = [
  { name: 'fixture tiny-f32', dir: FIXTURE_DIR, config: FIXTURE_CONFIG, newTokens: 64, batches: [1, 16] },
  { name: 'Qwen2.5-0.5B-shaped', dir: checkpoint.dir, config: QWEN05, newTokens: info.isSoftware ? 16 : 64, batches: [1, 16] },
];
let seed = 5;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const decodeRows: { model: string; layers: number; batch: number; tokensPerSecond: number; dispatchesPerToken: number; job: { dir: string; prompts: number[][]; newTokens: number } }[] = [];
for (const m of MODELS) {
  const model = await CausalLM.load(gpu, m.dir);
  for (const batch of m.batches) {
    const prompts = Array.from({ length: batch }, () => Array.from({ length: 32 }, () => Math.floor(rand() * m.config.vocabSize)));
    const before = gpu.dispatchCount;
    await generate(model, prompts, { temperature: 0, maxNewTokens: m.newTokens });
    const dispatchesPerToken = (gpu.dispatchCount - before) / m.newTokens;
    const seconds = await timeIt(async () => void (await generate(model, prompts, { temperature: 0, maxNewTokens: m.newTokens })), { minReps: 1, minSeconds: 1 });
    decodeRows.push({ model: m.name, layers: m.config.numLayers, batch, tokensPerSecond: (batch * m.newTokens) / seconds, dispatchesPerToken, job: { dir: m.dir, prompts, newTokens: m.newTokens } });
    console.log(`  ${m.name} batch ${batch}: ${((batch * m.newTokens) / seconds).toFixed(1)} tok/s, ${dispatchesPerToken.toFixed(1)} dispatches per token`);
  }
  model.free();
  gpu.pool.trim();
}

const torch = runTorch<{ device: string; name: string; matmul: number[]; attention: { forward: number; backward: number }[]; attentionKernel: string; decode: { seconds: number }[] }>('bench/torch_gpu.py', {
  matmul: MATMUL.map((c) => c.shape),
  attention: [ATTENTION],
  decode: decodeRows.map((r) => ({ ...r.job, minReps: 1 })),
});
checkpoint.remove();
if (torch.skipped) console.log(torch.skipped);
const t = torch.result;
const torchLabel = t ? `torch ${t.device}` : 'torch';

console.log('\nfp32 matmul, GFLOP/s');
printTable(
  ['shape', 'picked', ...matmulColumns, torchLabel, 'picked / torch', 'picked / fp32 peak'],
  MATMUL.map(({ name, shape }, i) => {
    const ours = matmulRows[name]![pickedFor(shape)]!;
    return [name, pickedFor(shape), ...matmulColumns.map((v) => matmulRows[name]![v] ?? NaN), t?.matmul[i] ?? NaN, t ? ours / t.matmul[i]! : NaN, peak ? ours / (peak.fp32Tflops * 1000) : NaN];
  }),
);
console.log(`\ncausal attention, one ${ATTENTION.T}-token sequence, 14/2 heads of 64, GFLOP/s (picked: ${attentionPicked}; torch: ${t?.attentionKernel ?? '—'})`);
const torchAttention = t ? { forward: attentionFlop / t.attention[0]!.forward / 1e9, backward: (2.5 * attentionFlop) / t.attention[0]!.backward / 1e9 } : undefined;
printTable(
  ['pass', 'rows', 'flash', torchLabel, 'flash / rows', 'picked / torch'],
  (['forward', 'backward'] as const).map((pass) => {
    const [rowsG, flashG] = [attentionRows.rows![pass], attentionRows.flash![pass]];
    return [pass, rowsG, flashG, torchAttention?.[pass] ?? NaN, flashG / rowsG, torchAttention ? attentionRows[attentionPicked]![pass] / torchAttention[pass] : NaN];
  }),
);
console.log('\nforward attention on tiles whose rows fall in k groups, each after its own 512 keys (where flashSuits should fall back)');
printTable(['groups per tile', 'rows ms', 'flash ms', 'flash / rows'], mixedRows.map((r) => [r.groupsPerTile, r.rowsMs, r.flashMs, r.flashMs / r.rowsMs]));
console.log(`\ndecode attention (fused projection + cache write + attention), 16 rows × ${DECODE.context} cached keys, GFLOP/s (picked: ${decodePicked})`);
printTable(['rows', 'flash', 'flash / rows'], [[decodeAttention.rows!, decodeAttention.flash!, decodeAttention.flash! / decodeAttention.rows!]]);
console.log('\ngreedy decoding (prefill included)');
printTable(
  ['model', 'batch', 'ours tok/s', `${torchLabel} tok/s`, 'ours / torch', 'dispatches per token', 'per token per layer'],
  decodeRows.map((r, i) => {
    const theirs = t ? (r.batch * r.job.newTokens) / t.decode[i]!.seconds : NaN;
    return [r.model, r.batch, r.tokensPerSecond, theirs, r.tokensPerSecond / theirs, r.dispatchesPerToken.toFixed(1), (r.dispatchesPerToken / r.layers).toFixed(2)];
  }),
);

const bestMatmul = Math.max(...MATMUL.map(({ name, shape }) => matmulRows[name]![pickedFor(shape)]!));
const qwen16 = decodeRows.findIndex((r) => r.model.startsWith('Qwen') && r.batch === 16);
const qwenTorch = t && qwen16 >= 0 ? (16 * decodeRows[qwen16]!.job.newTokens) / t.decode[qwen16]!.seconds : undefined;
const path = writeResults('gpu', {
  adapter: info,
  features: [...gpu.features].sort(),
  peak: peak ?? null,
  torch: t ? { version: torch.torch, device: t.device, name: t.name } : { skipped: torch.skipped },
  matmul: MATMUL.map(({ name, shape }, i) => ({ name, shape, gflops: matmulRows[name], torch: t?.matmul[i] ?? null })),
  bandwidth: { copyGbPerS, decodeMatvecGbPerS: gemvGbPerS },
  decodeAttention: { shape: DECODE, picked: decodePicked, gflops: decodeAttention },
  mixedLayouts: mixedRows,
  attention: { shape: ATTENTION, picked: attentionPicked, gflops: attentionRows, torch: torchAttention ?? null, torchKernel: t?.attentionKernel ?? null },
  decode: decodeRows.map(({ job, ...r }, i) => ({ ...r, newTokens: job.newTokens, torchTokensPerSecond: t ? (r.batch * job.newTokens) / t.decode[i]!.seconds : null })),
  ratios: {
    // The picked variant's best fp32 matmul over the adapter's published fp32 peak (null when not known).
    matmul_fraction_of_peak: peak ? bestMatmul / (peak.fp32Tflops * 1000) : null,
    // The copy's bandwidth over the published memory bandwidth (null when not known).
    bandwidth_fraction_of_peak: peak ? copyGbPerS / peak.gbPerS : null,
    // 0.5B-shaped greedy decoding at batch 16 against PyTorch fp32 on CUDA (null without CUDA).
    decode_vs_torch_cuda: t?.device === 'cuda' && qwenTorch ? decodeRows[qwen16]!.tokensPerSecond / qwenTorch : null,
    // The same against whichever device PyTorch ran on.
    decode_vs_torch: qwenTorch ? decodeRows[qwen16]!.tokensPerSecond / qwenTorch : null,
    matmul_vs_torch: t ? matmulRows[MATMUL[0]!.name]![pickedFor(MATMUL[0]!.shape)]! / t.matmul[0]! : null,
    // The wide matmul multiplying in f16 over f32 at the square (null without shader-f16).
    matmul_wide_f16_vs_f32: matmulRows[MATMUL[0]!.name]!['wide f16'] ? matmulRows[MATMUL[0]!.name]!['wide f16']! / matmulRows[MATMUL[0]!.name]!['wide']! : null,
    // Flash over rows attention, forward and backward, on this adapter (flash is what both pick).
    attention_flash_vs_rows_forward: attentionRows.flash!.forward / attentionRows.rows!.forward,
    attention_flash_vs_rows_backward: attentionRows.flash!.backward / attentionRows.rows!.backward,
    // Flash-decoding over one invocation per (row, head), 16 rows after 2,048 keys each.
    attention_decode_flash_vs_rows: decodeAttention.flash! / decodeAttention.rows!,
    // The picked attention variant's forward against PyTorch's on the same shape.
    attention_vs_torch: torchAttention ? attentionRows[attentionPicked]!.forward / torchAttention.forward : null,
    dispatches_per_token_per_layer: qwen16 >= 0 ? decodeRows[qwen16]!.dispatchesPerToken / QWEN05.numLayers : null,
  },
});
console.log(`\nwrote ${path}`);
gpu.destroy();

/**
 * Loading a checkpoint shaped like Qwen2.5-0.5B (BF16, as the Hub ships it; sharded in two files as
 * the Hub's index layout, ~0.99 GB) from a local fixture Hub through `fromPretrained`, then onto the
 * GPU: the host memory the loader holds at its peak (JS ArrayBuffers, sampled every millisecond and
 * at every read) against the largest tensor, for the streaming loader (`CausalLM.load`) and for
 * reading the whole checkpoint into f32 host tensors first (`readCheckpoint` + `create`, what
 * loading did before), side by side; GPU bytes for f32, exact bf16 and f16 weight storage.
 *
 *   npm run bench -- load        # writes bench/results/load.json
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gpu, CausalLM, fromPretrained } from 'ig-search';
import { configJson, modelTensorShapes, readCheckpoint } from 'ig-search/internals';
import { startFixtureHub, repoFromDirectory } from '../test/helpers/hub.js';
import { QWEN05 } from './_models.js';
import { printTable, writeResults } from './_lib.js';

// ---- a BF16 checkpoint in two shards, written a tensor piece at a time ---------------------------
const dir = mkdtempSync(join(tmpdir(), 'ig-bench-load-'));
const shapes = [...modelTensorShapes(QWEN05)];
const shardOf = (i: number) => (i < shapes.length / 2 ? 1 : 2);
const weightMap: Record<string, string> = {};
let largest = 0;
let total = 0;
for (const shard of [1, 2]) {
  const file = `model-0000${shard}-of-00002.safetensors`;
  const mine = shapes.filter((_, i) => shardOf(i) === shard);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of mine) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
    weightMap[name] = file;
    largest = Math.max(largest, bytes);
  }
  total += offset;
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const fd = openSync(join(dir, file), 'w');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  writeSync(fd, length);
  writeSync(fd, text);
  // Small finite values (bf16 bit patterns of ±0.0078…±0.031), the same 1 MiB block repeated.
  const block = new Uint16Array(1 << 19).map((_, i) => 0x3c00 + (i % 512) + (i % 3 === 0 ? 0x8000 : 0));
  for (const [, shape] of mine) {
    let left = shape.reduce((a, b) => a * b, 1) * 2;
    while (left > 0) {
      const n = Math.min(left, block.byteLength);
      writeSync(fd, new Uint8Array(block.buffer, 0, n));
      left -= n;
    }
  }
  closeSync(fd);
}
writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...configJson(QWEN05), torch_dtype: 'bfloat16' }));
writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } }));

const hub = await startFixtureHub({ 'bench/qwen05-bf16': { files: repoFromDirectory(dir) } });
const cacheDir = mkdtempSync(join(tmpdir(), 'ig-bench-cache-'));
let t0 = performance.now();
const snapshot = await fromPretrained('bench/qwen05-bf16', { endpoint: hub.url, cacheDir });
const downloadS = (performance.now() - t0) / 1000;
await hub.close();
t0 = performance.now();
await fromPretrained('bench/qwen05-bf16', { endpoint: 'http://127.0.0.1:9', cacheDir, retries: 0 });
const cachedResolveS = (performance.now() - t0) / 1000;

/** Peak growth of JS ArrayBuffer bytes while `fn` runs (sampled every ms). */
async function peakHost<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number; seconds: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - base));
  const timer = setInterval(sample, 1);
  const started = performance.now();
  try {
    const value = await fn();
    sample();
    return { value, peak, seconds: (performance.now() - started) / 1000 };
  } finally {
    clearInterval(timer);
  }
}

const gpu = await Gpu.request();
const rows: (string | number)[][] = [];
const measured: Record<string, { peak: number; seconds: number; gpuBytes: number }> = {};
for (const [label, load] of [
  ['streaming, f32 weights', () => CausalLM.load(gpu, snapshot, { weights: 'f32' })],
  ['streaming, bf16 weights', () => CausalLM.load(gpu, snapshot, { weights: 'bf16' })],
  ['streaming, f16 weights', () => CausalLM.load(gpu, snapshot, { weights: 'f16' })],
  ['whole checkpoint to f32 first', async () => {
    const { config, tensors } = await readCheckpoint(snapshot);
    return CausalLM.create(gpu, config, tensors);
  }],
] as const) {
  if (label.includes('f16') && !gpu.hasF16) continue;
  const before = gpu.pool.stats().liveBytes;
  const { value: model, peak, seconds } = await peakHost(load);
  const gpuBytes = gpu.pool.stats().liveBytes - before;
  model.free();
  measured[label] = { peak, seconds, gpuBytes };
  rows.push([label, peak / 2 ** 20, peak / largest, seconds, gpuBytes / 2 ** 20]);
}
gpu.destroy();
rmSync(dir, { recursive: true, force: true });
rmSync(cacheDir, { recursive: true, force: true });

console.log(`Qwen2.5-0.5B-shaped BF16 checkpoint: ${(total / 2 ** 20).toFixed(0)} MiB in 2 shards, largest tensor ${(largest / 2 ** 20).toFixed(0)} MiB (embed_tokens)`);
console.log(`fromPretrained from the fixture Hub: ${downloadS.toFixed(1)} s; again with the Hub gone (cache): ${(cachedResolveS * 1000).toFixed(0)} ms\n`);
printTable(['load', 'peak host MiB', '× largest tensor', 's', 'GPU MiB'], rows);
const streaming = measured['streaming, f32 weights']!;
const whole = measured['whole checkpoint to f32 first']!;
const f16 = measured['streaming, f16 weights'];
const bf16 = measured['streaming, bf16 weights']!;
const ratios = {
  peak_host_over_largest_tensor: streaming.peak / largest,
  whole_checkpoint_peak_over_largest_tensor: whole.peak / largest,
  f16_gpu_bytes_vs_f32: f16 ? f16.gpuBytes / streaming.gpuBytes : null,
  bf16_gpu_bytes_vs_f32: bf16.gpuBytes / streaming.gpuBytes,
  cached_load_vs_transformersjs: null,
};
console.log('\nratios:', ratios);
console.log('cached_load_vs_transformersjs: not measured — transformers.js loads ONNX exports, not these safetensors; it is not installed here');
const path = writeResults('load', { workload: { checkpointBytes: total, largestTensorBytes: largest, shards: 2, dtype: 'BF16' }, seconds: { download: downloadS, cachedResolve: cachedResolveS }, measured, ratios });
console.log(`wrote ${path}`);

/**
 * `ig-search doctor`: what this runtime can do. Prints the runtime, the adapter and the limits
 * that matter to ig-search, checks the Wasm core, and times a 1024³ matmul.
 */
import { pickAttentionVariant, pickDecodeVariant } from '../kernels/attention/attention.js';
import { Matmul, pickMatmulVariant } from '../kernels/matmul/matmul.js';
import { currentPlatform } from '../platform/platform.js';
import { loadWasmCore } from '../wasm/core.js';
import { Gpu } from '../gpu/device.js';

export interface DoctorReport {
  runtime: string;
  adapter: Gpu['adapter'];
  features: string[];
  limits: Record<string, number>;
  wasm: { ok: boolean; version?: string; bytes?: number; error?: string };
  matmul: { size: number; variant: string; gflops: number; maxAbsError: number };
  /** The kernel shapes a model picks on this adapter: matmul by product size, attention by pass (head dim 64). */
  kernels: { matmul: { decode: string; mid: string; prefill: string }; attention: { forward: string; decode: string }; f16Compute: boolean };
}

const SHOWN_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

export async function doctor(options: { size?: number; log?: (line: string) => void; gpu?: Gpu } = {}): Promise<DoctorReport> {
  const log = options.log ?? (() => {});
  const platform = currentPlatform();
  log(`runtime     ${platform.runtime} (${platform.version()})`);

  let wasm: DoctorReport['wasm'];
  try {
    const core = await loadWasmCore();
    const text = 'ig-search ✓ 検索 🔎';
    const probe = core.selfTestUtf8(text);
    wasm = { ok: probe.text === text && probe.scalars === [...text].length, version: core.version(), bytes: core.memoryBytes };
    log(`wasm        ig_core ${wasm.version}, UTF-8 round trip ${wasm.ok ? 'ok' : 'WRONG'}, ${wasm.bytes! / 65536} pages`);
  } catch (e) {
    wasm = { ok: false, error: (e as Error).message };
    log(`wasm        FAILED: ${wasm.error}`);
  }

  const gpu = options.gpu ?? (await Gpu.request());
  const { adapter } = gpu;
  log(`adapter     ${adapter.description || adapter.device || adapter.vendor} (${adapter.architecture || 'unknown architecture'}, ${adapter.isSoftware ? 'CPU implementation' : 'hardware'})`);
  const features = [...gpu.features].sort();
  log(`features    ${features.join(', ') || 'none'}`);
  const limits: Record<string, number> = {};
  for (const key of SHOWN_LIMITS) {
    limits[key] = gpu.limits[key];
    log(`  ${key.padEnd(34)} ${formatLimit(gpu.limits[key])}`);
  }

  const size = options.size ?? 1024;
  const variant = pickMatmulVariant(gpu, { M: size, N: size });
  const mm = await Matmul.create(gpu, { variant });
  const a = new Float32Array(size * size);
  const b = new Float32Array(size * size);
  for (let i = 0; i < a.length; i++) {
    a[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    b[i] = ((i * 104729) % 1000) / 1000 - 0.5;
  }
  const bufA = gpu.upload(a, 'doctor.A');
  const bufB = gpu.upload(b, 'doctor.B');
  const bufC = gpu.allocate(a.byteLength, 'doctor.C');
  const shape = { M: size, N: size, K: size };
  const run = () => {
    const batch = gpu.batch('doctor');
    mm.encode(batch, bufA, bufB, bufC, shape);
    batch.submit();
  };
  run(); // warm-up: pipeline creation and first-touch costs stay out of the timing
  await gpu.sync();
  const reps = 3;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  await gpu.sync();
  const seconds = (performance.now() - t0) / 1000 / reps;
  const gflops = (2 * size ** 3) / seconds / 1e9;
  // Spot-check one row against the obvious loop.
  const c = new Float32Array(await gpu.read(bufC, size * 4));
  let maxAbsError = 0;
  for (let n = 0; n < size; n++) {
    let ref = 0;
    for (let k = 0; k < size; k++) ref += a[k]! * b[k * size + n]!;
    maxAbsError = Math.max(maxAbsError, Math.abs(ref - c[n]!));
  }
  for (const buffer of [bufA, bufB, bufC]) gpu.pool.release(buffer);
  log(`matmul      ${size}³ fp32, variant ${variant}: ${gflops.toFixed(2)} GFLOP/s (${(seconds * 1000).toFixed(1)} ms), max |error| ${maxAbsError.toExponential(1)}`);
  const weights = (M: number) => pickMatmulVariant(gpu, { M, N: 4096, transposeB: true });
  const kernels: DoctorReport['kernels'] = {
    matmul: { decode: weights(1), mid: weights(64), prefill: weights(512) },
    attention: { forward: pickAttentionVariant(64), decode: pickDecodeVariant(gpu) },
    f16Compute: gpu.hasF16,
  };
  log(`kernels     matmul ${kernels.matmul.decode} (1 row) / ${kernels.matmul.mid} (64) / ${kernels.matmul.prefill} (512 rows); attention ${kernels.attention.forward} (prefill, scoring, training) / ${kernels.attention.decode} (decode); f16 compute ${kernels.f16Compute ? 'available (ModelOptions.compute)' : 'unavailable (no shader-f16)'}`);
  return { runtime: platform.runtime, adapter, features, limits, wasm, matmul: { size, variant, gflops, maxAbsError }, kernels };
}

function formatLimit(v: number): string {
  return v >= 1 << 20 ? `${v} (${(v / (1 << 20)).toFixed(0)} MiB)` : String(v);
}

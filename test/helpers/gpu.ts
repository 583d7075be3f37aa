/**
 * The one GPU (and Wasm core) fixture of the test suite: `const env = withGpu()` at the top of a
 * file requests the device before the file's tests and destroys it after them; tests read
 * `env.gpu` (and `env.core` when asked for). One device per file: Dawn holds one Vulkan instance
 * per process and vitest runs each file in its own.
 */
import { afterAll, beforeAll } from 'vitest';
import { Gpu, loadWasmCore, type WasmCore } from '../../src/entry/node.js';
import type { DispatchBatch } from '../../src/gpu/device.js';

export interface GpuEnv {
  readonly gpu: Gpu;
  readonly core: WasmCore;
}

export function withGpu(options: { core?: boolean } = {}): GpuEnv {
  let gpu: Gpu | undefined;
  let core: WasmCore | undefined;
  beforeAll(async () => {
    gpu = await Gpu.request();
    if (options.core) core = await loadWasmCore();
  });
  afterAll(() => gpu?.destroy());
  return {
    get gpu() {
      if (!gpu) throw new Error('withGpu: the device is requested in beforeAll; read env.gpu inside a test');
      return gpu;
    },
    get core() {
      if (!core) throw new Error('withGpu: pass { core: true } to load the Wasm core');
      return core;
    },
  };
}

/** Encodes one batch, submits it and reads `n` f32 back from `out`. */
export async function runKernel(gpu: Gpu, encode: (batch: DispatchBatch) => void, out: GPUBuffer, n: number): Promise<Float32Array> {
  const batch = gpu.batch('test');
  encode(batch);
  batch.submit();
  return new Float32Array(await gpu.read(out, n * 4));
}

/** Packed rows (src/model/rows.ts) from `[token, position, kvSlot, ctxStart, ctxLength, selfStart]` prefixes. */
export function rowInfo(rows: number[][]): Uint32Array {
  const out = new Uint32Array(rows.length * 8);
  rows.forEach((r, i) => out.set(r, i * 8));
  return out;
}

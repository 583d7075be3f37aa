import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu, IgSearchError } from '../src/entry/node.js';
import { BufferUsage, defineKernel } from '../src/internals.js';
import { bucketSize } from '../src/gpu/pool.js';
import { setPlatform, currentPlatform, type Platform } from '../src/platform/platform.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await Gpu.request();
});
afterAll(() => gpu?.destroy());

const addOne = defineKernel({
  name: 'test_add_one',
  code: `
    @group(0) @binding(0) var<storage, read_write> x: array<f32>;
    @group(0) @binding(1) var<uniform> n: vec4<u32>;
    @compute @workgroup_size(64)
    fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < n.x) { x[g.x] = x[g.x] + 1.0; } }`,
  entryPoint: 'main',
  bindings: ['read_write', 'uniform'],
});

describe('kernel interfaces come from the WGSL', () => {
  it('bindings are derived from the @binding declarations; a hand-written list that disagrees, a gap or a repeat is refused', () => {
    expect(addOne.bindings).toEqual(['read_write', 'uniform']);
    const code = (decls: string) => `${decls}\n@compute @workgroup_size(1) fn main() {}`;
    expect(defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(1) var<uniform> p: vec4<u32>;\n// @group(0) @binding(7) var<uniform> commented: u32;\n@group(0)   @binding(0) var<storage,read> a: array<f32>;') }).bindings).toEqual(['read', 'uniform']);
    expect(() => defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(0) var<storage, read> a: array<f32>;'), bindings: ['read_write'] })).toThrow(/k: bindings \[read_write\] disagree with the WGSL's \[read\]/);
    expect(() => defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(2) var<uniform> p: u32;') })).toThrow(/@binding\(1\) is missing/);
    expect(() => defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(0) var<uniform> p: u32;') })).toThrow(/@binding\(0\) is declared twice/);
  });
});

describe('buffer pool', () => {
  it('bucket sizes round up by at most 12.5% above 64 KiB and to powers of two below', () => {
    for (const bytes of [1, 255, 257, 1000, 65536, 65537, 70000, 1e6, 123456789]) {
      const size = bucketSize(bytes);
      expect(size).toBeGreaterThanOrEqual(bytes);
      if (bytes > 65536) expect(size / bytes).toBeLessThanOrEqual(1.125);
      else expect(Math.log2(size) % 1).toBe(0);
    }
  });

  it('tracks live and peak bytes and reuses released buffers', () => {
    const { pool } = gpu;
    const base = pool.stats();
    pool.resetPeak();
    const usage = BufferUsage.STORAGE | BufferUsage.COPY_DST;
    const a = pool.acquire(1000, usage, 'a');
    const b = pool.acquire(3000, usage, 'b');
    expect(pool.stats().liveBytes - base.liveBytes).toBe(1024 + 4096);
    pool.release(a);
    pool.release(b);
    expect(pool.stats().liveBytes).toBe(base.liveBytes);
    expect(pool.stats().peakLiveBytes - base.liveBytes).toBe(1024 + 4096);
    const again = pool.acquire(900, usage, 'again');
    expect(again).toBe(a); // same bucket → the released buffer comes back
    expect(pool.stats().created).toBe(base.created + 2);
    pool.release(again);
  });

  it('refuses sizes over maxBufferSize with LIMIT_EXCEEDED', () => {
    expect(() => gpu.pool.acquire(gpu.limits.maxBufferSize + 1, BufferUsage.STORAGE, 'huge')).toThrow(/maxBufferSize/);
  });
});

describe('pipelines and dispatch', () => {
  it('compiles a kernel once and runs it on real data', async () => {
    const first = await gpu.kernel(addOne);
    const second = await gpu.kernel(addOne);
    expect(second).toBe(first);
    const data = Float32Array.from({ length: 100 }, (_, i) => i);
    const buffer = gpu.upload(data);
    const batch = gpu.batch();
    batch.dispatch(first, [buffer, new Uint32Array([100, 0, 0, 0])], [2]);
    batch.dispatch(first, [buffer, new Uint32Array([50, 0, 0, 0])], [1]);
    batch.submit();
    const out = new Float32Array(await gpu.read(buffer, 400));
    for (let i = 0; i < 100; i++) expect(out[i]).toBe(i + (i < 50 ? 2 : 1));
    gpu.pool.release(buffer);
  });

  it('a WGSL error is a GPU_ERROR naming the kernel and line', async () => {
    const broken = defineKernel({ name: 'test_broken', code: '@compute @workgroup_size(1)\nfn main() { let x: f32 = undefined_thing; }', entryPoint: 'main', bindings: [] });
    const err = await gpu.kernel(broken).catch((e) => e);
    expect(err).toBeInstanceOf(IgSearchError);
    expect(err.code).toBe('GPU_ERROR');
    expect(err.message).toMatch(/test_broken/);
    expect(err.message).toMatch(/test_broken\.wgsl:2:/);
  });

  it('a workgroup grid over the device limit is refused before dispatch', async () => {
    const compiled = await gpu.kernel(addOne);
    const buffer = gpu.allocate(16);
    const batch = gpu.batch();
    expect(() => batch.dispatch(compiled, [buffer, new Uint32Array(4)], [gpu.limits.maxComputeWorkgroupsPerDimension + 1])).toThrow(/maxComputeWorkgroupsPerDimension/);
    batch.submit();
    gpu.pool.release(buffer);
  });
});

describe('device acquisition and loss', () => {
  it('no adapter → NO_ADAPTER with a hint', async () => {
    const real = currentPlatform();
    const without: Platform = { ...real, gpu: async () => undefined };
    setPlatform(without);
    try {
      const err = await Gpu.request().catch((e) => e);
      expect(err).toBeInstanceOf(IgSearchError);
      expect(err.code).toBe('NO_ADAPTER');
      expect(err.hint).toMatch(/Vulkan/);
    } finally {
      setPlatform(real);
    }
  });

  it('a destroyed device turns every later call into DEVICE_LOST', async () => {
    const own = await Gpu.request();
    own.device.destroy();
    await own.device.lost;
    expect(() => own.batch()).toThrow(/the GPU device was lost/);
    const err = (() => {
      try {
        own.check();
      } catch (e) {
        return e as IgSearchError;
      }
    })();
    expect(err?.code).toBe('DEVICE_LOST');
  });
});

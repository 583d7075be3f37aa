import { describe, expect, it } from 'vitest';
import { Gpu, IgSearchError } from '../src/entry/node.js';
import { BufferUsage, ComputeKernel, defineKernel } from '../src/internals.js';
import { bucketSize } from '../src/gpu/pool.js';
import { setPlatform, currentPlatform, type Platform } from '../src/platform/platform.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();

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
  it('bindings (order, access, name) are derived from the @binding declarations; a hand-written list that disagrees, a gap or a repeat is refused', () => {
    expect(addOne.bindings).toEqual([{ name: 'x', access: 'read_write' }, { name: 'n', access: 'uniform' }]);
    const code = (decls: string) => `${decls}\n@compute @workgroup_size(1) fn main() {}`;
    const access = (k: { bindings: readonly { access: string }[] }) => k.bindings.map((b) => b.access);
    expect(access(defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(1) var<uniform> p: vec4<u32>;\n// @group(0) @binding(7) var<uniform> commented: u32;\n@group(0)   @binding(0) var<storage,read> a: array<f32>;') }))).toEqual(['read', 'uniform']);
    expect(() => defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(0) var<storage, read> a: array<f32>;'), bindings: ['read_write'] })).toThrow(/k: bindings \[read_write\] disagree with the WGSL's \[read\]/);
    expect(() => defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(2) var<uniform> p: u32;') })).toThrow(/@binding\(1\) is missing/);
    expect(() => defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(0) var<uniform> p: u32;') })).toThrow(/@binding\(0\) is declared twice/);
    expect(() => defineKernel({ name: 'k', entryPoint: 'main', code: code('@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(1) var<storage, read> a: array<f32>;') })).toThrow(/two bindings are named "a"/);
  });

  it('the uniform struct gives the parameter fields; only structs of u32/i32/f32 are passed by name', () => {
    const code = (decls: string) => `${decls}\n@compute @workgroup_size(1) fn main() {}`;
    const k = defineKernel({ name: 'k', entryPoint: 'main', code: code('struct Params {\n  n: u32, // rows\n  shift: i32, scale: f32, _pad: u32,\n}\n@group(0) @binding(0) var<uniform> p: Params;') });
    expect(k.params).toEqual([{ name: 'n', type: 'u32' }, { name: 'shift', type: 'i32' }, { name: 'scale', type: 'f32' }, { name: '_pad', type: 'u32' }]);
    expect(defineKernel({ name: 'k', entryPoint: 'main', code: code('struct P { v: vec4<f32> }\n@group(0) @binding(0) var<uniform> p: P;') }).params).toBeNull();
    expect(addOne.params).toBeNull();
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
    const { pool } = env.gpu;
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
    expect(() => env.gpu.pool.acquire(env.gpu.limits.maxBufferSize + 1, BufferUsage.STORAGE, 'huge')).toThrow(/maxBufferSize/);
  });
});

describe('pipelines and dispatch', () => {
  it('compiles a kernel once and runs it on real data', async () => {
    const first = await env.gpu.kernel(addOne);
    const second = await env.gpu.kernel(addOne);
    expect(second).toBe(first);
    const data = Float32Array.from({ length: 100 }, (_, i) => i);
    const buffer = env.gpu.upload(data);
    const batch = env.gpu.batch();
    batch.dispatch(first, [buffer, new Uint32Array([100, 0, 0, 0])], [2]);
    batch.dispatch(first, [buffer, new Uint32Array([50, 0, 0, 0])], [1]);
    batch.submit();
    const out = new Float32Array(await env.gpu.read(buffer, 400));
    for (let i = 0; i < 100; i++) expect(out[i]).toBe(i + (i < 50 ? 2 : 1));
    env.gpu.pool.release(buffer);
  });

  it('a ComputeKernel binds buffers by name and packs u32, i32 and f32 parameters by field name', async () => {
    const affine = defineKernel({
      name: 'test_affine',
      entryPoint: 'main',
      code: `
        struct Params { n: u32, shift: i32, scale: f32, _pad: u32 }
        @group(0) @binding(0) var<storage, read> src: array<f32>;
        @group(0) @binding(1) var<uniform> p: Params;
        @group(0) @binding(2) var<storage, read_write> dst: array<f32>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < p.n) { dst[g.x] = src[g.x] * p.scale + f32(p.shift); } }`,
    });
    const k = await ComputeKernel.compile(env.gpu, affine);
    const src = env.gpu.upload(Float32Array.from({ length: 70 }, (_, i) => i));
    const dst = env.gpu.upload(new Float32Array(70).fill(-1));
    const batch = env.gpu.batch();
    // Keys in any order: names, not positions, decide the binding.
    k.dispatch(batch, { dst, src }, { scale: 0.5, n: 65, shift: -3 }, [2]);
    batch.submit();
    const out = new Float32Array(await env.gpu.read(dst, 70 * 4));
    for (let i = 0; i < 70; i++) expect(out[i]).toBe(i < 65 ? i * 0.5 - 3 : -1);
    const bad = env.gpu.batch();
    expect(() => k.dispatch(bad, { src }, { n: 1, shift: 0, scale: 1 }, [1])).toThrow(/test_affine: no buffer for binding "dst"/);
    expect(() => k.dispatch(bad, { src, dst, extra: src }, { n: 1, shift: 0, scale: 1 }, [1])).toThrow(/test_affine has no binding "extra"/);
    expect(() => k.dispatch(bad, { src, dst }, { n: 1, scale: 1 }, [1])).toThrow(/parameter "shift" is missing/);
    expect(() => k.dispatch(bad, { src, dst }, { n: -1, shift: 0, scale: 1 }, [1])).toThrow(/parameter "n" must be an integer in \[0, 2\^32\), got -1/);
    expect(() => k.dispatch(bad, { src, dst }, { n: 1, shift: 0.5, scale: 1 }, [1])).toThrow(/parameter "shift" must be an integer/);
    expect(() => k.dispatch(bad, { src, dst }, { n: 1, shift: 0, scale: NaN }, [1])).toThrow(/parameter "scale" must be a finite number/);
    expect(() => k.dispatch(bad, { src, dst }, { n: 1, shift: 0, scale: 1, sclae: 2 }, [1])).toThrow(/has no parameter "sclae" \(its fields: n, shift, scale, _pad\)/);
    bad.submit();
    for (const b of [src, dst]) env.gpu.pool.release(b);
  });

  it('parameters go to per-batch slots: batches recorded side by side and submitted in either order each see their own; a repeated batch makes no new bind group', async () => {
    const compiled = await env.gpu.kernel(addOne);
    const [a, b] = [env.gpu.upload(new Float32Array(100)), env.gpu.upload(new Float32Array(100))];
    const first = env.gpu.batch();
    const second = env.gpu.batch();
    first.dispatch(compiled, [a, new Uint32Array([100, 0, 0, 0])], [2]); // slot 0 of the first batch: n = 100
    second.dispatch(compiled, [b, new Uint32Array([30, 0, 0, 0])], [2]); // slot 0 of the second: n = 30
    second.dispatch(compiled, [b, new Uint32Array([10, 0, 0, 0])], [2]);
    second.submit();
    first.submit();
    const [outA, outB] = [new Float32Array(await env.gpu.read(a, 400)), new Float32Array(await env.gpu.read(b, 400))];
    for (let i = 0; i < 100; i++) {
      expect(outA[i]).toBe(1);
      expect(outB[i]).toBe((i < 30 ? 1 : 0) + (i < 10 ? 1 : 0));
    }
    const made = compiled.bindGroups.size;
    for (const n of [7, 9]) {
      const again = env.gpu.batch();
      again.dispatch(compiled, [a, new Uint32Array([n, 0, 0, 0])], [2]);
      again.dispatch(compiled, [b, new Uint32Array([n, 0, 0, 0])], [2]);
      again.submit();
    }
    expect(compiled.bindGroups.size).toBe(made); // same buffers in the same slots: cached groups, new parameters
    expect(Array.from(new Float32Array(await env.gpu.read(a, 40)))).toEqual(new Array(10).fill(0).map((_, i) => 1 + (i < 7 ? 1 : 0) + (i < 9 ? 1 : 0)));
    for (const x of [a, b]) env.gpu.pool.release(x);
  });

  it('a WGSL error is a GPU_ERROR naming the kernel and line', async () => {
    const broken = defineKernel({ name: 'test_broken', code: '@compute @workgroup_size(1)\nfn main() { let x: f32 = undefined_thing; }', entryPoint: 'main', bindings: [] });
    const err = await env.gpu.kernel(broken).catch((e) => e);
    expect(err).toBeInstanceOf(IgSearchError);
    expect(err.code).toBe('GPU_ERROR');
    expect(err.message).toMatch(/test_broken/);
    // The line of the kernel's (possibly joined) source, quoted: not a .wgsl file name that may not hold it.
    expect(err.message).toMatch(/test_broken source line 2:/);
    expect(err.message).toContain('| fn main() { let x: f32 = undefined_thing; }');
  });

  it('a workgroup grid over the device limit is refused before dispatch', async () => {
    const compiled = await env.gpu.kernel(addOne);
    const buffer = env.gpu.allocate(16);
    const batch = env.gpu.batch();
    expect(() => batch.dispatch(compiled, [buffer, new Uint32Array(4)], [env.gpu.limits.maxComputeWorkgroupsPerDimension + 1])).toThrow(/maxComputeWorkgroupsPerDimension/);
    batch.submit();
    env.gpu.pool.release(buffer);
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

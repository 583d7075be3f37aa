/**
 * `Gpu`: one WebGPU device with its buffer pool, pipeline cache and a small dispatch helper.
 * Node gets Dawn (npm `webgpu`), Deno and browsers get `navigator.gpu`; the choice is made by the
 * runtime entry, not here.
 */
import { IgSearchError } from '../errors.js';
import { currentPlatform, type RuntimeName } from '../platform/platform.js';
import { BufferUsage, MapMode } from './flags.js';
import type { Kernel } from './kernel.js';
import { PipelineCache, type CompiledKernel, type Constants } from './pipelines.js';
import { BufferPool } from './pool.js';

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Request `shader-f16` when the adapter has it (default true). */
  f16?: boolean;
  /** Use this device instead of requesting one (e.g. one shared with a renderer or web-llm). */
  device?: GPUDevice;
  /** Adapter info to report with a caller-provided device. */
  adapterInfo?: GPUAdapterInfo;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Subgroup width range (0 when the adapter does not say). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
  /** A CPU implementation (lavapipe, SwiftShader, WARP): kernels pick CPU-shaped variants. */
  isSoftware: boolean;
}

/** The limits ig-search raises to the adapter's maximum, because the defaults are far lower. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

const NO_ADAPTER_HINT: Record<RuntimeName, string> = {
  node:
    'Dawn needs a Vulkan driver. On Debian 12 run scripts/setup.sh (installs Mesa 25 lavapipe from bookworm-backports; ' +
    'stock Mesa 22 is rejected), or point VK_ICD_FILENAMES at a working ICD such as /usr/lib/chromium/vk_swiftshader_icd.json.',
  deno: 'Deno exposes navigator.gpu through wgpu, which needs a Vulkan driver: run scripts/setup.sh on Debian 12.',
  browser: 'Use a browser with WebGPU enabled (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu).',
};

export class Gpu {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** Where dispatches' uniform parameters live (see ParamsArena). */
  readonly params: ParamsArena;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  /** Set when the device is lost; every later call fails with DEVICE_LOST. */
  lostReason: string | undefined;
  /** Largest buffer one storage binding can cover: what chunked passes size their row blocks by. */
  get bindingLimit(): number {
    return Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
  }
  /** Compute dispatches recorded since creation (benchmarks report dispatches per token). */
  dispatchCount = 0;
  private readonly errors: string[] = [];

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly runtime: RuntimeName,
  ) {
    this.limits = device.limits;
    this.features = new Set(device.features);
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    this.pipelines = new PipelineCache(device, device.limits);
    this.params = new ParamsArena(device, device.limits);
    device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
    device.addEventListener('uncapturederror', (event) => {
      this.errors.push((event as GPUUncapturedErrorEvent).error.message);
    });
  }

  /** Requests an adapter and a device with raised limits; NO_ADAPTER with a hint if there is none. */
  static async request(options: GpuOptions = {}): Promise<Gpu> {
    const platform = currentPlatform();
    if (options.device) {
      return new Gpu(options.device, summarize(options.adapterInfo), platform.runtime);
    }
    const gpu = await platform.gpu().catch((e: unknown) => {
      throw new IgSearchError('NO_ADAPTER', `WebGPU is not available in ${platform.runtime}: ${(e as Error).message}`, {
        hint: NO_ADAPTER_HINT[platform.runtime],
        cause: e,
      });
    });
    const adapter = await gpu?.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
    if (!adapter) {
      throw new IgSearchError('NO_ADAPTER', `no WebGPU adapter in ${platform.runtime} (${platform.version()})`, {
        hint: NO_ADAPTER_HINT[platform.runtime],
      });
    }
    const requiredLimits: Record<string, number> = {};
    for (const key of RAISED_LIMITS) requiredLimits[key] = adapter.limits[key];
    const requiredFeatures: GPUFeatureName[] = [];
    if (options.f16 !== false && adapter.features.has('shader-f16')) requiredFeatures.push('shader-f16');
    if (adapter.features.has('subgroups')) requiredFeatures.push('subgroups');
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'ig-search' });
    } catch (e) {
      throw new IgSearchError('NO_DEVICE', `the WebGPU adapter refused a device: ${(e as Error).message}`, { cause: e });
    }
    return new Gpu(device, summarize(adapter.info), platform.runtime);
  }

  get hasF16(): boolean {
    return this.features.has('shader-f16');
  }

  /** Throws DEVICE_LOST if the device is gone, GPU_ERROR if WebGPU reported an error since the last check. */
  check(): void {
    if (this.lostReason !== undefined) {
      throw new IgSearchError('DEVICE_LOST', `the GPU device was lost (${this.lostReason})`, {
        hint: 'create a new Gpu with Gpu.request(); resume training from the last checkpoint',
      });
    }
    const error = this.errors.shift();
    if (error !== undefined) {
      this.errors.length = 0;
      throw new IgSearchError('GPU_ERROR', `WebGPU reported: ${error}`);
    }
  }

  kernel(kernel: Kernel, constants?: Constants): Promise<CompiledKernel> {
    return this.pipelines.get(kernel, constants);
  }

  /** A pooled storage buffer holding a copy of `data`. */
  upload(data: ArrayBufferView, label = 'upload'): GPUBuffer {
    this.check();
    const buffer = this.pool.acquire(
      Math.max(data.byteLength, 4),
      BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
      label,
    );
    // writeBuffer needs a multiple of 4 bytes; pad odd-sized data (e.g. u8 token bytes) with a copy.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const padded = data.byteLength % 4 === 0 ? bytes : new Uint8Array(alignTo4(data.byteLength));
    if (padded !== bytes) padded.set(bytes);
    this.device.queue.writeBuffer(buffer, 0, padded.buffer, padded.byteOffset, padded.byteLength);
    return buffer;
  }

  /** A pooled storage buffer of `bytes` bytes with undefined contents. */
  allocate(bytes: number, label = 'storage'): GPUBuffer {
    this.check();
    return this.pool.acquire(bytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, label);
  }

  /** Copies `bytes` bytes from the start of `buffer` back to the host. */
  async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.check();
    const size = alignTo4(bytes);
    const staging = this.pool.acquire(size, BufferUsage.MAP_READ | BufferUsage.COPY_DST, 'readback');
    const encoder = this.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    try {
      await staging.mapAsync(MapMode.READ, 0, size);
    } catch (e) {
      this.check();
      throw new IgSearchError('GPU_ERROR', `readback of "${buffer.label}" failed: ${(e as Error).message}`, { cause: e });
    }
    const copy = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.pool.release(staging);
    this.check();
    return copy;
  }

  /** Starts a batch of dispatches recorded into one command buffer. */
  batch(label = 'ig-search'): DispatchBatch {
    this.check();
    return new DispatchBatch(this, label);
  }

  /** Resolves when all submitted work has finished. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  destroy(): void {
    this.pool.trim();
    this.device.destroy();
  }
}

/** A byte range of a storage buffer (offset a multiple of minStorageBufferOffsetAlignment). */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/**
 * Kernel parameters live in uniform "pages" the device keeps for its lifetime: 256 slots of
 * `slotBytes` (the uniform offset alignment) each. A batch gives its n-th dispatch slot n and writes
 * each page it used once, at submit — so a dispatch costs no buffer and no write of its own, and
 * since a decode step's n-th dispatch binds the same buffers and slot as the last step's, its bind
 * group is made once and then reused. (A dynamic offset per dispatch instead of a slot per bind group
 * was measured: lavapipe ran such dispatches 2–3× slower.)
 */
export class ParamsArena {
  static readonly SLOTS_PER_PAGE = 256;
  readonly slotBytes: number;
  private readonly pages: GPUBuffer[] = [];

  constructor(private readonly device: GPUDevice, limits: GPUSupportedLimits) {
    this.slotBytes = Math.max(256, limits.minUniformBufferOffsetAlignment);
  }

  page(index: number): GPUBuffer {
    while (this.pages.length <= index) {
      this.pages.push(this.device.createBuffer({ size: this.slotBytes * ParamsArena.SLOTS_PER_PAGE, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: `params[${this.pages.length}]` }));
    }
    return this.pages[index]!;
  }
}

/** A stable small number per buffer, for bind-group cache keys. */
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function bufferId(buffer: GPUBuffer): number {
  let id = bufferIds.get(buffer);
  if (id === undefined) bufferIds.set(buffer, (id = nextBufferId++));
  return id;
}

/** Bind groups kept per pipeline before the cache starts over (a bound on memory, not a tuning knob). */
const MAX_BIND_GROUPS = 1024;

/**
 * Dispatches recorded into one compute pass. Uniform parameters are passed as typed arrays and land
 * in slots of the device's parameter arena, written when the batch is submitted (queue writes are
 * ordered after earlier submissions, so a slot a previous batch still reads is not overwritten early).
 */
export class DispatchBatch {
  private readonly encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder;
  /** Parameter bytes by slot, for the pages written at submit. */
  private params = new Uint8Array(0);
  private slots = 0;

  constructor(
    private readonly gpu: Gpu,
    label: string,
  ) {
    this.encoder = gpu.device.createCommandEncoder({ label });
    this.pass = this.encoder.beginComputePass({ label });
  }

  /**
   * Records one dispatch. `resources` follow the kernel's binding order: a GPUBuffer or a slice of
   * one for storage bindings, a typed array for the uniform binding.
   */
  dispatch(compiled: CompiledKernel, resources: readonly (GPUBuffer | BufferSlice | ArrayBufferView)[], workgroups: readonly [number, number?, number?]): void {
    const { kernel, pipeline, layout } = compiled;
    if (resources.length !== kernel.bindings.length) {
      throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name} binds ${kernel.bindings.length} resources, got ${resources.length}`);
    }
    const limits = this.gpu.limits;
    const [x, y = 1, z = 1] = workgroups;
    for (const n of [x, y, z]) {
      if (!Number.isInteger(n) || n < 0 || n > limits.maxComputeWorkgroupsPerDimension) {
        throw new IgSearchError(
          'LIMIT_EXCEEDED',
          `kernel ${kernel.name}: workgroup grid [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${limits.maxComputeWorkgroupsPerDimension}`,
        );
      }
    }
    const arena = this.gpu.params;
    let key = '';
    let uniform: { bytes: ArrayBufferView; size: number } | undefined;
    const slices = resources.map((resource, binding): BufferSlice | undefined => {
      if (ArrayBuffer.isView(resource)) {
        const size = alignTo16(resource.byteLength);
        if (size > arena.slotBytes) throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name}: ${resource.byteLength} bytes of parameters exceed a ${arena.slotBytes}-byte slot`);
        uniform = { bytes: resource, size };
        return undefined;
      }
      const slice = 'buffer' in resource ? resource : { buffer: resource, offset: 0, size: resource.size };
      const name = kernel.bindings[binding]!.name;
      if (kernel.bindings[binding]!.access === 'uniform') {
        // A caller's own uniform buffer: bound as given.
        key += `u${bufferId(slice.buffer)}:${slice.offset}:${slice.size},`;
        return slice;
      }
      if (slice.size > limits.maxStorageBufferBindingSize) {
        throw new IgSearchError(
          'LIMIT_EXCEEDED',
          `kernel ${kernel.name}: binding ${name} ("${slice.buffer.label}") is ${slice.size} bytes, over maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}`,
          { hint: 'split the work into chunks that fit the binding limit' },
        );
      }
      if (slice.offset % limits.minStorageBufferOffsetAlignment !== 0) {
        throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name}: binding ${name} offset ${slice.offset} is not a multiple of ${limits.minStorageBufferOffsetAlignment}`);
      }
      key += `${bufferId(slice.buffer)}:${slice.offset}:${slice.size},`;
      return slice;
    });
    let page = -1;
    let slotOffset = 0;
    if (uniform) {
      const slot = this.slots++;
      page = Math.floor(slot / ParamsArena.SLOTS_PER_PAGE);
      const at = slot * arena.slotBytes;
      if (this.params.length < at + arena.slotBytes) {
        const grown = new Uint8Array(Math.max(at + arena.slotBytes, 2 * this.params.length));
        grown.set(this.params);
        this.params = grown;
      }
      this.params.set(new Uint8Array(uniform.bytes.buffer, uniform.bytes.byteOffset, uniform.bytes.byteLength), at);
      slotOffset = (slot % ParamsArena.SLOTS_PER_PAGE) * arena.slotBytes;
      key += `p${page}:${slotOffset}:${uniform.size}`;
    }
    let group = compiled.bindGroups.get(key);
    if (!group) {
      const entries = slices.map((slice, binding): GPUBindGroupEntry => (slice ? { binding, resource: slice } : { binding, resource: { buffer: arena.page(page), offset: slotOffset, size: uniform!.size } }));
      group = this.gpu.device.createBindGroup({ layout, entries, label: kernel.name });
      if (compiled.bindGroups.size >= MAX_BIND_GROUPS) compiled.bindGroups.clear();
      compiled.bindGroups.set(key, group);
    }
    this.gpu.dispatchCount++;
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, group);
    if (x > 0 && y > 0 && z > 0) this.pass.dispatchWorkgroups(x, y, z);
  }

  /** Records a buffer copy between dispatches (ends the compute pass and starts a new one). */
  copy(source: GPUBuffer, destination: GPUBuffer, bytes: number, sourceOffset = 0, destinationOffset = 0): void {
    this.pass.end();
    this.encoder.copyBufferToBuffer(source, sourceOffset, destination, destinationOffset, bytes);
    this.pass = this.encoder.beginComputePass();
  }

  submit(): void {
    this.pass.end();
    const { slotBytes } = this.gpu.params;
    const perPage = ParamsArena.SLOTS_PER_PAGE;
    for (let page = 0; page * perPage < this.slots; page++) {
      const used = Math.min(perPage, this.slots - page * perPage) * slotBytes;
      this.gpu.device.queue.writeBuffer(this.gpu.params.page(page), 0, this.params.buffer, page * perPage * slotBytes, used);
    }
    this.gpu.device.queue.submit([this.encoder.finish()]);
    this.slots = 0;
  }
}

function summarize(info: GPUAdapterInfo | undefined): AdapterSummary {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  const isSoftware =
    architecture === 'software' ||
    (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|warp|software/.test(text);
  const sizes = info as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  return {
    vendor,
    architecture,
    device,
    description,
    subgroupMinSize: sizes?.subgroupMinSize ?? 0,
    subgroupMaxSize: sizes?.subgroupMaxSize ?? 0,
    isSoftware,
  };
}

export function alignTo4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function alignTo16(n: number): number {
  return Math.max(16, Math.ceil(n / 16) * 16);
}

/**
 * Compiles each (kernel, override constants) pair once per device. Compilation is asynchronous
 * (`createComputePipelineAsync`), so a WGSL error becomes a rejected promise we can turn into a
 * typed error instead of an uncaptured device error.
 */
import { IgSearchError } from '../errors.js';
import { ShaderStage } from './flags.js';
import type { Access, Kernel } from './kernel.js';

export type Constants = Readonly<Record<string, number>>;

export interface CompiledKernel {
  readonly kernel: Kernel;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /**
   * Bind groups made for this pipeline, by the identity of the resources bound and the parameter
   * slot (DispatchBatch keeps it): a decode step binds what the last one bound, so it makes none.
   */
  readonly bindGroups: Map<string, GPUBindGroup>;
}

const bufferType: Record<Access, GPUBufferBindingType> = {
  read: 'read-only-storage',
  read_write: 'storage',
  uniform: 'uniform',
};

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, Promise<CompiledKernel>>();

  constructor(
    private readonly device: GPUDevice,
    private readonly limits: GPUSupportedLimits,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(kernel: Kernel, constants: Constants = {}): Promise<CompiledKernel> {
    const key = `${kernel.name}|${kernel.entryPoint}|${JSON.stringify(Object.entries(constants).sort())}`;
    let compiled = this.pipelines.get(key);
    if (!compiled) {
      compiled = this.compile(kernel, constants);
      this.pipelines.set(key, compiled);
      compiled.catch(() => this.pipelines.delete(key));
    }
    return compiled;
  }

  private async compile(kernel: Kernel, constants: Constants): Promise<CompiledKernel> {
    const storage = kernel.bindings.filter((b) => b.access !== 'uniform').length;
    if (storage > this.limits.maxStorageBuffersPerShaderStage) {
      throw new IgSearchError(
        'LIMIT_EXCEEDED',
        `kernel ${kernel.name} binds ${storage} storage buffers; this device allows ${this.limits.maxStorageBuffersPerShaderStage} per stage`,
      );
    }
    const module = await this.module(kernel);
    const layout = this.device.createBindGroupLayout({
      label: kernel.name,
      entries: kernel.bindings.map((b, binding) => ({
        binding,
        visibility: ShaderStage.COMPUTE,
        buffer: { type: bufferType[b.access] },
      })),
    });
    try {
      const pipeline = await this.device.createComputePipelineAsync({
        label: kernel.name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: kernel.name }),
        compute: { module, entryPoint: kernel.entryPoint, constants: { ...constants } },
      });
      return { kernel, pipeline, layout, bindGroups: new Map() };
    } catch (e) {
      throw new IgSearchError('GPU_ERROR', `cannot create pipeline ${kernel.name} with ${JSON.stringify(constants)}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /**
   * The shader module for `kernel`, compiled inside an error scope so that a WGSL error becomes
   * this kernel's GPU_ERROR (line:column of the kernel's source, which may be several .wgsl files
   * joined, with the offending line quoted) instead of an uncaptured device error that would
   * surface later, attributed to someone else.
   */
  private async module(kernel: Kernel): Promise<GPUShaderModule> {
    const cached = this.modules.get(kernel.name);
    if (cached) return cached;
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: kernel.code, label: kernel.name });
    const error = await this.device.popErrorScope();
    if (error) {
      const info = await module.getCompilationInfo().catch(() => undefined);
      const messages = info?.messages
        .filter((m) => m.type === 'error')
        .map((m) => `  ${kernel.name} source line ${m.lineNum}:${m.linePos}: ${m.message}\n    | ${kernel.code.split('\n')[m.lineNum - 1]?.trim() ?? ''}`)
        .join('\n');
      throw new IgSearchError('GPU_ERROR', `cannot compile kernel ${kernel.name}:\n${messages || error.message}`);
    }
    this.modules.set(kernel.name, module);
    return module;
  }
}

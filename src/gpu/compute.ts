/**
 * The one way a kernel is launched: a `ComputeKernel` owns one compiled pipeline and records
 * dispatches with buffers passed by their WGSL binding names and parameters by the field names of
 * the WGSL's uniform struct. Each kernel module wraps one (or a few) in a class whose `encode`
 * takes the kernel's operands and shape and works out the grid.
 */
import { IgSearchError } from '../errors.js';
import type { BufferSlice, DispatchBatch, Gpu } from './device.js';
import type { Kernel } from './kernel.js';
import type { CompiledKernel, Constants } from './pipelines.js';

/** A storage binding's buffer: a whole GPUBuffer or a byte range of one. */
export type Resource = GPUBuffer | BufferSlice;

export class ComputeKernel {
  private readonly storage: readonly string[];
  private readonly uniformAt: number;

  private constructor(readonly compiled: CompiledKernel) {
    const { bindings } = compiled.kernel;
    this.storage = bindings.filter((b) => b.access !== 'uniform').map((b) => b.name);
    this.uniformAt = bindings.findIndex((b) => b.access === 'uniform');
  }

  /** Compiles `kernel` with `constants` (cached per device: the same pair compiles once). */
  static async compile(gpu: Gpu, kernel: Kernel, constants?: Constants): Promise<ComputeKernel> {
    return new ComputeKernel(await gpu.kernel(kernel, constants));
  }

  /**
   * Records one dispatch. `buffers` names every storage binding of the WGSL (no more, no fewer);
   * `params` every non-padding field of its uniform struct (padding fields, `_…`, default to 0;
   * u32/i32 fields must be integers in range, f32 fields finite).
   */
  dispatch(batch: DispatchBatch, buffers: Readonly<Record<string, Resource>>, params: Readonly<Record<string, number>>, workgroups: readonly [number, number?, number?]): void {
    const { kernel } = this.compiled;
    const resources: (Resource | ArrayBufferView)[] = kernel.bindings.map((b) => {
      if (b.access === 'uniform') return EMPTY;
      const resource = buffers[b.name];
      if (!resource) throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name}: no buffer for binding "${b.name}" (it binds ${this.storage.join(', ')})`);
      return resource;
    });
    for (const key of Object.keys(buffers)) {
      if (!this.storage.includes(key)) throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name} has no binding "${key}" (it binds ${this.storage.join(', ')})`);
    }
    if (this.uniformAt >= 0) resources[this.uniformAt] = packParams(kernel, params);
    batch.dispatch(this.compiled, resources, workgroups);
  }
}

const EMPTY = new Uint32Array(0);

/** The uniform struct's bytes from named fields. */
function packParams(kernel: Kernel, values: Readonly<Record<string, number>>): Uint32Array {
  const fields = kernel.params;
  if (!fields) throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name}: its uniform is not a struct of u32/i32/f32 fields, so parameters cannot be passed by name`);
  const out = new Uint32Array(Math.ceil(fields.length / 4) * 4);
  const ints = new Int32Array(out.buffer);
  const floats = new Float32Array(out.buffer);
  fields.forEach((field, i) => {
    const v = values[field.name];
    if (v === undefined) {
      if (field.name.startsWith('_')) return;
      throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name}: parameter "${field.name}" is missing`);
    }
    const bad = (range: string) => new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name}: parameter "${field.name}" must be ${range}, got ${v}`);
    if (field.type === 'f32') {
      if (!Number.isFinite(v)) throw bad('a finite number');
      floats[i] = v;
    } else if (field.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw bad('an integer in [0, 2^32)');
      out[i] = v;
    } else {
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw bad('an integer in [-2^31, 2^31)');
      ints[i] = v;
    }
  });
  for (const key of Object.keys(values)) {
    if (!fields.some((f) => f.name === key)) throw new IgSearchError('INVALID_ARGUMENT', `kernel ${kernel.name} has no parameter "${key}" (its fields: ${fields.map((f) => f.name).join(', ')})`);
  }
  return out;
}

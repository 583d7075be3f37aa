/**
 * A compute kernel is WGSL source plus the list of what it binds, in binding order, in group 0.
 * Declaring bindings here (instead of `layout: 'auto'`) gives explicit bind group layouts, lets
 * us check them against the device's per-stage limits before compiling, and keeps each kernel's
 * interface readable in one place. Variants are chosen with WGSL `override` constants.
 */
export type Binding =
  | 'read' // var<storage, read>
  | 'read_write' // var<storage, read_write>
  | 'uniform'; // var<uniform>

export interface Kernel {
  /** Used in labels and error messages. */
  readonly name: string;
  readonly code: string;
  readonly entryPoint: string;
  readonly bindings: readonly Binding[];
}

export function defineKernel(kernel: Kernel): Kernel {
  return Object.freeze({ ...kernel, bindings: Object.freeze([...kernel.bindings]) });
}

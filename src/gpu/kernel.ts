/**
 * A compute kernel is WGSL source plus what it binds, in binding order, in group 0. The WGSL is the
 * one source of that interface: `defineKernel` reads the `@group(0) @binding(i) var<…>` declarations
 * and derives the binding list (explicit bind group layouts instead of `layout: 'auto'`, checked
 * against the device's per-stage limits before compiling). A list given by hand must agree with the
 * WGSL or the definition throws. Variants are chosen with WGSL `override` constants.
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

const DECLARATION = /@group\(0\)\s*@binding\((\d+)\)\s*var<\s*(uniform|storage\s*,\s*(read_write|read))\s*>/g;

/** The bindings a WGSL module declares in group 0, by binding number (they must be 0, 1, … with no gaps). */
export function bindingsOf(code: string, name = 'kernel'): Binding[] {
  const found = new Map<number, Binding>();
  for (const m of code.replace(/\/\/[^\n]*/g, '').matchAll(DECLARATION)) {
    const index = Number(m[1]);
    if (found.has(index)) throw new Error(`${name}: @binding(${index}) is declared twice`);
    found.set(index, m[2] === 'uniform' ? 'uniform' : (m[3] as 'read' | 'read_write'));
  }
  const bindings = Array.from({ length: found.size }, (_, i) => found.get(i));
  const gap = bindings.indexOf(undefined);
  if (gap >= 0) throw new Error(`${name}: @binding(${gap}) is missing (bindings must run 0, 1, … without gaps)`);
  return bindings as Binding[];
}

export function defineKernel(kernel: Omit<Kernel, 'bindings'> & { bindings?: readonly Binding[] }): Kernel {
  const bindings = bindingsOf(kernel.code, kernel.name);
  if (kernel.bindings && (kernel.bindings.length !== bindings.length || kernel.bindings.some((b, i) => b !== bindings[i]))) {
    throw new Error(`${kernel.name}: bindings [${kernel.bindings.join(', ')}] disagree with the WGSL's [${bindings.join(', ')}]`);
  }
  return Object.freeze({ name: kernel.name, code: kernel.code, entryPoint: kernel.entryPoint, bindings: Object.freeze(bindings) });
}

/**
 * A compute kernel is WGSL source; the WGSL is the one statement of its interface. `defineKernel`
 * reads the `@group(0) @binding(i) var<…> name` declarations (binding order, access and name, for
 * explicit bind group layouts instead of `layout: 'auto'`) and the fields of the uniform's `struct`
 * (name and scalar type, in order). `ComputeKernel` (compute.ts) then binds buffers by those names
 * and packs parameters by those field names, so nothing on the TypeScript side restates positions.
 * Variants are chosen with WGSL `override` constants.
 */
export type Access =
  | 'read' // var<storage, read>
  | 'read_write' // var<storage, read_write>
  | 'uniform'; // var<uniform>

export interface Binding {
  readonly name: string;
  readonly access: Access;
}

/** One 4-byte field of a kernel's uniform parameter struct. Names starting with `_` are padding. */
export interface ParamField {
  readonly name: string;
  readonly type: 'u32' | 'i32' | 'f32';
}

export interface Kernel {
  /** Used in labels and error messages. */
  readonly name: string;
  readonly code: string;
  readonly entryPoint: string;
  /** By binding number (0, 1, … without gaps). */
  readonly bindings: readonly Binding[];
  /** The fields of the uniform binding's struct, in order; null when there is no uniform, or it is not a struct of 4-byte scalars. */
  readonly params: readonly ParamField[] | null;
}

const DECLARATION = /@group\(0\)\s*@binding\((\d+)\)\s*var<\s*(uniform|storage\s*,\s*(read_write|read))\s*>\s*(\w+)\s*:\s*([\w<>, ]+?)\s*;/g;

const stripComments = (code: string) => code.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');

/** The bindings a WGSL module (comments stripped) declares in group 0, by binding number (they must be 0, 1, … with no gaps), with their types. */
function declarations(code: string, kernel: string): (Binding & { type: string })[] {
  const found = new Map<number, Binding & { type: string }>();
  for (const m of code.matchAll(DECLARATION)) {
    const index = Number(m[1]);
    if (found.has(index)) throw new Error(`${kernel}: @binding(${index}) is declared twice`);
    const access: Access = m[2] === 'uniform' ? 'uniform' : (m[3] as 'read' | 'read_write');
    found.set(index, { name: m[4]!, access, type: m[5]! });
  }
  const bindings = Array.from({ length: found.size }, (_, i) => found.get(i));
  const gap = bindings.indexOf(undefined);
  if (gap >= 0) throw new Error(`${kernel}: @binding(${gap}) is missing (bindings must run 0, 1, … without gaps)`);
  const names = new Set<string>();
  for (const b of bindings) {
    if (names.has(b!.name)) throw new Error(`${kernel}: two bindings are named "${b!.name}"`);
    names.add(b!.name);
  }
  return bindings as (Binding & { type: string })[];
}

/** The fields of `struct <type>` when every one is a 4-byte scalar, else null. */
function structFields(code: string, type: string): ParamField[] | null {
  const body = new RegExp(`struct\\s+${type}\\s*\\{([^}]*)\\}`).exec(code)?.[1];
  if (body === undefined) return null;
  const fields: ParamField[] = [];
  for (const part of body.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\w+)\s*:\s*(u32|i32|f32)$/.exec(part);
    if (!m) return null;
    fields.push({ name: m[1]!, type: m[2] as ParamField['type'] });
  }
  return fields;
}

export function defineKernel(kernel: { name: string; code: string; entryPoint: string; bindings?: readonly Access[] }): Kernel {
  const code = stripComments(kernel.code);
  const found = declarations(code, kernel.name);
  const access = found.map((b) => b.access);
  if (kernel.bindings && (kernel.bindings.length !== access.length || kernel.bindings.some((b, i) => b !== access[i]))) {
    throw new Error(`${kernel.name}: bindings [${kernel.bindings.join(', ')}] disagree with the WGSL's [${access.join(', ')}]`);
  }
  const uniforms = found.filter((b) => b.access === 'uniform');
  if (uniforms.length > 1) throw new Error(`${kernel.name}: more than one uniform binding`);
  const params = uniforms[0] ? structFields(code, uniforms[0].type) : null;
  return Object.freeze({
    name: kernel.name,
    code: kernel.code,
    entryPoint: kernel.entryPoint,
    bindings: Object.freeze(found.map(({ name, access }) => Object.freeze({ name, access }))),
    params: params && Object.freeze(params.map((f) => Object.freeze(f))),
  });
}

/**
 * Loads `ig_core.wasm` in any runtime and gives it a typed, panic-safe surface.
 *
 * Calling convention (mirrors `rust/src/ffi.rs`): inputs are copied into buffers from `ig_alloc`,
 * variable-length results come back through the output slot (`ig_out_ptr`/`ig_out_len`), errors
 * arrive through the imported `env.ig_error` before the export returns, and a panic calls
 * `env.ig_panic` and then traps. A trap resets the instance: a panic may have left the Rust
 * allocator half-updated, so nothing from the old instance is trusted again.
 */
import { IgSearchError, type IgSearchErrorCode } from '../errors.js';
import { currentPlatform } from '../platform/platform.js';
import { packHeader, type HeaderSpec } from './headers.js';

/** Raw exports of ig_core (pointers and lengths are byte offsets/counts in linear memory). */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  ig_init(): void;
  ig_alloc(len: number): number;
  ig_free(ptr: number, len: number): void;
  ig_out_ptr(): number;
  ig_out_len(): number;
  ig_version(): void;
  ig_selftest_utf8(ptr: number, len: number): number;
  ig_selftest_scale_f32(x: number, n: number, scale: number, out: number): number;
  ig_selftest_panic(ptr: number, len: number): void;
  ig_selftest_alloc(bytes: number): number;
  ig_allocated_bytes(): number;
  // advantage/
  ig_normalize_answer(ptr: number, len: number): number;
  ig_extract_answer(ptr: number, len: number): number;
  /** `header`: a `REWARDS_HEADER` (headers.ts), as every export taking one below. */
  ig_rewards(header: number): number;
  ig_grpo_advantages(rewards: number, n: number, groupSizes: number, nGroups: number, norm: number, epsilon: number, out: number): number;
  /** `header`: an `INFORMATION_GAIN_HEADER` written by `WasmScope.header`. */
  ig_information_gain(header: number): number;
  /** `header`: a `MODULATION_HEADER` written by `WasmScope.header`. */
  ig_modulate_advantages(header: number): number;
  ig_header_layout(id: number): number;
  /** `header`s: GIGPO_HEADER, IGPO_HEADER, DISCOUNTED_RETURNS_HEADER, MR_SEARCH_HEADER (headers.ts). */
  ig_gigpo_advantages(header: number): number;
  ig_igpo_advantages(header: number): number;
  ig_discounted_returns(header: number): number;
  ig_mr_search_advantages(header: number): number;
  // retrieval/
  /** `header`: a `STEP_SEARCH_HEADER`. */
  ig_stepsearch_rewards(header: number): number;
  ig_bm25_build(ids: number, idsLen: number, idOffsets: number, contents: number, contentsLen: number, contentOffsets: number, n: number, k1: number, b: number): number;
  ig_bm25_free(handle: number): number;
  ig_bm25_stats(handle: number, out: number): number;
  ig_bm25_search(handle: number, queries: number, queriesLen: number, queryOffsets: number, nq: number, k: number, outDocs: number, outScores: number, outCounts: number): number;
  ig_bm25_documents(handle: number, docs: number, n: number): number;
  ig_bm25_serialize(handle: number): number;
  ig_bm25_load(ptr: number, len: number): number;
  /** `header`: a `SAMPLE_HEADER`. */
  ig_bm25_sample(header: number): number;
  ig_bm25_terms(ptr: number, len: number): number;
  // tokenizer/
  /** `header`: a `TOKENIZER_HEADER`. */
  ig_tok_build(header: number): number;
  ig_tok_build_wordpiece(header: number): number;
  ig_tok_free(handle: number): number;
  ig_tok_encode(handle: number, texts: number, textsLen: number, offsets: number, n: number, allowSpecial: number, counts: number): number;
  ig_tok_encode_offsets(handle: number, text: number, len: number, allowSpecial: number): number;
  ig_tok_decode(handle: number, ids: number, n: number, skipSpecial: number): number;
  ig_tok_info(handle: number, out: number): number;
  ig_tok_train(texts: number, textsLen: number, offsets: number, n: number, pattern: number, mergesWanted: number, minFrequency: number): number;
  ig_tok_ids_ptr(): number;
  ig_tok_ids_len(): number;
}

/** `ErrorCode` in rust/src/ffi.rs → the public error code. */
const RUST_ERROR_CODES: Record<number, IgSearchErrorCode> = {
  1: 'INVALID_ARGUMENT',
  2: 'INVALID_ARGUMENT', // invalid UTF-8
  3: 'INVALID_ARGUMENT', // invalid JSON
  4: 'OUT_OF_RANGE',
  5: 'NON_FINITE',
};

/** Where to get the module: default is `ig_core.wasm` beside this bundle. */
export type WasmSource = URL | string | ArrayBuffer | Uint8Array | WebAssembly.Module;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class WasmCore {
  /** Bumped on every reset; objects holding Rust-side handles compare it to detect staleness. */
  generation = 0;
  private exports!: CoreExports;
  private pendingError: { code: number; message: string } | undefined;
  private pendingPanic: string | undefined;
  private pendingOom: number | undefined;
  private resetting: Promise<void> | undefined;

  private constructor(private readonly module: WebAssembly.Module) {}

  static async instantiate(module: WebAssembly.Module): Promise<WasmCore> {
    const core = new WasmCore(module);
    core.attach(await WebAssembly.instantiate(module, core.imports()));
    return core;
  }

  /** Bytes the Rust allocator holds right now (allocations minus frees): what leak checks look at. */
  get allocatedBytes(): number {
    return this.exports.ig_allocated_bytes() >>> 0;
  }

  /** Byte size of the linear memory right now (grows, never shrinks). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /**
   * Runs `body` against the raw exports and turns what Rust reported into exceptions. Every
   * call into the module goes through here.
   */
  call<T>(name: string, body: (x: CoreExports) => T): T {
    if (this.resetting) {
      throw new IgSearchError('WASM_PANIC', `ig_core.${name}: the Wasm instance is still being reset after a panic`, {
        hint: 'await loadWasmCore() again, or retry after the reset completes',
      });
    }
    this.pendingError = undefined;
    this.pendingPanic = undefined;
    this.pendingOom = undefined;
    let result: T;
    try {
      result = body(this.exports);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) {
        const message = this.pendingPanic ?? e.message;
        const oom = this.pendingOom;
        const used = this.exports.memory.buffer.byteLength;
        this.reset();
        if (oom !== undefined) {
          throw new IgSearchError('LIMIT_EXCEEDED', `ig_core.${name}: the Wasm core could not allocate ${oom} more bytes (it held ${used}; wasm32 memory ends at 4 GiB)`, {
            hint: 'split the input into smaller calls (e.g. tokenize or index in parts); the instance was reset and can be used again',
            cause: e,
          });
        }
        throw new IgSearchError('WASM_PANIC', `ig_core.${name} panicked: ${message}`, {
          hint: 'this is a bug in ig-search; the Wasm instance was reset and can be used again',
          cause: e,
        });
      }
      throw e;
    }
    const error = this.pendingError as { code: number; message: string } | undefined;
    if (error) {
      this.pendingError = undefined;
      throw new IgSearchError(RUST_ERROR_CODES[error.code] ?? 'INVALID_ARGUMENT', `ig_core.${name}: ${error.message}`);
    }
    return result;
  }

  /** Copies `bytes` into a fresh Wasm buffer for the duration of `body`. */
  withBytes<T>(bytes: Uint8Array, body: (ptr: number, len: number) => T): T {
    const x = this.exports;
    const ptr = x.ig_alloc(bytes.length);
    if (ptr === 0) throw new IgSearchError('LIMIT_EXCEEDED', `ig_core: cannot allocate ${bytes.length} bytes of Wasm memory`);
    const generation = this.generation;
    new Uint8Array(x.memory.buffer, ptr, bytes.length).set(bytes);
    try {
      return body(ptr, bytes.length);
    } finally {
      // After a panic the old allocator is gone with its instance; nothing to free.
      if (generation === this.generation) this.exports.ig_free(ptr, bytes.length);
    }
  }

  /**
   * Runs `body` with a scope that copies inputs into Wasm memory and frees every buffer it made
   * when `body` returns or throws. Read results with the scope's `read*` helpers, which make
   * fresh views (memory may have grown, detaching old ones) and copy out.
   */
  scoped<T>(body: (scope: WasmScope) => T): T {
    const scope = new WasmScope(this, this.exports);
    try {
      return body(scope);
    } finally {
      if (scope.generation === this.generation) scope.free();
    }
  }

  /** Encodes `text` as UTF-8, rejecting lone surrogates instead of silently replacing them. */
  withString<T>(text: string, field: string, body: (ptr: number, len: number) => T): T {
    checkWellFormed(text, field);
    return this.withBytes(encoder.encode(text), body);
  }

  /** A copy of the tokenizer's id slot. */
  takeIds(): Uint32Array {
    const x = this.exports;
    return new Uint32Array(x.memory.buffer, x.ig_tok_ids_ptr(), x.ig_tok_ids_len()).slice();
  }

  /** A copy of the output slot. */
  takeOutBytes(): Uint8Array {
    const x = this.exports;
    return new Uint8Array(x.memory.buffer, x.ig_out_ptr(), x.ig_out_len()).slice();
  }

  takeOutString(): string {
    return decoder.decode(this.takeOutBytes());
  }

  /** Header `id`'s layout as Rust lays it out: `size;field@offset:type;…` (see rust/src/header.rs). */
  headerLayout(id: number): string {
    return this.call('ig_header_layout', (x) => {
      x.ig_header_layout(id);
      return this.takeOutString();
    });
  }

  version(): string {
    return this.call('ig_version', (x) => {
      x.ig_version();
      return this.takeOutString();
    });
  }

  /** UTF-8 through Rust and back; returns the text and its count of Unicode scalar values. */
  selfTestUtf8(text: string): { text: string; scalars: number } {
    return this.withString(text, 'text', (ptr, len) =>
      this.call('ig_selftest_utf8', (x) => {
        const scalars = x.ig_selftest_utf8(ptr, len);
        return { text: this.takeOutString(), scalars };
      }),
    );
  }

  /** Raw bytes through the UTF-8 check (the strict path strings cannot reach). */
  selfTestUtf8Bytes(bytes: Uint8Array): number {
    return this.withBytes(bytes, (ptr, len) => this.call('ig_selftest_utf8', (x) => x.ig_selftest_utf8(ptr, len)));
  }

  /** `x * scale` computed in Rust on zero-copy f32 views. */
  selfTestScale(values: Float32Array, scale: number): Float32Array {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    return this.withBytes(bytes, (xPtr) =>
      this.withBytes(new Uint8Array(values.byteLength), (outPtr) =>
        this.call('ig_selftest_scale_f32', (x) => {
          x.ig_selftest_scale_f32(xPtr, values.length, scale, outPtr);
          return new Float32Array(x.memory.buffer, outPtr, values.length).slice();
        }),
      ),
    );
  }

  /** Makes Rust allocate `bytes` bytes; used to prove that running out of memory is a LIMIT_EXCEEDED error. */
  selfTestAlloc(bytes: number): number {
    return this.call('ig_selftest_alloc', (x) => x.ig_selftest_alloc(bytes));
  }

  /** Makes Rust panic with `message`; used to prove that panics surface as `WASM_PANIC`. */
  selfTestPanic(message: string): never {
    this.withString(message, 'message', (ptr, len) => this.call('ig_selftest_panic', (x) => x.ig_selftest_panic(ptr, len)));
    throw new IgSearchError('INVALID_ARGUMENT', 'ig_selftest_panic returned without panicking');
  }

  private imports(): WebAssembly.Imports {
    const text = (ptr: number, len: number) =>
      new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array(this.exports.memory.buffer, ptr, len));
    return {
      env: {
        ig_error: (code: number, ptr: number, len: number) => {
          this.pendingError = { code, message: text(ptr, len) };
        },
        ig_panic: (ptr: number, len: number) => {
          this.pendingPanic = text(ptr, len);
        },
        ig_oom: (bytes: number) => {
          this.pendingOom = bytes >>> 0;
        },
      },
    };
  }

  private attach(instance: WebAssembly.Instance): void {
    this.exports = instance.exports as unknown as CoreExports;
    this.exports.ig_init();
  }

  /**
   * Replaces the instance after a trap. Synchronous where the runtime allows it (Node, Deno,
   * workers); browsers may refuse synchronous instantiation on the main thread, and then calls
   * fail with WASM_PANIC until the asynchronous reset lands.
   */
  private reset(): void {
    this.generation++;
    try {
      this.attach(new WebAssembly.Instance(this.module, this.imports()));
    } catch {
      this.resetting = WebAssembly.instantiate(this.module, this.imports()).then((instance) => {
        this.attach(instance);
        this.resetting = undefined;
      });
    }
  }
}

type Numbers = ArrayLike<number>;

/** Buffers allocated for one call into the core; see `WasmCore.scoped`. */
export class WasmScope {
  readonly generation: number;
  private readonly owned: [number, number][] = [];

  constructor(
    private readonly core: WasmCore,
    private readonly x: CoreExports,
  ) {
    this.generation = core.generation;
  }

  alloc(bytes: number): number {
    const ptr = this.x.ig_alloc(bytes);
    if (ptr === 0) throw new IgSearchError('LIMIT_EXCEEDED', `ig_core: cannot allocate ${bytes} bytes of Wasm memory`);
    this.owned.push([ptr, bytes]);
    return ptr;
  }

  u8(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length);
    new Uint8Array(this.x.memory.buffer, ptr, values.length).set(values);
    return ptr;
  }

  bytes(data: Uint8Array): number {
    const ptr = this.alloc(data.length);
    new Uint8Array(this.x.memory.buffer, ptr, data.length).set(data);
    return ptr;
  }

  f64(values: Numbers): number {
    const ptr = this.alloc(values.length * 8);
    new Float64Array(this.x.memory.buffer, ptr, values.length).set(values);
    return ptr;
  }

  u32(values: Numbers): number {
    const ptr = this.alloc(values.length * 4);
    new Uint32Array(this.x.memory.buffer, ptr, values.length).set(values);
    return ptr;
  }

  /** A packed argument header (see headers.ts), fields written by name. */
  header<F extends string>(spec: HeaderSpec<F>, values: Readonly<Record<F, number>>): number {
    const ptr = this.alloc(spec.size);
    packHeader(spec, values, new DataView(this.x.memory.buffer, ptr, spec.size));
    return ptr;
  }

  /** UTF-8 of `text`; lone surrogates are an INVALID_ARGUMENT naming `field`. */
  string(text: string, field: string): { ptr: number; len: number } {
    checkWellFormed(text, field);
    const bytes = encoder.encode(text);
    return { ptr: this.bytes(bytes), len: bytes.length };
  }

  /**
   * Packs strings back to back as one UTF-8 blob plus `strings.length + 1` u32 byte offsets, the
   * layout every string-list export takes. One copy into Wasm memory, no per-string calls.
   */
  strings(strings: readonly string[], field: string): { ptr: number; len: number; offsets: number } {
    let capacity = 0;
    for (let i = 0; i < strings.length; i++) {
      const s = strings[i];
      if (typeof s !== 'string') throw new IgSearchError('INVALID_ARGUMENT', `${field}[${i}] must be a string, got ${typeof s}`);
      checkWellFormed(s, `${field}[${i}]`);
      capacity += s.length * 3;
    }
    const blob = new Uint8Array(capacity);
    const offsets = new Uint32Array(strings.length + 1);
    let at = 0;
    for (let i = 0; i < strings.length; i++) {
      at += encoder.encodeInto(strings[i]!, blob.subarray(at)).written;
      offsets[i + 1] = at;
    }
    return { ptr: this.bytes(blob.subarray(0, at)), len: at, offsets: this.u32(offsets) };
  }

  readF64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.x.memory.buffer, ptr, n).slice();
  }

  readF32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.x.memory.buffer, ptr, n).slice();
  }

  readU32(ptr: number, n: number): Uint32Array {
    return new Uint32Array(this.x.memory.buffer, ptr, n).slice();
  }

  free(): void {
    for (const [ptr, bytes] of this.owned) this.x.ig_free(ptr, bytes);
    this.owned.length = 0;
  }
}

function checkWellFormed(text: string, field: string): void {
  if (!(text as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new IgSearchError('INVALID_ARGUMENT', `${field}: lone UTF-16 surrogate at index ${firstLoneSurrogate(text)}; text must be valid Unicode`);
  }
}

function firstLoneSurrogate(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return i;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
}

let shared: Promise<WasmCore> | undefined;

/**
 * The process-wide core, loaded on first use. Pass `source` to load from elsewhere (a URL your
 * bundler emitted, bytes you already have, a compiled module); the first successful call wins.
 */
export function loadWasmCore(source?: WasmSource): Promise<WasmCore> {
  if (shared) return shared;
  const loading = compile(source).then((module) => WasmCore.instantiate(module));
  shared = loading;
  loading.catch(() => {
    if (shared === loading) shared = undefined; // let a later call retry, e.g. with a source
  });
  return loading;
}

async function compile(source: WasmSource | undefined): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  const where = source === undefined ? new URL('./ig_core.wasm', import.meta.url) : source;
  let bytes: Uint8Array | ArrayBuffer;
  try {
    bytes =
      where instanceof URL || typeof where === 'string'
        ? await currentPlatform().readAsset(new URL(where, import.meta.url))
        : where;
  } catch (e) {
    throw new IgSearchError('WASM_LOAD', `cannot read ig_core.wasm from ${String(where)}: ${(e as Error).message}`, {
      hint: 'run `npm run build` (it writes the .wasm next to the bundle), or pass loadWasmCore({ source })',
      cause: e,
    });
  }
  try {
    return await WebAssembly.compile(bytes as BufferSource);
  } catch (e) {
    throw new IgSearchError('WASM_LOAD', `ig_core.wasm from ${String(where)} is not a valid WebAssembly module: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

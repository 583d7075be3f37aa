/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`, then the data. The header
 * is checked completely (sizes, offsets inside the file, dtype known) before any tensor is read.
 */
import { IgSearchError } from '../errors.js';
import type { ByteSource } from '../platform/platform.js';

export type Dtype = 'F32' | 'F16' | 'BF16';

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

const BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER = 100 * 1024 * 1024;

function bad(file: string, message: string): never {
  throw new IgSearchError('INVALID_ARGUMENT', `${file}: ${message}`);
}

export function readSafetensorsHeader(bytes: Uint8Array, file: string): Map<string, TensorInfo> {
  const headerLength = headerLengthOf(bytes, bytes.length, file);
  return parseHeader(bytes.subarray(8, 8 + headerLength), bytes.length, file);
}

/** The header of a file read by ranges: only its first 8 + header-length bytes are read. */
export async function readSafetensorsHeaderFrom(source: ByteSource, file: string): Promise<Map<string, TensorInfo>> {
  const headerLength = headerLengthOf(await source.read(0, Math.min(8, source.size)), source.size, file);
  return parseHeader(await source.read(8, 8 + headerLength), source.size, file);
}

function headerLengthOf(first: Uint8Array, fileLength: number, file: string): number {
  if (fileLength < 8 || first.length < 8) bad(file, `${fileLength} bytes is too short for a safetensors file (truncated?)`);
  const headerLength = Number(new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > MAX_HEADER || 8 + headerLength > fileLength) {
    bad(file, `header length ${headerLength} runs past the end of the ${fileLength}-byte file (truncated, or not safetensors)`);
  }
  return headerLength;
}

function parseHeader(headerBytes: Uint8Array, fileLength: number, file: string): Map<string, TensorInfo> {
  const headerLength = headerBytes.length;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    bad(file, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad(file, 'header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = fileLength - dataStart;
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) bad(file, `tensor "${name}": entry is not an object`);
    if (typeof e.dtype !== 'string') bad(file, `tensor "${name}": dtype missing`);
    if (!Object.hasOwn(BYTES, e.dtype)) bad(file, `tensor "${name}": dtype ${e.dtype} is not supported (F32, F16, BF16)`);
    const dtype = e.dtype as Dtype;
    if (!Array.isArray(e.shape) || !e.shape.every((n) => Number.isSafeInteger(n) && n >= 0)) bad(file, `tensor "${name}": shape ${JSON.stringify(e.shape)} is not a list of sizes`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((n) => Number.isSafeInteger(n) && n >= 0) || offsets[0] > offsets[1]) {
      bad(file, `tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    const shape = e.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    if (end - begin !== expected) bad(file, `tensor "${name}": ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes, data_offsets span ${end - begin}`);
    if (end > dataLength) bad(file, `tensor "${name}": data_offsets end ${end} is past the ${dataLength} data bytes (truncated file?)`);
    tensors.set(name, { name, dtype, shape, begin: dataStart + begin, end: dataStart + end });
  }
  // The format forbids overlapping tensors (two names reading the same bytes).
  const spans = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]!.begin < spans[i - 1]!.end) bad(file, `tensors "${spans[i - 1]!.name}" and "${spans[i]!.name}" overlap (data_offsets ${spans[i - 1]!.begin - dataStart}..${spans[i - 1]!.end - dataStart} and ${spans[i]!.begin - dataStart}..${spans[i]!.end - dataStart})`);
  }
  return tensors;
}

const f16Table = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
})();

/** The tensor's values as f32 (F16 and BF16 widened exactly). */
export function tensorToF32(bytes: Uint8Array, info: TensorInfo): Float32Array {
  return bytesToF32(bytes.subarray(info.begin, info.end), info.dtype);
}

/** Raw little-endian values of `dtype` as f32; a fresh array, never a view of `data`. */
export function bytesToF32(data: Uint8Array, dtype: Dtype): Float32Array {
  const n = data.byteLength / BYTES[dtype];
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(data); // a copy: the data may sit at an offset that is not a multiple of 4
    return out;
  }
  // 2-byte values: read in place when aligned, else through one copy.
  const halves = data.byteOffset % 2 === 0 ? new Uint16Array(data.buffer, data.byteOffset, n) : new Uint16Array(data.slice().buffer, 0, n);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = halves[i]! << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = f16Table[halves[i]!]!;
  }
  return out;
}

/** Bytes per value of each dtype. */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = BYTES;

/** f32 → bfloat16 bits, round to nearest even (exact for values that came from bfloat16; NaN kept a NaN). */
export function f32ToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** f32 → IEEE half bits, round to nearest even (overflow → ±Infinity, NaN kept). */
export function f32ToF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      // Subnormal half: shift the full mantissa (with its implicit 1) into place, round to even.
      const m = mant | 0x800000;
      const shift = 14 - e;
      const half = m >>> shift;
      const rest = m & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      out[i] = sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
    } else {
      const half = (e << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      out[i] = sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0)); // a carry into the exponent is right
    }
  }
  return out;
}

/** A safetensors file holding `tensors` as F32 (used for checkpoints and test fixtures). */
export function writeSafetensors(tensors: Map<string, { data: Float32Array; shape: number[] }>, metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(Math.ceil(raw.length / 8) * 8).fill(0x20); // space-padded to 8 bytes
  headerBytes.set(raw);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

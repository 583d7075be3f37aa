/** Argument checks done in TS before data crosses into Wasm, where a wrong length cannot be seen. */
import { IgSearchError } from '../errors.js';

type Numbers = ArrayLike<number>;

/** Every value a non-negative integer below 2^32 (a Uint32Array passes without a scan). */
export function checkU32(values: Numbers, field: string): void {
  if (values instanceof Uint32Array) return;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new IgSearchError('INVALID_ARGUMENT', `${field}[${i}] must be a non-negative integer, got ${v}`);
    }
  }
}

export function checkLengths(expected: number, what: string, arrays: Record<string, Numbers>): void {
  for (const [field, values] of Object.entries(arrays)) {
    if (values.length !== expected) {
      throw new IgSearchError('SHAPE_MISMATCH', `${field} has ${values.length} entries, ${what} needs ${expected}`);
    }
  }
}

export function checkFiniteOption(value: number, field: string, { min = -Infinity, exclusiveMin = false } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (exclusiveMin && value === min)) {
    const bound = min === -Infinity ? '' : `, ${exclusiveMin ? '>' : '>='} ${min}`;
    throw new IgSearchError('INVALID_ARGUMENT', `${field} must be a finite number${bound}, got ${value}`);
  }
  return value;
}

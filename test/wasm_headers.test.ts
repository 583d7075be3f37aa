import { describe, expect, it } from 'vitest';
import { IgSearchError, loadWasmCore } from '../src/entry/node.js';
import { HEADERS, MODULATION_HEADER, packHeader, rustFieldName } from '../src/wasm/headers.js';

/** `*constu32` → ptr: on wasm32 every pointer is a 4-byte offset. */
function kind(rustType: string): string {
  return rustType.startsWith('*') ? 'ptr' : rustType;
}

describe('packed Wasm argument headers', () => {
  it.each(HEADERS.map((h) => [h.name, h] as const))('%s: the TS packer lays the header out exactly as Rust does', async (_name, spec) => {
    const core = await loadWasmCore();
    const [size, ...fields] = core.headerLayout(spec.id).split(';');
    expect(Number(size)).toBe(spec.size);
    const rust = fields.map((f) => {
      const [name, rest] = f.split('@') as [string, string];
      const [offset, type] = rest.split(':') as [string, string];
      return { name, offset: Number(offset), type: kind(type) };
    });
    const ts = spec.fields.map(([field, type]) => ({ name: rustFieldName(field), offset: (spec.offsets as Record<string, number>)[field], type }));
    expect(ts).toEqual(rust);
  });

  it('an unknown header id is a typed error, not a trap', async () => {
    const core = await loadWasmCore();
    expect(() => core.headerLayout(99)).toThrow(/no header with id 99/);
  });

  it('the packer writes each field at its offset, little-endian, and refuses a non-integer pointer or count', () => {
    const view = new DataView(new ArrayBuffer(MODULATION_HEADER.size));
    const values = Object.fromEntries(MODULATION_HEADER.fields.map(([f], i) => [f, i + 1])) as Record<(typeof MODULATION_HEADER.fields)[number][0], number>;
    values.lambda = -0.75;
    packHeader(MODULATION_HEADER, values, view);
    expect(view.getFloat64(MODULATION_HEADER.offsets.lambda, true)).toBe(-0.75);
    expect(view.getUint32(MODULATION_HEADER.offsets.mask, true)).toBe(MODULATION_HEADER.fields.length);
    expect(view.getUint32(MODULATION_HEADER.offsets.outLen, true)).toBe(values.outLen);
    expect(() => packHeader(MODULATION_HEADER, { ...values, queries: 1.5 }, view)).toThrow(IgSearchError);
    expect(() => packHeader(MODULATION_HEADER, { ...values, mask: -4 }, view)).toThrow(/mask must be an integer/);
  });
});

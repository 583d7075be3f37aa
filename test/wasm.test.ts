import { describe, expect, it } from 'vitest';
import { IgSearchError, loadWasmCore } from '../src/entry/node.js';
import { mulberry32 } from './helpers/random.js';

/** Random strings drawn from every UTF-8 length class: ASCII, Latin, CJK, astral (emoji). */
function randomText(rng: () => number, length: number): string {
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0xa0, 0x7ff],
    [0x4e00, 0x9fff],
    [0x1f300, 0x1faff],
    [0x0, 0x1f],
  ];
  let s = '';
  for (let i = 0; i < length; i++) {
    const [lo, hi] = ranges[Math.floor(rng() * ranges.length)]!;
    s += String.fromCodePoint(lo + Math.floor(rng() * (hi - lo + 1)));
  }
  return s;
}

describe('Wasm core boundary', () => {
  it('loads the module and reports the crate version', async () => {
    const core = await loadWasmCore();
    expect(core.version()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('strings survive the trip through Rust unchanged, with the right scalar count', async () => {
    const core = await loadWasmCore();
    const rng = mulberry32(7);
    for (let i = 0; i < 500; i++) {
      const text = randomText(rng, Math.floor(rng() * 64));
      const out = core.selfTestUtf8(text);
      expect(out.text).toBe(text);
      expect(out.scalars).toBe([...text].length);
    }
    expect(core.selfTestUtf8('').scalars).toBe(0);
  });

  it('f32 arrays go through zero-copy views both ways', async () => {
    const core = await loadWasmCore();
    const x = Float32Array.from({ length: 1000 }, (_, i) => i * 0.25 - 7);
    const y = core.selfTestScale(x, -3);
    expect(y.length).toBe(1000);
    for (let i = 0; i < x.length; i++) expect(y[i]).toBe(Math.fround(x[i]! * -3));
  });

  it('invalid UTF-8 bytes are a typed error naming the byte offset', async () => {
    const core = await loadWasmCore();
    const err = (() => {
      try {
        core.selfTestUtf8Bytes(new Uint8Array([0x61, 0x62, 0xff, 0x63]));
      } catch (e) {
        return e;
      }
    })() as IgSearchError;
    expect(err).toBeInstanceOf(IgSearchError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/invalid UTF-8 at byte 2/);
  });

  it('a lone surrogate is refused before it reaches Rust', async () => {
    const core = await loadWasmCore();
    expect(() => core.selfTestUtf8('ok\ud800!')).toThrow(/lone UTF-16 surrogate at index 2/);
  });

  it('a Rust error reported through env.ig_error becomes NON_FINITE, not a trap', async () => {
    const core = await loadWasmCore();
    let err: unknown;
    try {
      core.selfTestScale(new Float32Array(4), Number.NaN);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IgSearchError);
    expect((err as IgSearchError).code).toBe('NON_FINITE');
  });

  it('a Rust panic becomes WASM_PANIC with the message, and the core works afterwards', async () => {
    const core = await loadWasmCore();
    const before = core.generation;
    let err: unknown;
    try {
      core.selfTestPanic('tokenizer table corrupted at 42');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IgSearchError);
    expect((err as IgSearchError).code).toBe('WASM_PANIC');
    expect((err as IgSearchError).message).toMatch(/tokenizer table corrupted at 42/);
    expect((err as Error).message).not.toMatch(/^RuntimeError/);
    expect(core.generation).toBe(before + 1);
    expect(core.selfTestUtf8('still alive ✓').text).toBe('still alive ✓');
  });

  it('linear memory stays flat over many calls (buffers are freed)', async () => {
    const core = await loadWasmCore();
    const text = 'x'.repeat(4096);
    core.selfTestUtf8(text);
    const start = core.memoryBytes;
    for (let i = 0; i < 20_000; i++) core.selfTestUtf8(text);
    expect(core.memoryBytes).toBe(start);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IgSearchError } from '../../src/entry/node.js';
import { readSafetensorsHeader } from '../../src/internals.js';

const file = (header: object, dataBytes: number) => {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
};

describe('safetensors headers', () => {
  it('overlapping tensors are refused (the format forbids them), naming both', () => {
    const bytes = file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 16);
    expect(() => readSafetensorsHeader(bytes, 'm.safetensors')).toThrow(/m\.safetensors: tensors "a" and "b" overlap/);
    const fine = file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] }, empty: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } }, 16);
    expect([...readSafetensorsHeader(fine, 'm.safetensors').keys()].sort()).toEqual(['a', 'b', 'empty']);
  });

  it('a dtype that is an Object property name ("toString") is an unsupported dtype, not "needs NaN bytes"', () => {
    for (const dtype of ['toString', 'constructor', '__proto__', 'F64']) {
      const bytes = file({ a: { dtype, shape: [1], data_offsets: [0, 4] } }, 4);
      const error = (() => {
        try {
          readSafetensorsHeader(bytes, 'm.safetensors');
        } catch (e) {
          return e;
        }
      })();
      expect(error, dtype).toBeInstanceOf(IgSearchError);
      expect((error as Error).message, dtype).toMatch(/is not supported \(F32, F16, BF16\)/);
    }
  });
});

describe('model configs', () => {
  it('absurd sizes are refused at once, naming the field, before anything is allocated', async () => {
    const { readModelConfig } = await import('../../src/entry/node.js');
    const base = { model_type: 'qwen2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 512 };
    for (const [key, value] of [['num_hidden_layers', 1e7], ['hidden_size', 2 ** 20], ['vocab_size', 1e9], ['intermediate_size', 1e8]] as const) {
      const error = (() => {
        try {
          readModelConfig({ ...base, [key]: value }, 'config.json');
        } catch (e) {
          return e as IgSearchError;
        }
      })();
      expect(error?.code, key).toBe('LIMIT_EXCEEDED');
      expect(error?.message, key).toContain(`config.json: ${key} ${value} is over`);
    }
  });
});

describe('the Wasm core out of memory', () => {
  it('is a LIMIT_EXCEEDED error that says so (not a panic reported as a bug), and the core works after it', async () => {
    const { loadWasmCore, Tokenizer } = await import('../../src/entry/node.js');
    const core = await loadWasmCore();
    // Three requests of 2 GB cannot all fit the 4 GiB wasm32 address space (pages are reserved, not touched).
    const error = (() => {
      try {
        for (let i = 0; i < 3; i++) core.selfTestAlloc(2_000_000_000);
      } catch (e) {
        return e as IgSearchError;
      }
    })();
    expect(error?.code).toBe('LIMIT_EXCEEDED');
    expect(error?.message).toMatch(/could not allocate \d+ more bytes .*wasm32 memory ends at 4 GiB/);
    expect(error?.hint).toMatch(/split the input/);
    const tokenizer = Tokenizer.fromJSON(core, readFileSync('assets/demo-policy/tokenizer.json', 'utf8'));
    expect(tokenizer.decode(tokenizer.encode('Who founded the company?'))).toBe('Who founded the company?');
  });
});

/**
 * Uniform parameter blocks: a kernel's `Params` struct is a run of 4-byte fields, u32 unless
 * wrapped in `f32(x)`. `params(T, H, f32(eps), 0)` packs `struct { T: u32, H: u32, eps: f32, _: u32 }`.
 */
export class F32Field {
  constructor(readonly value: number) {}
}

export function f32(value: number): F32Field {
  return new F32Field(value);
}

export function params(...fields: (number | F32Field)[]): Uint32Array {
  const out = new Uint32Array(Math.ceil(fields.length / 4) * 4);
  const floats = new Float32Array(out.buffer);
  fields.forEach((v, i) => {
    if (v instanceof F32Field) floats[i] = v.value;
    else out[i] = v >>> 0;
  });
  return out;
}

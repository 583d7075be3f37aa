import type { ColumnsShape } from './add.js';

/** f64 reference of `Columns`: out[:, oOff : oOff+width] = beta · out[…] + scale · x[:, xOff : xOff+width]; other columns kept. */
export function columnsRef(x: ArrayLike<number>, out0: ArrayLike<number>, s: ColumnsShape): Float64Array {
  const out = Float64Array.from(out0);
  for (let t = 0; t < s.T; t++) {
    for (let j = 0; j < s.width; j++) {
      const at = t * s.ldo + s.oOff + j;
      out[at] = s.beta * out[at]! + s.scale * x[t * s.ldx + s.xOff + j]!;
    }
  }
  return out;
}

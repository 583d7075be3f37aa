/**
 * f64 reference rotate-half RoPE of one head vector `x` (length d) at `pos`: pairs (j, j + d/2)
 * are rotated by pos·θ^(−2j/d).
 */
export function ropeRef(x: ArrayLike<number>, pos: number, theta: number): Float64Array {
  const d = x.length;
  const half = d / 2;
  const out = new Float64Array(d);
  for (let j = 0; j < half; j++) {
    const angle = pos * theta ** (-(2 * j) / d);
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    out[j] = x[j]! * c - x[j + half]! * s;
    out[j + half] = x[j + half]! * c + x[j]! * s;
  }
  return out;
}

/** f64 reference SwiGLU: gu [T, 2I] (gate then up) → [T, I]. */
export function swigluRef(gu: ArrayLike<number>, T: number, I: number): Float64Array {
  const out = new Float64Array(T * I);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < I; i++) {
      const g = gu[t * 2 * I + i]!;
      out[t * I + i] = (g / (1 + Math.exp(-g))) * gu[t * 2 * I + I + i]!;
    }
  }
  return out;
}

/** f64 reference backward of `swigluRef`: d(gu) for upstream dout. */
export function swigluBackwardRef(gu: ArrayLike<number>, dout: ArrayLike<number>, T: number, I: number): Float64Array {
  const dgu = new Float64Array(T * 2 * I);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < I; i++) {
      const g = gu[t * 2 * I + i]!;
      const u = gu[t * 2 * I + I + i]!;
      const d = dout[t * I + i]!;
      const sig = 1 / (1 + Math.exp(-g));
      dgu[t * 2 * I + i] = d * u * sig * (1 + g * (1 - sig));
      dgu[t * 2 * I + I + i] = d * g * sig;
    }
  }
  return dgu;
}

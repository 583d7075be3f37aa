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

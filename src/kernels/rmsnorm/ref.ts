/** f64 reference RMSNorm of each H-wide row of `x`. */
export function rmsnormRef(x: ArrayLike<number>, weight: ArrayLike<number>, H: number, eps: number): Float64Array {
  const T = x.length / H;
  const out = new Float64Array(x.length);
  for (let t = 0; t < T; t++) {
    let sum = 0;
    for (let i = 0; i < H; i++) sum += x[t * H + i]! ** 2;
    const scale = 1 / Math.sqrt(sum / H + eps);
    for (let i = 0; i < H; i++) out[t * H + i] = x[t * H + i]! * scale * weight[i]!;
  }
  return out;
}

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

/** f64 reference backward of `rmsnormRef`: dx and dw for upstream dy. */
export function rmsnormBackwardRef(x: ArrayLike<number>, weight: ArrayLike<number>, dy: ArrayLike<number>, H: number, eps: number): { dx: Float64Array; dw: Float64Array } {
  const T = x.length / H;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(H);
  for (let t = 0; t < T; t++) {
    let sum = 0;
    let dot = 0;
    for (let i = 0; i < H; i++) {
      sum += x[t * H + i]! ** 2;
      dot += weight[i]! * dy[t * H + i]! * x[t * H + i]!;
    }
    const r = 1 / Math.sqrt(sum / H + eps);
    for (let i = 0; i < H; i++) {
      dx[t * H + i] = r * weight[i]! * dy[t * H + i]! - (x[t * H + i]! * r ** 3 * dot) / H;
      dw[i]! += dy[t * H + i]! * x[t * H + i]! * r;
    }
  }
  return { dx, dw };
}

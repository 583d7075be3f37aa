/** f64 reference: RMSNorm of one head vector `x` with `weight` (Qwen3's q_norm / k_norm). */
export function headNormRef(x: ArrayLike<number>, weight: ArrayLike<number>, eps: number): Float64Array {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(sum / x.length + eps);
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! * scale * weight[i]!);
}

/**
 * f64 reference backward of `headNormRef` for upstream gradient `dy`: dx, and this vector's term
 * of the weight gradient (dw summed over vectors is the kernel's reduce).
 */
export function headNormBackwardRef(x: ArrayLike<number>, weight: ArrayLike<number>, dy: ArrayLike<number>, eps: number): { dx: Float64Array; dw: Float64Array } {
  const d = x.length;
  let sum = 0;
  let dot = 0;
  for (let i = 0; i < d; i++) {
    sum += x[i]! * x[i]!;
    dot += weight[i]! * dy[i]! * x[i]!;
  }
  const s = 1 / Math.sqrt(sum / d + eps);
  const dx = Float64Array.from({ length: d }, (_, i) => s * weight[i]! * dy[i]! - s ** 3 * x[i]! * (dot / d));
  const dw = Float64Array.from({ length: d }, (_, i) => dy[i]! * x[i]! * s);
  return { dx, dw };
}

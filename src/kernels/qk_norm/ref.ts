/** f64 reference: RMSNorm of one head vector `x` with `weight` (Qwen3's q_norm / k_norm). */
export function headNormRef(x: ArrayLike<number>, weight: ArrayLike<number>, eps: number): Float64Array {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(sum / x.length + eps);
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! * scale * weight[i]!);
}

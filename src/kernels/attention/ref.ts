/**
 * f64 reference causal grouped-query attention for one sequence: q [T, heads·d], k/v [T, kvHeads·d]
 * (already rotated) → [T, heads·d]. Row t attends to rows 0..t.
 */
export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, T: number, heads: number, kvHeads: number, d: number): Float64Array {
  const out = new Float64Array(T * heads * d);
  const group = heads / kvHeads;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const scores = new Float64Array(t + 1);
      let max = -Infinity;
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[t * heads * d + h * d + i]! * k[s * kvHeads * d + kvh * d + i]!;
        scores[s] = dot / Math.sqrt(d);
        max = Math.max(max, scores[s]!);
      }
      let sum = 0;
      for (let s = 0; s <= t; s++) sum += (scores[s] = Math.exp(scores[s]! - max));
      for (let s = 0; s <= t; s++) {
        for (let i = 0; i < d; i++) out[t * heads * d + h * d + i]! += (scores[s]! / sum) * v[s * kvHeads * d + kvh * d + i]!;
      }
    }
  }
  return out;
}

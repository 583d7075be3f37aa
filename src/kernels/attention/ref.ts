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

/** f64 reference backward of `attentionRef` for one sequence: dq, dk, dv for upstream dout. */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dout: ArrayLike<number>,
  T: number,
  heads: number,
  kvHeads: number,
  d: number,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const dq = new Float64Array(T * heads * d);
  const dk = new Float64Array(T * kvHeads * d);
  const dv = new Float64Array(T * kvHeads * d);
  const scale = 1 / Math.sqrt(d);
  const qa = (t: number, h: number, x: number) => q[t * heads * d + h * d + x]!;
  const ka = (t: number, g: number, x: number) => k[t * kvHeads * d + g * d + x]!;
  const va = (t: number, g: number, x: number) => v[t * kvHeads * d + g * d + x]!;
  const da = (t: number, h: number, x: number) => dout[t * heads * d + h * d + x]!;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / (heads / kvHeads));
    for (let i = 0; i < T; i++) {
      const s = Array.from({ length: i + 1 }, (_, j) => {
        let dot = 0;
        for (let x = 0; x < d; x++) dot += qa(i, h, x) * ka(j, g, x);
        return dot * scale;
      });
      const m = Math.max(...s);
      const e = s.map((z) => Math.exp(z - m));
      const sum = e.reduce((a, b) => a + b, 0);
      const P = e.map((z) => z / sum);
      const dP = P.map((_, j) => {
        let dot = 0;
        for (let x = 0; x < d; x++) dot += da(i, h, x) * va(j, g, x);
        return dot;
      });
      const D = P.reduce((acc, pj, j) => acc + pj * dP[j]!, 0);
      for (let j = 0; j <= i; j++) {
        const dS = P[j]! * (dP[j]! - D) * scale;
        for (let x = 0; x < d; x++) {
          dq[i * heads * d + h * d + x]! += dS * ka(j, g, x);
          dk[j * kvHeads * d + g * d + x]! += dS * qa(i, h, x);
          dv[j * kvHeads * d + g * d + x]! += P[j]! * da(i, h, x);
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** f64 reference: rows of `table` ([V, H]) for `tokens`. */
export function embeddingRef(table: ArrayLike<number>, H: number, tokens: ArrayLike<number>): Float64Array {
  const out = new Float64Array(tokens.length * H);
  for (let t = 0; t < tokens.length; t++) for (let i = 0; i < H; i++) out[t * H + i] = table[tokens[t]! * H + i]!;
  return out;
}

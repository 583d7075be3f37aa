/** f64 reference: rows of `table` ([V, H]) for `tokens`. */
export function embeddingRef(table: ArrayLike<number>, H: number, tokens: ArrayLike<number>): Float64Array {
  const out = new Float64Array(tokens.length * H);
  for (let t = 0; t < tokens.length; t++) for (let i = 0; i < H; i++) out[t * H + i] = table[tokens[t]! * H + i]!;
  return out;
}

/** f64 reference backward of `embeddingRef`: dE ([V, H]) = `dE0` plus each row's dx added to its token's row. */
export function embeddingBackwardRef(dx: ArrayLike<number>, H: number, tokens: ArrayLike<number>, dE0: ArrayLike<number>): Float64Array {
  const dE = Float64Array.from(dE0);
  for (let t = 0; t < tokens.length; t++) for (let i = 0; i < H; i++) dE[tokens[t]! * H + i]! += dx[t * H + i]!;
  return dE;
}

/** f64 reference: log softmax(logits[t])[target[t]] for rows of width V. */
export function logsoftmaxGatherRef(logits: ArrayLike<number>, V: number, targets: ArrayLike<number>): Float64Array {
  const out = new Float64Array(targets.length);
  for (let t = 0; t < targets.length; t++) {
    let max = -Infinity;
    for (let c = 0; c < V; c++) max = Math.max(max, logits[t * V + c]!);
    let sum = 0;
    for (let c = 0; c < V; c++) sum += Math.exp(logits[t * V + c]! - max);
    out[t] = logits[t * V + targets[t]!]! - max - Math.log(sum);
  }
  return out;
}

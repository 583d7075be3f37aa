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

/** f64 reference backward: dz = g · (onehot(target) − softmax(z)) per row. */
export function logsoftmaxGatherBackwardRef(logits: ArrayLike<number>, V: number, targets: ArrayLike<number>, upstream: ArrayLike<number>): Float64Array {
  const dz = new Float64Array(targets.length * V);
  for (let t = 0; t < targets.length; t++) {
    let max = -Infinity;
    for (let c = 0; c < V; c++) max = Math.max(max, logits[t * V + c]!);
    let sum = 0;
    for (let c = 0; c < V; c++) sum += Math.exp(logits[t * V + c]! - max);
    const lse = max + Math.log(sum);
    for (let c = 0; c < V; c++) dz[t * V + c] = upstream[t]! * ((c === targets[t] ? 1 : 0) - Math.exp(logits[t * V + c]! - lse));
  }
  return dz;
}

/** f64 reference of policy_loss.wgsl: per-token weighted loss and d(loss)/d logp. */
export interface PolicyLossParams {
  clipLow: number;
  clipHigh: number;
  dualClip: number;
  beta: number;
}

export function policyLossRef(
  logp: ArrayLike<number>,
  old: ArrayLike<number>,
  reference: ArrayLike<number>,
  advantage: ArrayLike<number>,
  weight: ArrayLike<number>,
  p: PolicyLossParams,
): { loss: Float64Array; grad: Float64Array } {
  const n = logp.length;
  const loss = new Float64Array(n);
  const grad = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const a = advantage[t]!;
    const delta = logp[t]! - old[t]!;
    const r = Math.exp(Math.min(20, Math.max(-20, delta)));
    const dr = Math.abs(delta) < 20 ? r : 0;
    const pg1 = -a * r;
    const pg2 = -a * Math.min(1 + p.clipHigh, Math.max(1 - p.clipLow, r));
    let pg = Math.max(pg1, pg2);
    let dpg = pg1 >= pg2 ? -a * dr : 0;
    if (a < 0 && -a * p.dualClip < pg) {
      pg = -a * p.dualClip;
      dpg = 0;
    }
    const diff = reference[t]! - logp[t]!;
    const k = Math.min(20, Math.max(-20, diff));
    const raw = Math.exp(k) - k - 1;
    const kl = Math.min(10, Math.max(-10, raw));
    const dkl = Math.abs(diff) < 20 && raw < 10 ? -(Math.exp(k) - 1) : 0;
    loss[t] = weight[t]! * (pg + p.beta * kl);
    grad[t] = weight[t]! * (dpg + p.beta * dkl);
  }
  return { loss, grad };
}

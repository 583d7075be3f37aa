/**
 * A gradient against a central finite difference of a loss along a random sparse direction: `count`
 * entries of `w` (the largest-gradient one among them, so the check is never vacuous), each moved by
 * ±eps. Returns the analytic and numeric directional derivatives and their relative difference.
 */
export function directionalCheck(g: Float32Array, w: Float32Array, loss: () => number, rand: () => number, count: number, eps = 1e-3): { analytic: number; numeric: number; error: number } {
  let largest = 0;
  for (let i = 0; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[largest]!)) largest = i;
  const picks = [largest, ...Array.from({ length: count - 1 }, () => Math.floor(rand() * g.length))];
  const direction = picks.map(() => (rand() < 0.5 ? -1 : 1));
  const nudge = (sign: number) => picks.forEach((p, k) => (w[p]! += sign * eps * direction[k]!));
  nudge(1);
  const plus = loss();
  nudge(-2);
  const minus = loss();
  nudge(1);
  const numeric = (plus - minus) / (2 * eps);
  const analytic = picks.reduce((s, p, k) => s + g[p]! * direction[k]!, 0);
  return { analytic, numeric, error: Math.abs(analytic - numeric) / Math.max(Math.abs(numeric), 1e-3) };
}

/** Central differences of x ↦ Σ g·f(x) at a sample of coordinates, vs `grad`. */
export function checkFiniteDifferences(f: (x: Float64Array) => Float64Array, x: Float64Array, g: ArrayLike<number>, grad: ArrayLike<number>, rng: () => number, samples = 60): number {
  const h = 1e-6;
  let worst = 0;
  const dot = (y: Float64Array) => y.reduce((s, v, i) => s + v * g[i]!, 0);
  for (let n = 0; n < samples; n++) {
    const i = Math.floor(rng() * x.length);
    const plus = Float64Array.from(x);
    const minus = Float64Array.from(x);
    plus[i]! += h;
    minus[i]! -= h;
    const fd = (dot(f(plus)) - dot(f(minus))) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[i]!) / (1 + Math.abs(grad[i]!)));
  }
  return worst;
}

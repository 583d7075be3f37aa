// The IG-Search / GRPO policy loss per token (verl's defaults, docs/method.md), and its gradient with
// respect to the current log-prob — what the backward pass feeds into the log-softmax:
//   Δ = clamp(logp − old, ±20), r = exp(Δ)
//   pg = max(−A·r, −A·clip(r, 1 − εlow, 1 + εhigh)); for A < 0 also min(pg, −c·A)  (dual clip)
//   k = clamp(ref − logp, ±20), kl = clamp(exp(k) − k − 1, ±10)                      (k3)
//   loss_t = w_t · (pg + β·kl), w_t the aggregation weight (0 for masked tokens)
// Gradients follow autograd's conventions: zero through an active clamp or the losing side of
// max/min; where max's two sides are equal (r inside the clip range) both carry −A·r.

struct Params { n: u32, lossBase: u32, _b: u32, _c: u32, clipLow: f32, clipHigh: f32, dualClip: f32, klBeta: f32 }

@group(0) @binding(0) var<storage, read> logp: array<f32>;
@group(0) @binding(1) var<storage, read> old: array<f32>;
@group(0) @binding(2) var<storage, read> reference: array<f32>;
@group(0) @binding(3) var<storage, read> advantages: array<f32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>; // per token, weighted, at lossBase + t
@group(0) @binding(6) var<storage, read_write> grad: array<f32>; // d(total loss)/d logp_t
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = invocationIndex(gid, 64u);
  if (t >= p.n) { return; }
  let w = weights[t];
  let a = advantages[t];
  let delta = logp[t] - old[t];
  let dc = clamp(delta, -20.0, 20.0);
  let r = exp(dc);
  let dr = select(0.0, r, abs(delta) < 20.0); // d r / d logp
  let rc = clamp(r, 1.0 - p.clipLow, 1.0 + p.clipHigh);
  let pg1 = -a * r;
  let pg2 = -a * rc;
  var pg = max(pg1, pg2);
  // pg2's gradient is −A·dr inside the clip range (where it equals pg1), 0 outside.
  var dpg = select(0.0, -a * dr, pg1 >= pg2);
  if (a < 0.0) {
    let pg3 = -a * p.dualClip;
    if (pg3 < pg) { pg = pg3; dpg = 0.0; }
  }
  let diff = reference[t] - logp[t];
  let k = clamp(diff, -20.0, 20.0);
  let kRaw = exp(k) - k - 1.0;
  let kl = clamp(kRaw, -10.0, 10.0);
  let dkl = select(0.0, -(exp(k) - 1.0), abs(diff) < 20.0 && kRaw < 10.0);
  loss[p.lossBase + t] = w * (pg + p.klBeta * kl);
  grad[t] = w * (dpg + p.klBeta * dkl);
}

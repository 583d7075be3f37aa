// AdamW (torch.optim.AdamW semantics: decoupled weight decay, bias correction), one invocation per
// parameter, with the global gradient-norm clip folded in as `scale` — read, with the skip flag, from
// `control`, which clip.wgsl wrote on the GPU (1 when not clipping):
//   g = gradScale · grad;  p -= lr · wd · p;  m = β1 m + (1 − β1) g;  v = β2 v + (1 − β2) g²;
//   p -= lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps)
// The host computes the bias corrections in f64 and passes their f32 values.

struct Params {
  n: u32, _a: u32, _b: u32, _c: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  weightDecay: f32, _d: f32, correction1: f32, correction2: f32, // 1 − β^t
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> control: array<f32>; // [norm, scale, ok]
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocationIndex(gid, 64u);
  if (i >= p.n || control[2] == 0.0) { return; } // a non-finite norm changes nothing
  let g = grad[i] * control[1];
  var w = param[i];
  w -= p.lr * p.weightDecay * w;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  w -= p.lr * (mi / p.correction1) / (sqrt(vi / p.correction2) + p.eps);
  param[i] = w;
}

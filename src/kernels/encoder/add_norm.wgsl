// A post-LayerNorm residual, one workgroup per row r, in place on x: x = LayerNorm(x + y + bias),
// y the sub-layer's projection without its bias.
struct Params { T: u32, H: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = groupIndex(wid);
  if (r >= p.T) { return; } // uniform per workgroup
  let base = r * p.H;
  var sum = 0.0;
  for (var i = lid; i < p.H; i += WG) {
    let v = x[base + i] + y[base + i] + bias[i];
    x[base + i] = v;
    sum += v;
  }
  let mean = rowSum(lid, sum) / f32(p.H);
  var sq = 0.0;
  for (var i = lid; i < p.H; i += WG) { let d = x[base + i] - mean; sq = fma(d, d, sq); }
  let scale = inverseSqrt(rowSum(lid, sq) / f32(p.H) + p.eps);
  for (var i = lid; i < p.H; i += WG) { x[base + i] = (x[base + i] - mean) * scale * gamma[i] + beta[i]; }
}

// RMSNorm backward, one workgroup per row. With r = (mean(x²) + eps)^(−1/2) and y = x·r·w:
//   dx = r·(w ⊙ dy) − x · r³/H · Σ_i (w ⊙ dy ⊙ x)_i
//   dwRow[t] = dy ⊙ x · r   (per-row contributions; rmsnorm_dw sums them over rows)

struct Params { T: u32, H: u32, eps: f32, _pad: u32 }

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> dwRows: array<f32>; // [T, H]
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> sums: array<f32, WG>;
var<workgroup> dots: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = groupIndex(wid);
  if (t >= p.T) { return; }
  let base = t * p.H;
  var s = 0.0;
  var d = 0.0;
  for (var i = lid; i < p.H; i += WG) {
    let v = x[base + i];
    s = fma(v, v, s);
    d = fma(weight[i] * dy[base + i], v, d);
  }
  sums[lid] = s;
  dots[lid] = d;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      sums[lid] += sums[lid + stride];
      dots[lid] += dots[lid + stride];
    }
    workgroupBarrier();
  }
  let r = inverseSqrt(sums[0] / f32(p.H) + p.eps);
  let k = r * r * r / f32(p.H) * dots[0];
  for (var i = lid; i < p.H; i += WG) {
    let v = x[base + i];
    let g = dy[base + i];
    dx[base + i] = r * weight[i] * g - v * k;
    dwRows[base + i] = g * v * r;
  }
}

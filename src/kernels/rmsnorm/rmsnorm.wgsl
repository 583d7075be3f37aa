// RMSNorm, one workgroup per row: out[r] = x[src] * rsqrt(mean(x[src]²) + eps) * weight, where
// src = r, or index[r] with INDIRECT (the final norm runs only on the rows that get scored).

struct Params { T: u32, H: u32, eps: f32, _pad: u32 }

override INDIRECT: bool = false;
const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = groupIndex(wid);
  if (r >= p.T) { return; } // uniform per workgroup
  var src = r;
  if (INDIRECT) { src = index[r]; }
  let base = src * p.H;
  var sum = 0.0;
  for (var i = lid; i < p.H; i += WG) { let v = x[base + i]; sum = fma(v, v, sum); }
  partial[lid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(p.H) + p.eps);
  for (var i = lid; i < p.H; i += WG) { out[r * p.H + i] = x[base + i] * scale * weight[i]; }
}

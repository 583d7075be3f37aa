// Sum of squares of a vector, in per-workgroup partial sums (the host adds the few partials in
// f64): the global gradient norm for clipping, and the NaN/Inf guard (a non-finite partial).

struct Params { n: u32, base: u32, _b: u32, _c: u32 } // partials go to partial[base + workgroup]

const WG: u32 = 256u;
const PER: u32 = 16u; // elements per invocation

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let group = groupIndex(wid);
  let base = group * WG * PER;
  if (base >= p.n) { return; } // spare workgroups of a 2-D grid (uniform per workgroup)
  var s = 0.0;
  for (var j = 0u; j < PER; j++) {
    let i = base + j * WG + lid;
    if (i < p.n) { let g = x[i]; s = fma(g, g, s); }
  }
  sums[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { sums[lid] += sums[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[p.base + group] = sums[0]; }
}

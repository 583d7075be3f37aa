// The global gradient norm from the sum-of-squares partials, and what AdamW does with it, decided
// on the GPU so the update needs no readback first:
//   norm = sqrt(Σ partials);  scale = min(1, maxNorm / (norm + 1e-6)) (1 without clipping);
//   ok = norm is finite (a NaN/Inf gradient skips the whole step).
// One workgroup; each invocation adds a strided share, then a tree sum in workgroup memory.

struct Params { count: u32, clipping: u32, _b: u32, _c: u32, maxNorm: f32, _d: f32, _e: f32, _f: f32 }

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> control: array<f32>; // [norm, scale, ok]
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.count; i += WG) { s += partial[i]; }
  sums[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { sums[lid] += sums[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let norm = sqrt(sums[0]);
    // Inf or NaN: every exponent bit set (checked on the bits: shader compilers may assume finite math).
    let finite = (bitcast<u32>(norm) & 0x7f800000u) != 0x7f800000u;
    var scale = 1.0;
    if (p.clipping != 0u && finite) { scale = min(1.0, p.maxNorm / (norm + 1e-6)); }
    control[0] = norm;
    control[1] = scale;
    control[2] = select(0.0, 1.0, finite);
  }
}

// Qwen3's per-head RMSNorm of the queries and keys, in place in the fused q/k/v rows, before RoPE:
// for token t and head h < heads + kvHeads, x ← x · rsqrt(mean(x²) + eps) · w, with w the q_norm
// weight for query heads and the k_norm weight for key heads. One workgroup per (head, token).

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, eps: f32, _a: u32, _b: u32, _c: u32 }

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>; // [T, (heads + 2 kvHeads) · d]
@group(0) @binding(1) var<storage, read> weight: array<f32>;    // [q_norm (d), k_norm (d)]
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let t = wid.y;
  if (head >= p.heads + p.kvHeads || t >= p.T) { return; } // uniform per workgroup
  let d = p.headDim;
  let base = (t * (p.heads + 2u * p.kvHeads) + head) * d;
  var w0 = 0u;
  if (head >= p.heads) { w0 = d; }
  var sum = 0.0;
  for (var i = lid; i < d; i += WG) { let v = qkv[base + i]; sum = fma(v, v, sum); }
  partial[lid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(d) + p.eps);
  for (var i = lid; i < d; i += WG) { qkv[base + i] = qkv[base + i] * scale * weight[w0 + i]; }
}

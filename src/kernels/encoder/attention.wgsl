// Bidirectional multi-head attention over packed sequences, one invocation per (row, head): row r
// attends to every row of its own sequence, [bounds[2r], bounds[2r + 1]) — no causal mask, no padding.
// q, k, v are the fused projection's columns [0, H), [H, 2H), [2H, 3H) plus their bias.
struct Params { T: u32, heads: u32, headDim: u32, scale: f32 }

const MAX_HEAD_DIM: u32 = 128u;

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> bounds: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let index = invocationIndex(gid, 64u);
  if (index >= p.T * p.heads) { return; }
  let r = index / p.heads;
  let h = index % p.heads;
  let H = p.heads * p.headDim;
  let width = 3u * H;
  let col = h * p.headDim;
  var q: array<f32, MAX_HEAD_DIM>;
  var acc: array<f32, MAX_HEAD_DIM>;
  for (var d = 0u; d < p.headDim; d++) {
    q[d] = (qkv[r * width + col + d] + bias[col + d]) * p.scale;
    acc[d] = 0.0;
  }
  // Online softmax: running max m and normaliser l.
  var m = -3.0e38;
  var l = 0.0;
  for (var j = bounds[2u * r]; j < bounds[2u * r + 1u]; j++) {
    var s = 0.0;
    for (var d = 0u; d < p.headDim; d++) { s = fma(q[d], qkv[j * width + H + col + d] + bias[H + col + d], s); }
    let mNew = max(m, s);
    let correction = exp(m - mNew);
    let weight = exp(s - mNew);
    l = l * correction + weight;
    for (var d = 0u; d < p.headDim; d++) { acc[d] = fma(acc[d], correction, weight * (qkv[j * width + 2u * H + col + d] + bias[2u * H + col + d])); }
    m = mNew;
  }
  for (var d = 0u; d < p.headDim; d++) { out[r * H + col + d] = acc[d] / l; }
}

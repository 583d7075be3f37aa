// Backward of Qwen3's per-head q/k RMSNorm (qk_norm.wgsl), y = x · s · w with s = rsqrt(mean(x²) + eps):
//   dx_i = s · w_i · dy_i − s³ · x_i · (1/d) Σ_j w_j · dy_j · x_j      (in place in dqkv)
//   dw_j = Σ_rows dy_j · x_j · s                                       (per-row terms into dwRows)
// One workgroup per (head, token), heads < heads + kvHeads; dwRows holds the query heads' rows
// (token-major) and then the key heads' rows, which qk_norm.reduce.wgsl sums into dw.

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, eps: f32, _a: u32, _b: u32, _c: u32 }

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;          // pre-norm q/k/v rows [T, (heads + 2 kvHeads) · d]
@group(0) @binding(1) var<storage, read> weight: array<f32>;     // [q_norm (d), k_norm (d)]
@group(0) @binding(2) var<storage, read_write> dqkv: array<f32>; // dy in, dx out (q and k heads; v untouched)
@group(0) @binding(3) var<storage, read_write> dwRows: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> sq: array<f32, WG>;
var<workgroup> dot: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let t = wid.y;
  if (head >= p.heads + p.kvHeads || t >= p.T) { return; } // uniform per workgroup
  let d = p.headDim;
  let base = (t * (p.heads + 2u * p.kvHeads) + head) * d;
  var w0 = 0u;
  var row = t * p.heads + head;
  if (head >= p.heads) {
    w0 = d;
    row = p.T * p.heads + t * p.kvHeads + (head - p.heads);
  }
  var s2 = 0.0;
  var c = 0.0;
  for (var i = lid; i < d; i += WG) {
    let v = x[base + i];
    s2 = fma(v, v, s2);
    c = fma(weight[w0 + i] * dqkv[base + i], v, c);
  }
  sq[lid] = s2;
  dot[lid] = c;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      sq[lid] += sq[lid + stride];
      dot[lid] += dot[lid + stride];
    }
    workgroupBarrier();
  }
  let s = inverseSqrt(sq[0] / f32(d) + p.eps);
  let k = s * s * s * dot[0] / f32(d);
  for (var i = lid; i < d; i += WG) {
    let v = x[base + i];
    let dy = dqkv[base + i];
    dwRows[row * d + i] = dy * v * s;
    dqkv[base + i] = s * weight[w0 + i] * dy - k * v;
  }
}

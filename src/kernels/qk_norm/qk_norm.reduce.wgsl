// Column sums of the per-row q/k norm weight gradients (qk_norm.backward.wgsl's dwRows), accumulated:
// dw[j] += Σ over the query dwRows for j < d, over the key dwRows for d ≤ j < 2d.

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, eps: f32, _a: u32, _b: u32, _c: u32 }

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> dwRows: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>; // [dq_norm (d), dk_norm (d)], accumulated
@group(0) @binding(2) var<uniform> q: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = q.headDim;
  let j = gid.x;
  if (j >= 2u * d) { return; }
  var first = 0u;
  var count = q.T * q.heads;
  var col = j;
  if (j >= d) {
    first = q.T * q.heads;
    count = q.T * q.kvHeads;
    col = j - d;
  }
  var sum = 0.0;
  for (var r = 0u; r < count; r++) { sum += dwRows[(first + r) * d + col]; }
  dw[j] += sum;
}

// Backward of rope.wgsl for training rows (kvRow = row): rotates dQ and dK back by the same angle
// (the transpose of the rotation) and lays dQ, dK, dV out as the gradient of the fused q/k/v
// projection's output, [T, (heads + 2 kvHeads) · d]. The bias gradient is its column sum.
//   y1 = x1·c − x2·s, y2 = x2·c + x1·s  ⇒  dx1 = dy1·c + dy2·s, dx2 = dy2·c − dy1·s

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32 }

@group(0) @binding(0) var<storage, read> dQ: array<f32>;  // [T, heads · d]
@group(0) @binding(1) var<storage, read> dK: array<f32>;  // [T, kvHeads · d]
@group(0) @binding(2) var<storage, read> dV: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<Row>;
@group(0) @binding(4) var<storage, read> table: array<f32>;
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let t = gid.y;
  let d = p.headDim;
  let half = d / 2u;
  let rotated = (p.heads + p.kvHeads) * half;
  if (t >= p.T || k >= rotated + p.kvHeads * d) { return; }
  let width = (p.heads + 2u * p.kvHeads) * d;
  if (k >= rotated) {
    let j = k - rotated;
    dqkv[t * width + (p.heads + p.kvHeads) * d + j] = dV[t * p.kvHeads * d + j];
    return;
  }
  let pos = rows[t].position;
  let head = k / half;
  let j = k % half;
  var dy1: f32;
  var dy2: f32;
  if (head < p.heads) {
    dy1 = dQ[t * p.heads * d + head * d + j];
    dy2 = dQ[t * p.heads * d + head * d + j + half];
  } else {
    dy1 = dK[t * p.kvHeads * d + (head - p.heads) * d + j];
    dy2 = dK[t * p.kvHeads * d + (head - p.heads) * d + j + half];
  }
  let c = table[(pos * half + j) * 2u];
  let s = table[(pos * half + j) * 2u + 1u];
  dqkv[t * width + head * d + j] = dy1 * c + dy2 * s;
  dqkv[t * width + head * d + j + half] = dy2 * c - dy1 * s;
}

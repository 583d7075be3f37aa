// After the fused q/k/v projection: adds the biases, rotates q and k (rotate-half RoPE, as HF
// Qwen2), writes q to its own buffer and k, v into this layer's KV cache at the row's cache slot.
// cos/sin come from a host-computed table (f64, rounded once) indexed by position, so accuracy
// does not depend on the adapter's sin/cos for large angles.

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;   // [T, (heads + 2 kvHeads) · d]
@group(0) @binding(1) var<storage, read> bias: array<f32>;  // [(heads + 2 kvHeads) · d]
@group(0) @binding(2) var<storage, read> rows: array<Row>;
@group(0) @binding(3) var<storage, read> table: array<f32>; // [pos, d/2, (cos, sin)]
@group(0) @binding(4) var<storage, read_write> q: array<f32>;      // [T, heads · d]
@group(0) @binding(5) var<storage, read_write> kCache: array<f32>; // [rows, kvHeads · d]
@group(0) @binding(6) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x;
  let t = gid.y;
  let d = p.headDim;
  let half = d / 2u;
  let rotated = (p.heads + p.kvHeads) * half;
  if (t >= p.T || k >= rotated + p.kvHeads * d) { return; }
  let width = (p.heads + 2u * p.kvHeads) * d;
  let pos = rows[t].position;
  let kvRow = rows[t].kvSlot;
  if (k >= rotated) { // a value element: bias only
    let j = k - rotated;
    let col = (p.heads + p.kvHeads) * d + j;
    vCache[kvRow * p.kvHeads * d + j] = qkv[t * width + col] + bias[col];
    return;
  }
  let head = k / half;
  let j = k % half;
  let col = head * d + j;
  let x1 = qkv[t * width + col] + bias[col];
  let x2 = qkv[t * width + col + half] + bias[col + half];
  let c = table[(pos * half + j) * 2u];
  let s = table[(pos * half + j) * 2u + 1u];
  let y1 = x1 * c - x2 * s;
  let y2 = x2 * c + x1 * s;
  if (head < p.heads) {
    q[t * p.heads * d + col] = y1;
    q[t * p.heads * d + col + half] = y2;
  } else {
    let kc = kvRow * p.kvHeads * d + (head - p.heads) * d + j;
    kCache[kc] = y1;
    kCache[kc + half] = y2;
  }
}

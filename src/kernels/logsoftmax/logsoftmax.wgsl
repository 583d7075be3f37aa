// Online log-softmax + gather over vocabulary chunks: the LM head produces logits for columns
// [colStart, colStart + cols) only; this folds them into a per-row running (max, sum of exp) and
// picks up the goal's logit when it falls in the chunk. After the last chunk,
// out[r] = z[goal] − (max + log sum). The full rows × vocabulary matrix never exists.

// flags: 1 first chunk, 2 last chunk; row r's result goes to out[outBase + r].
struct Params { T: u32, cols: u32, colStart: u32, flags: u32, outBase: u32, _a: u32, _b: u32, _c: u32 }

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> logits: array<f32>;  // [T, cols]
@group(0) @binding(1) var<storage, read> targets: array<u32>; // [T]
@group(0) @binding(2) var<storage, read_write> state: array<f32>; // [T, 4]: max, sum, goal logit, -
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [outBase + T]
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;
var<workgroup> hit: f32;      // the goal's logit, when this chunk holds it
var<workgroup> hasHit: u32;   // (workgroup memory starts zeroed)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = groupIndex(wid);
  if (r >= p.T) { return; }
  let base = r * p.cols;
  let goal = targets[r];
  var m = -3.0e38;
  for (var c = lid; c < p.cols; c += WG) { m = max(m, logits[base + c]); }
  partial[lid] = m;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] = max(partial[lid], partial[lid + stride]); }
    workgroupBarrier();
  }
  let chunkMax = partial[0];
  workgroupBarrier();
  var s = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    s += exp(logits[base + c] - chunkMax);
    if (p.colStart + c == goal) { hit = logits[base + c]; hasHit = 1u; }
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid != 0u) { return; }
  if (hasHit == 1u) { state[r * 4u + 2u] = hit; }
  var runMax = chunkMax;
  var runSum = partial[0];
  if ((p.flags & 1u) == 0u) {
    let prevMax = state[r * 4u];
    runMax = max(prevMax, chunkMax);
    runSum = state[r * 4u + 1u] * exp(prevMax - runMax) + partial[0] * exp(chunkMax - runMax);
  }
  state[r * 4u] = runMax;
  state[r * 4u + 1u] = runSum;
  if ((p.flags & 2u) != 0u) {
    let lse = runMax + log(runSum);
    state[r * 4u + 3u] = lse; // kept for the backward pass
    out[p.outBase + r] = state[r * 4u + 2u] - lse;
  }
}

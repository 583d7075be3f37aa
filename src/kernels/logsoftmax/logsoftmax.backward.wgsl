// Backward of log p = z[goal] − logsumexp(z) for one vocabulary chunk of logits: given the
// upstream gradient g per row and the row's logsumexp from the forward pass,
//   dz[c] = g · (1[c = goal] − exp(z[c] − lse))
// written over the chunk's logits in place, ready for the LM-head matmuls (dH += dz·W, dW = dzᵀ·H).

struct Params { T: u32, cols: u32, colStart: u32, _a: u32 }

@group(0) @binding(0) var<storage, read_write> logits: array<f32>; // [T, cols] → dz
@group(0) @binding(1) var<storage, read> targets: array<u32>;        // [T]
@group(0) @binding(2) var<storage, read> state: array<f32>;        // [T, 4] from the forward: logsumexp at 3
@group(0) @binding(3) var<storage, read> upstream: array<f32>;     // [T]
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let t = gid.y;
  if (c >= p.cols || t >= p.T) { return; }
  let at = t * p.cols + c;
  let hit = select(0.0, 1.0, p.colStart + c == targets[t]);
  logits[at] = upstream[t] * (hit - exp(logits[at] - state[t * 4u + 3u]));
}

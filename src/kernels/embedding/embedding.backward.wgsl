// Embedding backward without atomics: the host groups rows by token (CSR: for unique token u,
// rows[offsets[u] .. offsets[u+1])); one invocation per (unique token, column) sums its rows'
// gradients and adds them to that token's row of dE (dE += …, so a tied LM head's gradient
// already in dE is kept). The shard covers tokens [rowStart, rowStart + rows).

struct Params { U: u32, H: u32, rowStart: u32, rows: u32 }

@group(0) @binding(0) var<storage, read> dx: array<f32>;       // [T, H]
@group(0) @binding(1) var<storage, read> tokens: array<u32>;   // [U] unique tokens
@group(0) @binding(2) var<storage, read> offsets: array<u32>;  // [U + 1]
@group(0) @binding(3) var<storage, read> rows: array<u32>;     // row indices grouped by token
@group(0) @binding(4) var<storage, read_write> dE: array<f32>; // this shard, [rows, H]
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let u = gid.y;
  if (i >= p.H || u >= p.U) { return; }
  let token = tokens[u];
  if (token < p.rowStart || token - p.rowStart >= p.rows) { return; }
  var sum = 0.0;
  for (var r = offsets[u]; r < offsets[u + 1u]; r++) { sum += dx[rows[r] * p.H + i]; }
  dE[(token - p.rowStart) * p.H + i] += sum;
}

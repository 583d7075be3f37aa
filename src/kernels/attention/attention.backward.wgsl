// Backward of causal grouped-query attention for training rows (each row attends to its own
// sequence's rows [selfStart, row], kvRow = row; no shared cached context). Two entry points:
//
// `dq`: one invocation per (row i, head h). Recomputes the softmax statistics, then
//   D = dO_i · O_i,  dS_ij = P_ij (dO_i · V_j − D),  dQ_i = scale · Σ_j dS_ij K_j
// and stores lse_ih and D_ih for the second pass.
// `dkv`: one invocation per (key row j, KV head g). Over the rows i ≥ j of j's sequence and the
// heads h of group g:  dV_j = Σ P_ij dO_i,  dK_j = scale · Σ dS_ij Q_i.
// No atomics: every output element has exactly one writer.

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, scale: f32, _a: u32, _b: u32, _c: u32 }

const MAX_D: u32 = 256u;

@group(0) @binding(0) var<storage, read> q: array<f32>;     // [T, heads · d] (scaled inside)
@group(0) @binding(1) var<storage, read> k: array<f32>;     // [T, kvHeads · d]
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> o: array<f32>;     // forward output [T, heads · d]
@group(0) @binding(4) var<storage, read> dO: array<f32>;
@group(0) @binding(5) var<storage, read> rowInfo: array<u32>; // 8 u32 per row: …, selfStart at 5
@group(0) @binding(6) var<storage, read> ends: array<u32>;    // exclusive end row of each row's sequence
@group(0) @binding(7) var<storage, read_write> stats: array<f32>; // [T, heads, 2]: lse, D
@group(0) @binding(8) var<storage, read_write> dQ: array<f32>;
@group(0) @binding(9) var<storage, read_write> dK: array<f32>;
@group(0) @binding(10) var<storage, read_write> dV: array<f32>;
@group(0) @binding(11) var<uniform> p: Params;

fn score(i: u32, h: u32, j: u32, kvh: u32) -> f32 {
  let d = p.headDim;
  var s = 0.0;
  for (var x = 0u; x < d; x++) { s = fma(q[i * p.heads * d + h * d + x], k[j * p.kvHeads * d + kvh * d + x], s); }
  return s * p.scale;
}

@compute @workgroup_size(64)
fn dq(@builtin(global_invocation_id) gid: vec3<u32>) {
  let index = gid.x + gid.y * 65535u * 64u;
  if (index >= p.T * p.heads) { return; }
  let i = index / p.heads;
  let h = index % p.heads;
  let d = p.headDim;
  let kvh = h / (p.heads / p.kvHeads);
  let start = rowInfo[i * 8u + 5u];
  var m = -3.0e38;
  for (var j = start; j <= i; j++) { m = max(m, score(i, h, j, kvh)); }
  var l = 0.0;
  for (var j = start; j <= i; j++) { l += exp(score(i, h, j, kvh) - m); }
  let lse = m + log(l);
  var D = 0.0;
  for (var x = 0u; x < d; x++) { D = fma(dO[i * p.heads * d + h * d + x], o[i * p.heads * d + h * d + x], D); }
  stats[(i * p.heads + h) * 2u] = lse;
  stats[(i * p.heads + h) * 2u + 1u] = D;
  var acc: array<f32, MAX_D>;
  for (var j = start; j <= i; j++) {
    let P = exp(score(i, h, j, kvh) - lse);
    var dP = 0.0;
    for (var x = 0u; x < d; x++) { dP = fma(dO[i * p.heads * d + h * d + x], v[j * p.kvHeads * d + kvh * d + x], dP); }
    let dS = P * (dP - D) * p.scale;
    for (var x = 0u; x < d; x++) { acc[x] = fma(dS, k[j * p.kvHeads * d + kvh * d + x], acc[x]); }
  }
  for (var x = 0u; x < d; x++) { dQ[i * p.heads * d + h * d + x] = acc[x]; }
}

@compute @workgroup_size(64)
fn dkv(@builtin(global_invocation_id) gid: vec3<u32>) {
  let index = gid.x + gid.y * 65535u * 64u;
  if (index >= p.T * p.kvHeads) { return; }
  let j = index / p.kvHeads;
  let g = index % p.kvHeads;
  let d = p.headDim;
  let group = p.heads / p.kvHeads;
  var accK: array<f32, MAX_D>;
  var accV: array<f32, MAX_D>;
  for (var i = j; i < ends[j]; i++) {
    for (var h = g * group; h < (g + 1u) * group; h++) {
      let lse = stats[(i * p.heads + h) * 2u];
      let D = stats[(i * p.heads + h) * 2u + 1u];
      let P = exp(score(i, h, j, g) - lse);
      var dP = 0.0;
      for (var x = 0u; x < d; x++) { dP = fma(dO[i * p.heads * d + h * d + x], v[j * p.kvHeads * d + g * d + x], dP); }
      let dS = P * (dP - D) * p.scale;
      for (var x = 0u; x < d; x++) {
        accV[x] = fma(P, dO[i * p.heads * d + h * d + x], accV[x]);
        accK[x] = fma(dS, q[i * p.heads * d + h * d + x], accK[x]);
      }
    }
  }
  for (var x = 0u; x < d; x++) {
    dK[j * p.kvHeads * d + g * d + x] = accK[x];
    dV[j * p.kvHeads * d + g * d + x] = accV[x];
  }
}

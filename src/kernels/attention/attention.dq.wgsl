// dQ pass (appended to attention.backward.wgsl): bindings 4–7.
@group(0) @binding(4) var<storage, read> o: array<f32>;       // forward output [T, heads · d]
@group(0) @binding(5) var<storage, read> rowInfo: array<u32>; // 8 u32 per row: …, selfStart at 5
@group(0) @binding(6) var<storage, read_write> stats: array<f32>; // [T, heads, 2]: lse, D (written)
@group(0) @binding(7) var<storage, read_write> dQ: array<f32>;

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

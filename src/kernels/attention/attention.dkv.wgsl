// dK/dV pass (appended to attention.backward.wgsl): bindings 4–7.
@group(0) @binding(4) var<storage, read> ends: array<u32>;  // exclusive end row of each row's sequence
@group(0) @binding(5) var<storage, read> stats: array<f32>; // from the dQ pass
@group(0) @binding(6) var<storage, read_write> dK: array<f32>;
@group(0) @binding(7) var<storage, read_write> dV: array<f32>;

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

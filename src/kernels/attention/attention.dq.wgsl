// dQ pass (appended to attention.backward.wgsl): bindings 4–7.
@group(0) @binding(4) var<storage, read> o: array<f32>;       // forward output [T, heads · d]
@group(0) @binding(5) var<storage, read> rowInfo: array<u32>; // the model's row layout (rows.ts): ctxStart 3, ctxLength 4, selfStart 5
@group(0) @binding(6) var<storage, read_write> stats: array<f32>; // [T, heads, 2]: lse, D (written)
@group(0) @binding(7) var<storage, read_write> dQ: array<f32>;

// One pass over the keys with an online softmax: with m the running max and l the running sum,
//   acc = Σ_j exp(s_ij − m) (dP_ij − D) K_j   (rescaled when m grows),  dQ_i = scale · acc / l,
// since P_ij = exp(s_ij − m) / l at the end. Keys: the row's context range, then its own segment.
@compute @workgroup_size(64)
fn dq(@builtin(global_invocation_id) gid: vec3<u32>) {
  let index = gid.x + gid.y * 65535u * 64u;
  if (index >= p.T * p.heads) { return; }
  let i = index / p.heads;
  let h = index % p.heads;
  let d = p.headDim;
  let kvh = h / (p.heads / p.kvHeads);
  let ctxStart = rowInfo[i * 8u + 3u];
  let ctxLen = rowInfo[i * 8u + 4u];
  let selfStart = rowInfo[i * 8u + 5u];
  let qi = i * p.heads * d + h * d;
  var D = 0.0;
  for (var x = 0u; x < d; x++) { D = fma(dO[qi + x], o[qi + x], D); }
  var m = -3.0e38;
  var l = 0.0;
  var acc: array<f32, MAX_D>;
  let total = ctxLen + (i + 1u - selfStart);
  for (var n = 0u; n < total; n++) {
    var j = selfStart + (n - ctxLen);
    if (n < ctxLen) { j = ctxStart + n; }
    let kj = j * p.kvHeads * d + kvh * d;
    var s = 0.0;
    var dP = 0.0;
    for (var x = 0u; x < d; x++) {
      s = fma(q[qi + x], k[kj + x], s);
      dP = fma(dO[qi + x], v[kj + x], dP);
    }
    s *= p.scale;
    let mNew = max(m, s);
    let correction = exp(m - mNew);
    let w = exp(s - mNew);
    l = l * correction + w;
    let g = w * (dP - D);
    for (var x = 0u; x < d; x++) { acc[x] = fma(g, k[kj + x], acc[x] * correction); }
    m = mNew;
  }
  stats[(i * p.heads + h) * 2u] = m + log(l);
  stats[(i * p.heads + h) * 2u + 1u] = D;
  for (var x = 0u; x < d; x++) { dQ[qi + x] = p.scale * acc[x] / l; }
}

// dQ pass (appended to attention.backward.wgsl): bindings 4–7.
@group(0) @binding(4) var<storage, read> o: array<f32>;       // forward output [T, heads · d]
@group(0) @binding(5) var<storage, read> rows: array<Row>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>; // [T, heads, 2]: lse, D (written)
@group(0) @binding(7) var<storage, read_write> dQ: array<f32>;

// A workgroup takes 64 consecutive query rows of one head. It walks the union of their key ranges
// (context ranges, then own segments) in lockstep, so every lane reads the same key and value row
// at the same time; a lane skips the keys it does not attend to. Per lane, one online-softmax pass:
// with m the running max and l the running sum,
//   acc = Σ_j exp(s_ij − m) (dP_ij − D) K_j   (rescaled when m grows),  dQ_i = scale · acc / l,
// since P_ij = exp(s_ij − m) / l at the end.
var<workgroup> tile: vec4<u32>; // context keys [x, y), own keys [z, w)

@compute @workgroup_size(64)
fn dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let h = wg.y;
  let first = wg.x * 64u;
  let i = first + lane;
  let live = i < p.T;
  let d = headDim();
  let kvh = h / (p.heads / p.kvHeads);
  if (lane == 0u) {
    var b = vec4<u32>(0xffffffffu, 0u, 0xffffffffu, 0u);
    for (var r = first; r < min(first + 64u, p.T); r++) {
      let row = rows[r];
      if (row.ctxLength > 0u) { b.x = min(b.x, row.ctxStart); b.y = max(b.y, row.ctxStart + row.ctxLength); }
      b.z = min(b.z, row.selfStart);
      b.w = max(b.w, r + 1u);
    }
    tile = b;
  }
  let bounds = workgroupUniformLoad(&tile);
  var ctxStart = 0u;
  var ctxEnd = 0u;
  var selfStart = 1u;
  var qi = 0u;
  var D = 0.0;
  var qv: array<f32, MAX_D>;
  var dov: array<f32, MAX_D>;
  if (live) {
    let row = rows[i];
    ctxStart = row.ctxStart;
    ctxEnd = ctxStart + row.ctxLength;
    selfStart = row.selfStart;
    qi = i * p.heads * d + h * d;
    for (var x = 0u; x < d; x++) {
      qv[x] = q[qi + x];
      dov[x] = dO[qi + x];
      D = fma(dov[x], o[qi + x], D);
    }
  }
  var m = -3.0e38;
  var l = 0.0;
  var acc: array<f32, MAX_D>;
  for (var range = 0u; range < 2u; range++) {
    let lo = select(bounds.z, bounds.x, range == 0u);
    let hi = select(bounds.w, bounds.y, range == 0u);
    for (var j = lo; j < hi; j++) {
      let attends = live && select(j >= selfStart && j <= i, j >= ctxStart && j < ctxEnd, range == 0u);
      if (!attends) { continue; }
      let kj = j * p.kvHeads * d + kvh * d;
      var s = 0.0;
      var dP = 0.0;
      for (var x = 0u; x < d; x++) {
        s = fma(qv[x], kCache[kj + x], s);
        dP = fma(dov[x], vCache[kj + x], dP);
      }
      s *= p.scale;
      let mNew = max(m, s);
      let correction = exp(m - mNew);
      let w = exp(s - mNew);
      l = l * correction + w;
      let g = w * (dP - D);
      for (var x = 0u; x < d; x++) { acc[x] = fma(g, kCache[kj + x], acc[x] * correction); }
      m = mNew;
    }
  }
  if (!live) { return; }
  stats[(i * p.heads + h) * 2u] = m + log(l);
  stats[(i * p.heads + h) * 2u + 1u] = D;
  for (var x = 0u; x < d; x++) { dQ[qi + x] = p.scale * acc[x] / l; }
}

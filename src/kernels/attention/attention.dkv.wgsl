// dK/dV pass (appended to attention.backward.wgsl): bindings 4–7.
@group(0) @binding(4) var<storage, read> ends: array<u32>;  // exclusive end of the rows attending to each row
@group(0) @binding(5) var<storage, read> stats: array<f32>; // from the dQ pass: lse, D per (row, head)
@group(0) @binding(6) var<storage, read_write> dK: array<f32>;
@group(0) @binding(7) var<storage, read_write> dV: array<f32>;

// A workgroup takes 64 consecutive key rows of one KV head and walks the union of the query rows
// attending to them in lockstep (every lane reads the same query row, its dO, lse and D), each lane
// keeping its key and value row in registers and skipping queries outside [j, ends[j]).
var<workgroup> span: vec2<u32>;

@compute @workgroup_size(64)
fn dkv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let g = wg.y;
  let first = wg.x * 64u;
  let j = first + lane;
  let live = j < p.T;
  let d = headDim();
  let group = p.heads / p.kvHeads;
  if (lane == 0u) {
    var hi = 0u;
    for (var r = first; r < min(first + 64u, p.T); r++) { hi = max(hi, ends[r]); }
    span = vec2<u32>(first, hi);
  }
  let bounds = workgroupUniformLoad(&span);
  var end = 0u;
  var kv: array<f32, MAX_D>;
  var vv: array<f32, MAX_D>;
  var accK: array<f32, MAX_D>;
  var accV: array<f32, MAX_D>;
  let kj = j * p.kvHeads * d + g * d;
  if (live) {
    end = ends[j];
    for (var x = 0u; x < d; x++) {
      kv[x] = kCache[kj + x];
      vv[x] = vCache[kj + x];
    }
  }
  for (var i = bounds.x; i < bounds.y; i++) {
    if (!live || i < j || i >= end) { continue; }
    for (var h = g * group; h < (g + 1u) * group; h++) {
      let qi = i * p.heads * d + h * d;
      let lse = stats[(i * p.heads + h) * 2u];
      let D = stats[(i * p.heads + h) * 2u + 1u];
      var s = 0.0;
      var dP = 0.0;
      for (var x = 0u; x < d; x++) {
        s = fma(q[qi + x], kv[x], s);
        dP = fma(dO[qi + x], vv[x], dP);
      }
      let P = exp(s * p.scale - lse);
      let dS = P * (dP - D) * p.scale;
      for (var x = 0u; x < d; x++) {
        accV[x] = fma(P, dO[qi + x], accV[x]);
        accK[x] = fma(dS, q[qi + x], accK[x]);
      }
    }
  }
  if (!live) { return; }
  for (var x = 0u; x < d; x++) {
    dK[kj + x] = accK[x];
    dV[kj + x] = accV[x];
  }
}

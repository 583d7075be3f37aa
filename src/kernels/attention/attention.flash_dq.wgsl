// Flash-style attention backward, dQ pass: the GPU-shaped variant of the `dq` entry point
// (attention.dq.wgsl), same bindings' meaning and results. A workgroup takes 64 consecutive query
// rows of one head, one per invocation, and walks their keys and values KEYS at a time staged in
// workgroup memory (attention.walks.wgsl). Per row, one online-softmax pass:
//   D = dO_i · O_i,  acc = Σ_j exp(s_ij − m) (dO_i · V_j − D) K_j  (rescaled once per tile as m grows),
//   dQ_i = scale · acc / l,  and lse_i = m + log l, D_i kept for the dK/dV pass.

// Params, HEAD_DIM, q, keys, values, dO and their readers: attention.flash_backward.wgsl.
override KEYS: u32;

@group(0) @binding(4) var<storage, read> o: array<f32>;      // forward output [T, heads · d]
@group(0) @binding(5) var<storage, read> rows: array<Row>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>; // [T, heads, 2]: lse, D (written)
@group(0) @binding(7) var<storage, read_write> dQ: array<f32>;

fn o4(i: u32) -> vec4<f32> { return vec4<f32>(o[i], o[i + 1u], o[i + 2u], o[i + 3u]); }

@compute @workgroup_size(64)
fn dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let h = wg.y;
  let first = wg.x * TILE_ROWS;
  let i = first + lane;
  let live = i < p.T;
  let d4 = HEAD_DIM / 4u;
  let kvh = h / (p.heads / p.kvHeads);
  let kvWidth = p.kvHeads * HEAD_DIM;
  let at = i * p.heads * HEAD_DIM + h * HEAD_DIM;
  var qv: array<vec4<f32>, MAX_D4>;
  var dov: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  var spans: array<vec2<u32>, 3>;
  var D = 0.0;
  if (live) {
    var D4 = vec4<f32>(0.0);
    for (var x = 0u; x < d4; x++) {
      qv[x] = q4(at + 4u * x);
      dov[x] = dO4(at + 4u * x);
      D4 = fma(dov[x], o4(at + 4u * x), D4);
      acc[x] = vec4<f32>(0.0);
    }
    D = D4.x + D4.y + D4.z + D4.w;
    let row = rows[i];
    for (var kind = 0u; kind < 3u; kind++) { spans[kind] = rowSpan(row, kind); }
  }
  let count = planWalks(lane, first, p.T);
  let mine = rowWalks[lane];
  var m = -3.0e38;
  var l = 0.0;
  var s: array<f32, MAX_KEYS>;
  var dP: array<f32, MAX_KEYS>;
  for (var w = 0u; w < count; w++) {
    let walk = workgroupUniformLoad(&walks[w]);
    let takes = live && mine[walk.z] == w;
    let span = spans[walk.z];
    for (var j0 = walk.x; j0 < walk.y; j0 += KEYS) {
      workgroupBarrier();
      stageKeys(lane, j0, walk.y, kvh, kvWidth);
      workgroupBarrier();
      var tileMax = -3.0e38;
      for (var c = 0u; c < KEYS; c++) {
        let j = j0 + c;
        s[c] = -3.0e38;
        if (takes && j >= span.x && j < span.y) {
          var s4 = vec4<f32>(0.0);
          var dP4 = vec4<f32>(0.0);
          for (var x = 0u; x < d4; x++) {
            s4 = fma(qv[x], kTile[c * d4 + x], s4);
            dP4 = fma(dov[x], vTile[c * d4 + x], dP4);
          }
          s[c] = (s4.x + s4.y + s4.z + s4.w) * p.scale;
          dP[c] = dP4.x + dP4.y + dP4.z + dP4.w;
          tileMax = max(tileMax, s[c]);
        }
      }
      if (tileMax > -1.0e38) {
        let mNew = max(m, tileMax);
        let correction = exp(m - mNew);
        l *= correction;
        for (var x = 0u; x < d4; x++) { acc[x] *= correction; }
        for (var c = 0u; c < KEYS; c++) {
          if (s[c] > -1.0e38) {
            let weight = exp(s[c] - mNew);
            l += weight;
            let g = vec4<f32>(weight * (dP[c] - D));
            for (var x = 0u; x < d4; x++) { acc[x] = fma(g, kTile[c * d4 + x], acc[x]); }
          }
        }
        m = mNew;
      }
    }
  }
  if (!live) { return; }
  stats[(i * p.heads + h) * 2u] = m + log(l);
  stats[(i * p.heads + h) * 2u + 1u] = D;
  for (var x = 0u; x < d4; x++) {
    let g = p.scale * acc[x] / l;
    let j = at + 4u * x;
    dQ[j] = g.x;
    dQ[j + 1u] = g.y;
    dQ[j + 2u] = g.z;
    dQ[j + 3u] = g.w;
  }
}

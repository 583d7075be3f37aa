// Flash-style attention backward, dK/dV pass: the GPU-shaped variant of the `dkv` entry point
// (attention.dkv.wgsl), same meaning and results. A workgroup takes 64 consecutive key rows of one
// KV head, one per invocation (its key, value and both gradients in registers as vec4s), and walks
// the query rows that attend to them, [first, max ends), QUERIES at a time: for each head of the
// group it stages those rows' queries, upstream gradients, lse and D in workgroup memory, so each is
// read once per 64 keys rather than once per key. Per key j and attending row i:
//   P = exp(scale · q_i·k_j − lse_i),  dV_j += P dO_i,  dK_j += scale · P (dO_i·v_j − D_i) q_i.

// Params, HEAD_DIM, q, keys, values, dO and their readers: attention.flash_backward.wgsl.
// Query rows per tile, fixed at creation (QUERIES · HEAD_DIM ≤ 1024).
override QUERIES: u32;

@group(0) @binding(4) var<storage, read> ends: array<u32>;  // exclusive end of the rows attending to each row
@group(0) @binding(5) var<storage, read> stats: array<f32>; // from the dQ pass: lse, D per (row, head)
@group(0) @binding(6) var<storage, read_write> dK: array<f32>;
@group(0) @binding(7) var<storage, read_write> dV: array<f32>;

var<workgroup> span: u32;
var<workgroup> qTile: array<vec4<f32>, 256>;
var<workgroup> doTile: array<vec4<f32>, 256>;
var<workgroup> lseTile: array<f32, 64>;
var<workgroup> deltaTile: array<f32, 64>;


@compute @workgroup_size(64)
fn dkv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let g = wg.y;
  let first = wg.x * 64u;
  let j = first + lane;
  let live = j < p.T;
  let d4 = HEAD_DIM / 4u;
  let group = p.heads / p.kvHeads;
  let width = p.heads * HEAD_DIM;
  if (lane == 0u) {
    var hi = 0u;
    for (var r = first; r < min(first + 64u, p.T); r++) { hi = max(hi, ends[r]); }
    span = hi;
  }
  let last = workgroupUniformLoad(&span);
  let at = j * p.kvHeads * HEAD_DIM + g * HEAD_DIM;
  var end = 0u;
  var kv: array<vec4<f32>, MAX_D4>;
  var vv: array<vec4<f32>, MAX_D4>;
  var accK: array<vec4<f32>, MAX_D4>;
  var accV: array<vec4<f32>, MAX_D4>;
  if (live) {
    end = ends[j];
    for (var x = 0u; x < d4; x++) {
      kv[x] = keys4(at + 4u * x);
      vv[x] = values4(at + 4u * x);
      accK[x] = vec4<f32>(0.0);
      accV[x] = vec4<f32>(0.0);
    }
  }
  for (var i0 = first; i0 < last; i0 += QUERIES) {
    for (var h = g * group; h < (g + 1u) * group; h++) {
      workgroupBarrier();
      for (var x = lane; x < QUERIES * d4; x += 64u) {
        let i = i0 + x / d4;
        if (i < p.T) {
          let base = i * width + h * HEAD_DIM + (x % d4) * 4u;
          qTile[x] = q4(base);
          doTile[x] = dO4(base);
        }
      }
      if (lane < QUERIES && i0 + lane < p.T) {
        lseTile[lane] = stats[((i0 + lane) * p.heads + h) * 2u];
        deltaTile[lane] = stats[((i0 + lane) * p.heads + h) * 2u + 1u];
      }
      workgroupBarrier();
      for (var r = 0u; r < QUERIES; r++) {
        let i = i0 + r;
        if (!live || i < j || i >= end) { continue; }
        var s4 = vec4<f32>(0.0);
        var dP4 = vec4<f32>(0.0);
        for (var x = 0u; x < d4; x++) {
          s4 = fma(qTile[r * d4 + x], kv[x], s4);
          dP4 = fma(doTile[r * d4 + x], vv[x], dP4);
        }
        let P = exp((s4.x + s4.y + s4.z + s4.w) * p.scale - lseTile[r]);
        let dS = vec4<f32>(P * (dP4.x + dP4.y + dP4.z + dP4.w - deltaTile[r]) * p.scale);
        for (var x = 0u; x < d4; x++) {
          accV[x] = fma(vec4<f32>(P), doTile[r * d4 + x], accV[x]);
          accK[x] = fma(dS, qTile[r * d4 + x], accK[x]);
        }
      }
    }
  }
  if (!live) { return; }
  for (var x = 0u; x < d4; x++) {
    let i = at + 4u * x;
    dK[i] = accK[x].x;
    dK[i + 1u] = accK[x].y;
    dK[i + 2u] = accK[x].z;
    dK[i + 3u] = accK[x].w;
    dV[i] = accV[x].x;
    dV[i + 1u] = accV[x].y;
    dV[i + 2u] = accV[x].z;
    dV[i + 3u] = accV[x].w;
  }
}

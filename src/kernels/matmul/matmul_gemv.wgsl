// Batched C[b] = A[b] · B[b] (or · B[b]^T), fp32: the GPU-shaped variant for products with few rows
// (a decode step: one row per sequence), where a tiled kernel would leave most of its tile idle and
// the product is bound by reading B once.
//
// A workgroup owns 8 columns × 8 rows of C. Each column gets 32 invocations that split K between
// them (k = lane, lane + 32, …), so the 32 read 32 consecutive words of B's row (B stored N×K, the
// weights' layout) and of each A row; each keeps 8 partial sums (one per row of A), and a tree in
// workgroup memory adds the 32 partials. Any M is correct (rows in tiles of 8), B stored K×N too,
// but that layout reads B with a stride: matmul.ts picks this variant for few rows of N×K weights.

// Params, TRANSPOSE_B, ACCUMULATE, C: matmul.common.wgsl; A and B: matmul.ts (read through aRow/aAt/rowScale, bAt).

const LANES = 32u; // invocations per column, splitting K
const COLS = 8u;   // columns per workgroup
const ROWS = 8u;   // rows per workgroup

var<workgroup> partial: array<f32, 2048>; // [ROWS][COLS][LANES]

// Adds the LANES partials of each (row, column) into lane 0's slot; all invocations call it.
fn reduceLanes(lane: u32, col: u32) {
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lane < s) {
      for (var i = 0u; i < ROWS; i++) {
        let at = (i * COLS + col) * LANES + lane;
        partial[at] += partial[at + s];
      }
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(32, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = p.M; let N = p.N; let K = p.K;
  let lane = lid.x;
  let col = lid.y;
  let n = wid.x * COLS + col;
  let m0 = wid.y * ROWS;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;
  // Clamped once: edge invocations read valid elements and drop their results.
  var rowA: array<u32, ROWS>;
  for (var i = 0u; i < ROWS; i++) { rowA[i] = aRow(baseA, min(m0 + i, M - 1u)); }
  let nB = min(n, N - 1u);

  var acc: array<f32, ROWS>;
  var sq: array<f32, ROWS>; // the rows' sums of squares (a folded RMSNorm's statistic), over this lane's k
  for (var k = lane; k < K; k += LANES) {
    var b: f32;
    if (TRANSPOSE_B) { b = bAt(baseB + nB * K + k); } else { b = bAt(baseB + k * N + nB); }
    for (var i = 0u; i < ROWS; i++) {
      let e = aAt(rowA[i], k);
      acc[i] = fma(e.x, b, acc[i]);
      if (ROW_NORM) { sq[i] += e.y; }
    }
  }

  for (var i = 0u; i < ROWS; i++) { partial[(i * COLS + col) * LANES + lane] = acc[i]; }
  reduceLanes(lane, col);
  var total: array<f32, ROWS>;
  for (var i = 0u; i < ROWS; i++) { total[i] = partial[(i * COLS + col) * LANES]; }
  var scale: array<f32, ROWS>;
  for (var i = 0u; i < ROWS; i++) { scale[i] = 1.0; }
  if (ROW_NORM) {
    workgroupBarrier();
    for (var i = 0u; i < ROWS; i++) { partial[(i * COLS + col) * LANES + lane] = sq[i]; }
    reduceLanes(lane, col);
    for (var i = 0u; i < ROWS; i++) { scale[i] = rowScale(partial[(i * COLS + col) * LANES]); }
  }
  if (lane != 0u || n >= N) { return; }
  let baseC = wid.z * p.strideC;
  for (var i = 0u; i < ROWS; i++) {
    let m = m0 + i;
    if (m < M) { let at = baseC + m * p.ldc + n; if (ACCUMULATE) { c[at] += scale[i] * total[i]; } else { c[at] = scale[i] * total[i]; } }
  }
}

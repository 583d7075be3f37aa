// Batched C[b] = A[b] · B[b] (or · B[b]^T), fp32: the CPU-shaped variant, for software adapters
// (lavapipe/llvmpipe) whose subgroups are exactly 8 lanes wide.
//
// Why it looks like this: llvmpipe runs 8 invocations as the 8 lanes of one AVX register, and
// every storage load whose address differs per lane becomes a gather, the dominant cost. So one
// workgroup is one subgroup, and every loaded value is used as often as possible: per k, lane l
// loads A[m0 + l][k] and A[m0 + 8 + l][k] (2 gathers for 16 rows) and 16 values of B, then
// `subgroupShuffle` hands each lane's A value to the others (a register permute, not a load), and
// each lane does 16×16 FMAs. The tile (16 × 128) is as large as LLVM still fully unrolls: at 32×8
// or 16×32 the accumulators stop being promoted and throughput drops 5-20×. On lavapipe at 1024³
// this runs ~3× faster than the best register-blocked kernel without subgroups and ~8× faster
// than a shared-memory tile (bench/matmul.ts has the figures).

enable subgroups;

// Params, TRANSPOSE_B, ACCUMULATE, C: matmul.common.wgsl; A and B: matmul.ts (read through aRow/aAt/rowScale, bAt).

const LANES = 8u;
const ROWS = 16u; // rows per tile: each lane loads SPANS of them
const SPANS = 2u; // ROWS / LANES
const COLS = 16u; // columns per lane, strided by LANES: the tile is 16 × 128

@compute @workgroup_size(8)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = p.M; let N = p.N; let K = p.K;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;
  let m0 = wid.y * ROWS;
  let n0 = wid.x * COLS * LANES + lane;

  // Clamp once, outside the loop: edge lanes read a valid element and their results are dropped.
  var rowA: array<u32, SPANS>;
  for (var q = 0u; q < SPANS; q++) { rowA[q] = aRow(baseA, min(m0 + q * LANES + lane, M - 1u)); }
  var colB: array<u32, COLS>;
  for (var j = 0u; j < COLS; j++) {
    let n = min(n0 + j * LANES, N - 1u);
    if (TRANSPOSE_B) { colB[j] = baseB + n * K; } else { colB[j] = baseB + n; }
  }
  var stepB = N;
  if (TRANSPOSE_B) { stepB = 1u; }

  var acc: array<array<f32, COLS>, ROWS>;
  var sq: array<f32, SPANS>; // each lane's rows' sums of squares (a folded RMSNorm's statistic)
  for (var k = 0u; k < K; k++) {
    var ak: array<f32, SPANS>;
    for (var q = 0u; q < SPANS; q++) { let e = aAt(rowA[q], k); ak[q] = e.x; if (ROW_NORM) { sq[q] += e.y; } }
    var bk: array<f32, COLS>;
    for (var j = 0u; j < COLS; j++) { bk[j] = bAt(colB[j] + k * stepB); }
    for (var q = 0u; q < SPANS; q++) {
      for (var r = 0u; r < LANES; r++) {
        let x = subgroupShuffle(ak[q], r); // A[m0 + q*8 + r][k], from lane r
        for (var j = 0u; j < COLS; j++) { acc[q * LANES + r][j] = fma(x, bk[j], acc[q * LANES + r][j]); }
      }
    }
  }

  var scale: array<f32, SPANS>;
  for (var q = 0u; q < SPANS; q++) { scale[q] = rowScale(sq[q]); }
  let baseC = wid.z * p.strideC;
  for (var r = 0u; r < ROWS; r++) {
    let m = m0 + r;
    let s = subgroupShuffle(scale[r / LANES], r % LANES); // row r's scale lives in the lane that loaded it
    for (var j = 0u; j < COLS; j++) {
      let n = n0 + j * LANES;
      if (m < M && n < N) { let at = baseC + m * p.ldc + n; if (ACCUMULATE) { c[at] += s * acc[r][j]; } else { c[at] = s * acc[r][j]; } }
    }
  }
}

// Batched C[b] = A[b] · B[b] (or · B[b]^T), fp32: the CPU-shaped variant for software adapters
// without usable subgroups (Deno's wgpu on lavapipe, SwiftShader).
//
// No workgroup memory and no barriers: on a CPU every workgroup-memory read is as costly as a
// storage read, and barriers split the shader into coroutines. Instead each invocation keeps a
// 16×8 block of C in registers. The 8 invocations along x (the SIMD lanes of a CPU backend) share
// their 16 rows, so the A loads in the inner loop are lane-uniform, and they read 8 adjacent
// columns of B, so the B loads are lane-contiguous. 16×8 is as large as LLVM still fully unrolls
// on lavapipe (24×8 and 16×16 run 3-4× slower); see bench/matmul.ts for the figures.

// Params, TRANSPOSE_B, ACCUMULATE, C: matmul.common.wgsl; A and B: matmul.ts (read through aRow/aAt/rowScale, bAt).

const WX = 8u;    // invocations along columns
const WY = 4u;    // invocations along rows
const ROWS = 16u; // rows per invocation (consecutive)
const COLS = 8u;  // columns per invocation, strided by WX: the workgroup tile is 64 × 64

@compute @workgroup_size(8, 4)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = p.M; let N = p.N; let K = p.K;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;
  let n0 = wid.x * WX * COLS + lid.x;
  let m0 = (wid.y * WY + lid.y) * ROWS;

  // Clamp once, outside the loop: edge invocations read valid elements and drop their results.
  var rowA: array<u32, ROWS>;
  for (var i = 0u; i < ROWS; i++) { rowA[i] = aRow(baseA, min(m0 + i, M - 1u)); }
  var colB: array<u32, COLS>;
  for (var j = 0u; j < COLS; j++) {
    let n = min(n0 + j * WX, N - 1u);
    if (TRANSPOSE_B) { colB[j] = baseB + n * K; } else { colB[j] = baseB + n; }
  }
  var stepB = N;
  if (TRANSPOSE_B) { stepB = 1u; }

  var acc: array<array<f32, COLS>, ROWS>;
  var sq: array<f32, ROWS>; // the rows' sums of squares (a folded RMSNorm's statistic)
  for (var k = 0u; k < K; k++) {
    var bk: array<f32, COLS>;
    for (var j = 0u; j < COLS; j++) { bk[j] = bAt(colB[j] + k * stepB); }
    for (var i = 0u; i < ROWS; i++) {
      let e = aAt(rowA[i], k);
      let x = e.x;
      if (ROW_NORM) { sq[i] += e.y; }
      for (var j = 0u; j < COLS; j++) { acc[i][j] = fma(x, bk[j], acc[i][j]); }
    }
  }

  let baseC = wid.z * p.strideC;
  for (var i = 0u; i < ROWS; i++) {
    let m = m0 + i;
    let s = rowScale(sq[i]);
    for (var j = 0u; j < COLS; j++) {
      let n = n0 + j * WX;
      if (m < M && n < N) { let at = baseC + m * p.ldc + n; if (ACCUMULATE) { c[at] += s * acc[i][j]; } else { c[at] = s * acc[i][j]; } }
    }
  }
}

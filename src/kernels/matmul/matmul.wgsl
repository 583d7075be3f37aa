// Batched C[b] = A[b] · B[b] (or A[b] · B[b]^T), fp32, shared-memory tiled: the GPU-shaped variant.
//
// A workgroup of 16×16 invocations owns a 64×64 tile of C; each invocation accumulates a 4×4
// block whose rows and columns are strided by 16, so neighbouring invocations touch neighbouring
// words of workgroup memory. K advances in slabs of 16: every invocation stages 4 values of A
// and 4 of B, then all 256 read the slab 64 times from workgroup memory.
// Shapes need not be multiples of the tile: out-of-range loads read 0, stores are masked.

// Params, TRANSPOSE_B, ACCUMULATE, C: matmul.common.wgsl; A and B: matmul.ts (read through aRow/aAt/rowScale, bAt).

const TILE = 64u;
const SLAB = 16u;
const THREADS = 16u;
const PER = 4u; // TILE / THREADS

var<workgroup> tileA: array<f32, 1024>; // [SLAB][TILE], k-major
var<workgroup> tileB: array<f32, 1024>; // [SLAB][TILE], k-major

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let flat = lid.y * THREADS + lid.x;

  var acc: array<array<f32, PER>, PER>;
  var sq: array<f32, PER>; // sums of squares of the A rows this invocation stages (a folded RMSNorm's statistic)
  for (var k0 = 0u; k0 < p.K; k0 += SLAB) {
    // Stage the slab: 1024 values of each operand, 4 per invocation.
    for (var i = 0u; i < PER; i++) {
      let e = flat + i * THREADS * THREADS; // 0..1023
      let row = e / SLAB;                   // A: 64 rows × 16 k
      let kk = e % SLAB;
      let va = loadA(baseA, m0 + row, k0 + kk);
      tileA[kk * TILE + row] = va.x;
      if (ROW_NORM) { sq[i] += va.y; }
      let bk = e / TILE;                    // B: 16 k × 64 columns
      let col = e % TILE;
      tileB[bk * TILE + col] = loadB(baseB, k0 + bk, n0 + col);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SLAB; kk++) {
      var av: array<f32, PER>;
      var bv: array<f32, PER>;
      for (var i = 0u; i < PER; i++) {
        av[i] = tileA[kk * TILE + lid.y + i * THREADS];
        bv[i] = tileB[kk * TILE + lid.x + i * THREADS];
      }
      for (var i = 0u; i < PER; i++) {
        for (var j = 0u; j < PER; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  // A folded RMSNorm: the 16 invocations that staged a row's slabs hold its partial sums; gather
  // them in tileA (free after the last barrier) and give each row its scale.
  var scale: array<f32, PER>;
  for (var i = 0u; i < PER; i++) { scale[i] = 1.0; }
  if (ROW_NORM) {
    for (var i = 0u; i < PER; i++) { tileA[(flat / SLAB + i * THREADS) * SLAB + flat % SLAB] = sq[i]; }
    workgroupBarrier();
    for (var i = 0u; i < PER; i++) {
      var total = 0.0;
      for (var kk = 0u; kk < SLAB; kk++) { total += tileA[(lid.y + i * THREADS) * SLAB + kk]; }
      scale[i] = rowScale(total);
    }
  }
  let baseC = wid.z * p.strideC;
  for (var i = 0u; i < PER; i++) {
    let m = m0 + lid.y + i * THREADS;
    for (var j = 0u; j < PER; j++) {
      let n = n0 + lid.x + j * THREADS;
      if (m < p.M && n < p.N) { let at = baseC + m * p.ldc + n; if (ACCUMULATE) { c[at] += scale[i] * acc[i][j]; } else { c[at] = scale[i] * acc[i][j]; } }
    }
  }
}

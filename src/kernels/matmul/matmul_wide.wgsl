// Batched C[b] = A[b] · B[b] (or · B[b]^T), fp32: the GPU-shaped variant for products with many rows
// (prefill, scoring, the training pass) — the register-blocked shared-memory recipe.
//
// A workgroup of 16×16 invocations owns a 128×128 tile of C; each invocation accumulates an 8×8
// block (rows 4·ty…4·ty+3 and 64+4·ty…, columns likewise in tx) as sixteen vec4 accumulators, so
// every slab step reads 4 vec4s from workgroup memory for 64 FMAs (twice the 64×64 kernel's ratio).
// K advances in slabs of 8: each invocation stages 4 values of A and 4 of B — four consecutive k of
// one row (A, and B stored N×K) or four consecutive columns of one k (B stored K×N), so neighbouring
// invocations read neighbouring words of storage. Out-of-range loads read 0, stores are masked.
//
// `Compute` (declared by matmul.ts: f32, or f16 when the caller allows half-precision products) is
// the type of the staged tiles and the FMAs. In f16 (HALF) each slab's 8 products per output are summed
// in a half-precision partial that is then added to the f32 accumulator: half the workgroup memory and,
// on GPUs with double-rate f16, twice the FMAs, with rounding bounded by 8 terms rather than K.

// Params, TRANSPOSE_B, ACCUMULATE, C: matmul.common.wgsl; A and B: matmul.ts (read through aRow/aAt/rowScale, bAt).

const TILE = 128u;
const SLAB = 8u;
const QUADS = 32u; // TILE / 4: vec4s per slab row

var<workgroup> tileA: array<vec4<Compute>, 256>; // [SLAB][QUADS]: rows 4q…4q+3 of A at one k
var<workgroup> tileB: array<vec4<Compute>, 256>; // [SLAB][QUADS]: columns 4q…4q+3 of B at one k
var<workgroup> rowSq: array<f32, 256>;       // a folded RMSNorm's per-row partial sums, two per row

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let flat = lid.y * 16u + lid.x;
  // What this invocation stages per slab: A row `sRow`, k offsets kA…kA+3.
  let sRow = flat / 2u;
  let kA = (flat % 2u) * 4u;

  var acc: array<vec4<f32>, 16>; // [row r of 8][column half h of 2]
  var part: array<vec4<Compute>, 16>; // the same in Compute: per slab in f16, the whole sum in f32
  var sq = 0.0;
  for (var k0 = 0u; k0 < p.K; k0 += SLAB) {
    for (var i = 0u; i < 4u; i++) {
      let va = loadA(baseA, m0 + sRow, k0 + kA + i);
      tileA[(kA + i) * QUADS + sRow / 4u][sRow % 4u] = Compute(va.x);
      if (ROW_NORM) { sq += va.y; }
    }
    if (TRANSPOSE_B) {
      for (var i = 0u; i < 4u; i++) { tileB[(kA + i) * QUADS + sRow / 4u][sRow % 4u] = Compute(loadB(baseB, k0 + kA + i, n0 + sRow)); }
    } else {
      let kk = flat / QUADS;
      let q = flat % QUADS;
      let n = n0 + q * 4u;
      tileB[kk * QUADS + q] = vec4<Compute>(vec4<f32>(loadB(baseB, k0 + kk, n), loadB(baseB, k0 + kk, n + 1u), loadB(baseB, k0 + kk, n + 2u), loadB(baseB, k0 + kk, n + 3u)));
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SLAB; kk++) {
      let a0 = tileA[kk * QUADS + lid.y];
      let a1 = tileA[kk * QUADS + 16u + lid.y];
      let b0 = tileB[kk * QUADS + lid.x];
      let b1 = tileB[kk * QUADS + 16u + lid.x];
      for (var r = 0u; r < 4u; r++) {
        part[r * 2u] = fma(vec4<Compute>(a0[r]), b0, part[r * 2u]);
        part[r * 2u + 1u] = fma(vec4<Compute>(a0[r]), b1, part[r * 2u + 1u]);
        part[(r + 4u) * 2u] = fma(vec4<Compute>(a1[r]), b0, part[(r + 4u) * 2u]);
        part[(r + 4u) * 2u + 1u] = fma(vec4<Compute>(a1[r]), b1, part[(r + 4u) * 2u + 1u]);
      }
    }
    if (HALF) {
      for (var i = 0u; i < 16u; i++) {
        acc[i] += vec4<f32>(part[i]);
        part[i] = vec4<Compute>(0.0);
      }
    }
    workgroupBarrier();
  }
  if (!HALF) { for (var i = 0u; i < 16u; i++) { acc[i] = vec4<f32>(part[i]); } }

  var scale: array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { scale[r] = 1.0; }
  if (ROW_NORM) {
    // Row `sRow`'s sum of squares is split over the two invocations that staged it.
    rowSq[flat] = sq;
    workgroupBarrier();
    for (var r = 0u; r < 8u; r++) {
      let row = (r / 4u) * 64u + lid.y * 4u + r % 4u;
      scale[r] = rowScale(rowSq[row * 2u] + rowSq[row * 2u + 1u]);
    }
  }
  let baseC = wid.z * p.strideC;
  for (var r = 0u; r < 8u; r++) {
    let m = m0 + (r / 4u) * 64u + lid.y * 4u + r % 4u;
    if (m >= p.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let v = scale[r] * acc[r * 2u + h];
      let n = n0 + h * 64u + lid.x * 4u;
      for (var j = 0u; j < 4u; j++) {
        if (n + j < p.N) { let at = baseC + m * p.ldc + n + j; if (ACCUMULATE) { c[at] += v[j]; } else { c[at] = v[j]; } }
      }
    }
  }
}

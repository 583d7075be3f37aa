// Batched C[b] = A[b] · B[b] (or · B[b]^T), one invocation per output element. The baseline the
// benchmark compares the tuned variants against; also the easiest kernel to read.

// Params, TRANSPOSE_B, ACCUMULATE, C: matmul.common.wgsl; A and B: matmul.ts (read through aRow/aAt/rowScale, bAt).

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  if (m >= p.M || n >= p.N) { return; }
  let rowA = aRow(gid.z * p.strideA, m);
  let baseB = gid.z * p.strideB;
  var acc = 0.0;
  var sq = 0.0;
  for (var k = 0u; k < p.K; k++) {
    var bv: f32;
    if (TRANSPOSE_B) { bv = bAt(baseB + n * p.K + k); } else { bv = bAt(baseB + k * p.N + n); }
    let e = aAt(rowA, k);
    acc = fma(e.x, bv, acc);
    if (ROW_NORM) { sq += e.y; }
  }
  let s = rowScale(sq);
  let at = gid.z * p.strideC + m * p.ldc + n; if (ACCUMULATE) { c[at] += s * acc; } else { c[at] = s * acc; }
}

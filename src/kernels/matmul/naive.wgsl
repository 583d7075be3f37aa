// Batched C[b] = A[b] · B[b] (or · B[b]^T), one invocation per output element. The baseline the
// benchmark compares the tuned variants against; also the easiest kernel to read.

struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, ldc: u32, // ldc: row stride of C (N when C is packed)
}

override TRANSPOSE_B: bool = false;
// C += A·B instead of C = A·B (residual connections without a separate add).
override ACCUMULATE: bool = false;

// A (binding 0) and B (binding 1) come from matmul.ts, read only through aRow/aAt/rowScale (A: plain, or
// RMSNorm / SwiGLU folded into the load) and bAt (B stored as f32, f16 or bf16).
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

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

// What every matmul variant shares: the shape parameters, the two override constants, C, and the
// bounds-checked element loads the shared-memory variants stage tiles with. A and B are declared by
// matmul.ts (A_PROLOGUE, B_STORAGE) and read only through aRow/aAt/rowScale and bAt.

struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, ldc: u32, // ldc: row stride of C (N when C is packed)
}

// B is stored N×K (HF `Linear.weight` layout: y = x · Wᵀ) instead of K×N.
override TRANSPOSE_B: bool = false;
// C += A·B instead of C = A·B (residual connections without a separate add).
override ACCUMULATE: bool = false;

@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// A's element (m, k) as (value, square), 0 outside the matrix.
fn loadA(base: u32, m: u32, k: u32) -> vec2<f32> {
  if (m < p.M && k < p.K) { return aAt(aRow(base, m), k); }
  return vec2<f32>(0.0);
}

// B's element (k, n) whichever way B is stored, 0 outside the matrix.
fn loadB(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANSPOSE_B) { return bAt(base + n * p.K + k); }
  return bAt(base + k * p.N + n);
}

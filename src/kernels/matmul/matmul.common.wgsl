// What every matmul variant shares: the shape parameters, the two override constants and C. A and B
// are declared by matmul.ts (A_PROLOGUE, B_STORAGE) and read only through aRow/aAt/rowScale and bAt.

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

// C = A · Bᵀ for few rows of A (decoding: one row per sequence), fp32, for software adapters with
// 8-lane subgroups. The 16-row tiles of `matmul_subgroup8` would compute 15 wasted rows for a
// single-row A; here the 8 lanes split K instead: lane l takes k = l, l + 8, … so every load of A
// and of a B row is 8 consecutive floats (one vector load, no gather), each lane accumulates 16
// rows × 4 columns, and `subgroupAdd` folds the lanes at the end. Rows past M are skipped by a
// uniform branch. B must be N×K (HF `Linear.weight` layout).

enable subgroups;

struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, ldc: u32, // ldc: row stride of C (N when C is packed)
}

override TRANSPOSE_B: bool = true;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
// Every read of B goes through here, so the f16-weight variant (matmul.ts) only swaps these two lines.
fn bAt(i: u32) -> f32 { return b[i]; }
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const LANES = 8u;
const ROWS = 16u;
const COLS = 4u;

@compute @workgroup_size(8)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = p.M; let N = p.N; let K = p.K;
  let baseA = wid.z * p.strideA;
  let baseB = wid.z * p.strideB;
  let m0 = wid.y * ROWS;
  let n0 = wid.x * COLS;
  var rowB: array<u32, COLS>;
  for (var j = 0u; j < COLS; j++) { rowB[j] = baseB + min(n0 + j, N - 1u) * K; }
  var acc: array<array<f32, COLS>, ROWS>;
  // A uniform loop (the subgroupAdd below needs uniform control flow); the tail is masked.
  for (var k0 = 0u; k0 < K; k0 += LANES) {
    let k = min(k0 + lane, K - 1u);
    let live = k0 + lane < K;
    var bk: array<f32, COLS>;
    for (var j = 0u; j < COLS; j++) { bk[j] = bAt(rowB[j] + k); }
    for (var r = 0u; r < ROWS; r++) {
      if (m0 + r < M) {
        let x = select(0.0, a[baseA + (m0 + r) * K + k], live);
        for (var j = 0u; j < COLS; j++) { acc[r][j] = fma(x, bk[j], acc[r][j]); }
      }
    }
  }
  let baseC = wid.z * p.strideC;
  for (var r = 0u; r < ROWS; r++) {
    if (m0 + r < M) {
      for (var j = 0u; j < COLS; j++) {
        let total = subgroupAdd(acc[r][j]);
        let n = n0 + j;
        if (lane == 0u && n < N) {
          let at = baseC + (m0 + r) * p.ldc + n;
          if (ACCUMULATE) { c[at] += total; } else { c[at] = total; }
        }
      }
    }
  }
}

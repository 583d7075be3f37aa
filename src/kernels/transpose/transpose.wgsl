// out[c][r] = x[r][c] for an R×C matrix, through a 16×16 workgroup tile so both the reads and the
// writes walk consecutive addresses. Used for weight gradients: dW = dYᵀ · X.

struct Params { R: u32, C: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> tile: array<f32, 272>; // 16 × 17: the pad column avoids bank conflicts on GPUs

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = wid.y * 16u + lid.y;
  let c = wid.x * 16u + lid.x;
  if (r < p.R && c < p.C) { tile[lid.y * 17u + lid.x] = x[r * p.C + c]; }
  workgroupBarrier();
  let orow = wid.x * 16u + lid.y; // a column of x
  let ocol = wid.y * 16u + lid.x; // a row of x
  if (orow < p.C && ocol < p.R) { out[orow * p.R + ocol] = tile[lid.x * 17u + lid.y]; }
}

// Sentence embeddings, one workgroup per sequence s of rows [bounds[2s], bounds[2s + 1]): the mean
// of its rows (MODE 0), its first row (1, CLS) or its last (2, last-token), L2-normalised when NORMALIZE.
struct Params { B: u32, H: u32, mode: u32, normalize: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> bounds: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = groupIndex(wid);
  if (s >= p.B) { return; } // uniform per workgroup
  let start = bounds[2u * s];
  let end = bounds[2u * s + 1u];
  var sq = 0.0;
  for (var i = lid; i < p.H; i += WG) {
    var v = 0.0;
    if (p.mode == 0u) {
      for (var r = start; r < end; r++) { v += x[r * p.H + i]; }
      v /= f32(end - start);
    } else if (p.mode == 1u) {
      v = x[start * p.H + i];
    } else {
      v = x[(end - 1u) * p.H + i];
    }
    out[s * p.H + i] = v;
    sq = fma(v, v, sq);
  }
  let norm = sqrt(rowSum(lid, sq));
  if (p.normalize == 0u) { return; }
  // F.normalize's guard: a zero vector stays zero.
  let inv = 1.0 / max(norm, 1e-12);
  for (var i = lid; i < p.H; i += WG) { out[s * p.H + i] *= inv; }
}

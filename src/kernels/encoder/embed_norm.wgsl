// BERT embeddings, one workgroup per row r: LayerNorm(word[ids[r]] + position[positions[r]] + type[0]).
struct Params { T: u32, H: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
@group(0) @binding(2) var<storage, read> word: array<f32>;
@group(0) @binding(3) var<storage, read> position: array<f32>;
@group(0) @binding(4) var<storage, read> tokenType: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = groupIndex(wid);
  if (r >= p.T) { return; } // uniform per workgroup
  let base = r * p.H;
  let w = ids[r] * p.H;
  let q = positions[r] * p.H;
  var sum = 0.0;
  for (var i = lid; i < p.H; i += WG) {
    let v = word[w + i] + position[q + i] + tokenType[i];
    out[base + i] = v;
    sum += v;
  }
  let mean = rowSum(lid, sum) / f32(p.H);
  var sq = 0.0;
  for (var i = lid; i < p.H; i += WG) { let d = out[base + i] - mean; sq = fma(d, d, sq); }
  let scale = inverseSqrt(rowSum(lid, sq) / f32(p.H) + p.eps);
  for (var i = lid; i < p.H; i += WG) { out[base + i] = (out[base + i] - mean) * scale * gamma[i] + beta[i]; }
}

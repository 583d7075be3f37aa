// First pass of an exact top-k over scores [B, N] (one shard of an index): one invocation per
// (query b, chunk c of CHUNK columns) keeps the chunk's best k and writes them to list
// listBase + c of query b in the candidate buffers [B, lists, k], ids offset by idBase.
struct Params { B: u32, N: u32, k: u32, chunks: u32, lists: u32, listBase: u32, idBase: u32, chunk: u32 }

@group(0) @binding(0) var<storage, read> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> outScore: array<f32>;
@group(0) @binding(2) var<storage, read_write> outId: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let b = gid.y;
  if (c >= p.chunks || b >= p.B) { return; }
  clearTop(p.k);
  let end = min((c + 1u) * p.chunk, p.N);
  for (var j = c * p.chunk; j < end; j++) { offer(scores[b * p.N + j], p.idBase + j, p.k); }
  let at = (b * p.lists + p.listBase + c) * p.k;
  for (var i = 0u; i < p.k; i++) { outScore[at + i] = topScore[i]; outId[at + i] = topId[i]; }
}

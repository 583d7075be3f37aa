// A merge pass of the exact top-k: candidate lists [B, lists, k] → [B, ceil(lists / group), k], one
// invocation per (query, group of `group` lists).
struct Params { B: u32, lists: u32, k: u32, group: u32, outLists: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<storage, read> inScore: array<f32>;
@group(0) @binding(1) var<storage, read> inId: array<u32>;
@group(0) @binding(2) var<storage, read_write> outScore: array<f32>;
@group(0) @binding(3) var<storage, read_write> outId: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x;
  let b = gid.y;
  if (g >= p.outLists || b >= p.B) { return; }
  clearTop(p.k);
  let last = min((g + 1u) * p.group, p.lists);
  for (var l = g * p.group; l < last; l++) {
    let at = (b * p.lists + l) * p.k;
    for (var i = 0u; i < p.k; i++) {
      if (inId[at + i] == NONE) { break; } // lists are sorted: the rest is empty
      offer(inScore[at + i], inId[at + i], p.k);
    }
  }
  let at = (b * p.outLists + g) * p.k;
  for (var i = 0u; i < p.k; i++) { outScore[at + i] = topScore[i]; outId[at + i] = topId[i]; }
}

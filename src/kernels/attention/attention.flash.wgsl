// Flash-style grouped-query causal attention over packed rows with a KV cache: the GPU-shaped
// variant of attention.wgsl, with the same rows and result. A workgroup takes 64 consecutive rows of
// one head (one row per invocation, its query and output accumulator in registers as vec4s) and
// walks their keys KEYS at a time staged in workgroup memory (attention.walks.wgsl); the online
// softmax rescales the accumulator once per tile rather than once per key. No scores are stored.

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, scale: f32, _a: u32, _b: u32, _c: u32 }

// Fixed at creation: the head dimension (a multiple of 4, ≤ 256) and keys per tile (KEYS · HEAD_DIM ≤ 1024).
override HEAD_DIM: u32;
override KEYS: u32;
const MAX_D4: u32 = 64u; // vec4s of the largest head dimension

@group(0) @binding(0) var<storage, read> q: array<f32>;      // [T, heads · d]
@group(0) @binding(1) var<storage, read> kCache: array<f32>;   // the layer's key cache [slots, kvHeads · d]
@group(0) @binding(2) var<storage, read> vCache: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<Row>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [T, heads · d]
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let h = wg.y;
  let first = wg.x * TILE_ROWS;
  let t = first + lane;
  let live = t < p.T;
  let d4 = HEAD_DIM / 4u;
  let kvh = h / (p.heads / p.kvHeads);
  let kvWidth = p.kvHeads * HEAD_DIM;
  let at = t * p.heads * HEAD_DIM + h * HEAD_DIM;
  var qv: array<vec4<f32>, MAX_D4>;
  var acc: array<vec4<f32>, MAX_D4>;
  var spans: array<vec2<u32>, 3>;
  if (live) {
    for (var x = 0u; x < d4; x++) {
      let i = at + 4u * x;
      qv[x] = vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]) * p.scale;
      acc[x] = vec4<f32>(0.0);
    }
    let row = rows[t];
    for (var kind = 0u; kind < 3u; kind++) { spans[kind] = rowSpan(row, kind); }
  }
  let count = planWalks(lane, first, p.T);
  let mine = rowWalks[lane];
  var m = -3.0e38;
  var l = 0.0;
  var s: array<f32, MAX_KEYS>;
  for (var w = 0u; w < count; w++) {
    let walk = workgroupUniformLoad(&walks[w]);
    let takes = live && mine[walk.z] == w;
    let span = spans[walk.z];
    for (var j0 = walk.x; j0 < walk.y; j0 += KEYS) {
      workgroupBarrier();
      stageKeys(lane, j0, walk.y, kvh, kvWidth);
      workgroupBarrier();
      var tileMax = -3.0e38;
      for (var c = 0u; c < KEYS; c++) {
        let j = j0 + c;
        s[c] = -3.0e38;
        if (takes && j >= span.x && j < span.y) {
          var dot4 = vec4<f32>(0.0);
          for (var x = 0u; x < d4; x++) { dot4 = fma(qv[x], kTile[c * d4 + x], dot4); }
          s[c] = dot4.x + dot4.y + dot4.z + dot4.w;
          tileMax = max(tileMax, s[c]);
        }
      }
      if (tileMax > -1.0e38) {
        let mNew = max(m, tileMax);
        let correction = exp(m - mNew);
        l *= correction;
        for (var x = 0u; x < d4; x++) { acc[x] *= correction; }
        for (var c = 0u; c < KEYS; c++) {
          if (s[c] > -1.0e38) {
            let weight = exp(s[c] - mNew);
            l += weight;
            for (var x = 0u; x < d4; x++) { acc[x] = fma(vec4<f32>(weight), vTile[c * d4 + x], acc[x]); }
          }
        }
        m = mNew;
      }
    }
  }
  if (!live) { return; }
  for (var x = 0u; x < d4; x++) {
    let o = acc[x] / l;
    let i = at + 4u * x;
    out[i] = o.x;
    out[i + 1u] = o.y;
    out[i + 2u] = o.z;
    out[i + 3u] = o.w;
  }
}

// What the flash-style kernels share (attention.flash.wgsl, attention.flash_dq.wgsl): a workgroup
// takes TILE_ROWS consecutive query rows of one head, one row per invocation, and walks the cache
// slots those rows attend to, staging a tile of keys and values at a time in workgroup memory, so
// each key is read once per 64 rows rather than once per row.
//
// A row attends to up to three spans of slots: its context range, its second context range and its
// own segment [selfStart, kvSlot]. Lane 0 merges the spans of one kind that overlap or touch across
// consecutive rows into one walk — the rows of a prefill share their segment's start, so a tile of
// them makes one walk — and records, per row and kind, the walk its span belongs to. A row takes a
// key only in that walk and only inside its own span: a key is attended once per row even where
// walks of different kinds overlap, and rows of unrelated sequences in one tile cost extra walks,
// not wrong sums.

const TILE_ROWS: u32 = 64u;
const NO_WALK: u32 = 0xffffffffu;

var<workgroup> walks: array<vec4<u32>, 192>;   // [start, end) of each walk, then its kind
var<workgroup> walkCount: u32;
var<workgroup> rowWalks: array<vec4<u32>, 64>; // per row of the tile: its walk of each kind, or NO_WALK

fn rowSpan(row: Row, kind: u32) -> vec2<u32> {
  if (kind == 0u) { return vec2<u32>(row.ctxStart, row.ctxStart + row.ctxLength); }
  if (kind == 1u) { return vec2<u32>(row.ctx2Start, row.ctx2Start + row.ctx2Length); }
  return vec2<u32>(row.selfStart, row.kvSlot + 1u);
}

// Plans the walks of rows [first, first + TILE_ROWS) ∩ [0, T); returns their number to every lane.
fn planWalks(lane: u32, first: u32, T: u32) -> u32 {
  if (lane == 0u) {
    var n = 0u;
    var last = vec3<u32>(NO_WALK);
    for (var r = first; r < min(first + TILE_ROWS, T); r++) {
      let row = rows[r];
      var mine = vec4<u32>(NO_WALK);
      for (var kind = 0u; kind < 3u; kind++) {
        let span = rowSpan(row, kind);
        if (span.x >= span.y) { continue; }
        let at = last[kind];
        if (at != NO_WALK && span.x <= walks[at].y && span.y >= walks[at].x) {
          walks[at] = vec4<u32>(min(walks[at].x, span.x), max(walks[at].y, span.y), kind, 0u);
        } else {
          walks[n] = vec4<u32>(span, kind, 0u);
          last[kind] = n;
          n++;
        }
        mine[kind] = last[kind];
      }
      rowWalks[r - first] = mine;
    }
    walkCount = n;
  }
  return workgroupUniformLoad(&walkCount);
}

// The tiles of keys and values (KEYS rows of HEAD_DIM floats each, KEYS · HEAD_DIM ≤ 1024).
const MAX_KEYS: u32 = 64u;
var<workgroup> kTile: array<vec4<f32>, 256>;
var<workgroup> vTile: array<vec4<f32>, 256>;

// Stages slots [j0, min(j0 + KEYS, end)) of KV head kvh from k and v (rows of kvWidth floats);
// neighbouring lanes read neighbouring words.
fn stageKeys(lane: u32, j0: u32, end: u32, kvh: u32, kvWidth: u32) {
  let d4 = HEAD_DIM / 4u;
  for (var x = lane; x < KEYS * d4; x += TILE_ROWS) {
    let j = j0 + x / d4;
    if (j < end) {
      let at = j * kvWidth + kvh * HEAD_DIM + (x % d4) * 4u;
      kTile[x] = vec4<f32>(kCache[at], kCache[at + 1u], kCache[at + 2u], kCache[at + 3u]);
      vTile[x] = vec4<f32>(vCache[at], vCache[at + 1u], vCache[at + 2u], vCache[at + 3u]);
    }
  }
}

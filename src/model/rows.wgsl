// One packed row of the forward kernels, exactly as src/model/rows.ts packs it (ROW_FIELDS u32):
// the row attends to the context range, then the second context range, then its own segment
// [selfStart, kvSlot] of the layer's KV cache.
struct Row {
  token: u32,
  position: u32,
  kvSlot: u32,
  ctxStart: u32,
  ctxLength: u32,
  selfStart: u32,
  ctx2Start: u32,
  ctx2Length: u32,
}

/**
 * The row layout every forward kernel reads: one packed row per token, ROW_FIELDS u32 each.
 *
 *   0 token      1 position      2 kvSlot (where its key/value go in the layer's cache)
 *   3 ctxStart   4 ctxLength     (a first shared context range of cache slots)
 *   5 selfStart  (its own segment: slots [selfStart, kvSlot])
 *   6 ctx2Start  7 ctx2Length    (a second context range, e.g. documents after a shared prefix)
 *
 * A row attends to ctx, then ctx2, then its own segment up to itself. Training rows use the own
 * segment and, for a shared prompt, ctx (kvSlot = the row itself); scoring and generation share
 * prefixes through the ranges. The kernels read it as the WGSL struct `Row` of rows.wgsl.
 */
export const ROW_FIELDS = 8;

export interface RowInfo {
  token: number;
  position: number;
  kvSlot: number;
  selfStart: number;
  context?: readonly [start: number, length: number];
  context2?: readonly [start: number, length: number];
}

/** The ROW_FIELDS values of a row, in the order of the WGSL `Row` struct (rows.wgsl). */
export function rowFields(row: RowInfo): [number, number, number, number, number, number, number, number] {
  return [row.token, row.position, row.kvSlot, row.context?.[0] ?? 0, row.context?.[1] ?? 0, row.selfStart, row.context2?.[0] ?? 0, row.context2?.[1] ?? 0];
}

/** Writes row `r` into `info` (ROW_FIELDS u32 per row). */
export function packRow(info: Uint32Array, r: number, row: RowInfo): void {
  info.set(rowFields(row), r * ROW_FIELDS);
}

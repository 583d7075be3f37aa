/**
 * The row layout every forward kernel reads: one packed row per token, ROW_FIELDS u32 each.
 *
 *   0 token      1 position      2 kvSlot (where its key/value go in the layer's cache)
 *   3 ctxStart   4 ctxLength     (a first shared context range of cache slots)
 *   5 selfStart  (its own segment: slots [selfStart, kvSlot])
 *   6 ctx2Start  7 ctx2Length    (a second context range, e.g. documents after a shared prefix)
 *
 * A row attends to ctx, then ctx2, then its own segment up to itself. Training rows use only the
 * own segment (kvSlot = the row itself); scoring and generation share prefixes through the ranges.
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

/** Writes row `r` into `info` (ROW_FIELDS u32 per row). */
export function packRow(info: Uint32Array, r: number, row: RowInfo): void {
  const at = r * ROW_FIELDS;
  info[at] = row.token;
  info[at + 1] = row.position;
  info[at + 2] = row.kvSlot;
  info[at + 3] = row.context?.[0] ?? 0;
  info[at + 4] = row.context?.[1] ?? 0;
  info[at + 5] = row.selfStart;
  info[at + 6] = row.context2?.[0] ?? 0;
  info[at + 7] = row.context2?.[1] ?? 0;
}

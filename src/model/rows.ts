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
import { IgSearchError } from '../errors.js';

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

/** The attention ranges of row `r` of `info` (rows of `fields` u32, laid out as above), by name. */
export function rowRanges(info: Uint32Array, r: number, fields = ROW_FIELDS): { kvSlot: number; ctxStart: number; ctxLength: number; selfStart: number; ctx2Start: number; ctx2Length: number } {
  const at = r * fields;
  return { kvSlot: info[at + 2]!, ctxStart: info[at + 3]!, ctxLength: info[at + 4]!, selfStart: info[at + 5]!, ctx2Start: info[at + 6]!, ctx2Length: info[at + 7]! };
}

/** Consecutive sequences sharing their first `prefix` tokens (see GradientOptions.sharedPrefixes). */
export interface SharedPrefix {
  count: number;
  prefix: number;
}

/**
 * The training rows of a batch: plain sequences back to back, or, for a group sharing a prefix,
 * the prefix's first P − 1 tokens once, then each sequence from token P − 1 on, attending to them.
 * `rowOf(s, k)` is the row whose output predicts token k + 1 of sequence s; `ends[j]` the exclusive
 * end of the rows that attend to row j (what the attention backward's dK/dV pass iterates).
 */
export function packTrainingRows(sequences: readonly ArrayLike<number>[], groups: readonly SharedPrefix[] | undefined, vocab: number, maxPositions: number) {
  const layout = groups ?? sequences.map(() => ({ count: 1, prefix: 0 }));
  if (layout.reduce((n, g) => n + g.count, 0) !== sequences.length) throw new IgSearchError('SHAPE_MISMATCH', `gradients: sharedPrefixes cover ${layout.reduce((n, g) => n + g.count, 0)} sequences, the batch has ${sequences.length}`);
  // Shared rows per group (prefix − 1 tokens, when at least two sequences share at least two tokens).
  let first = 0;
  const sharedRows = layout.map((g, gi) => {
    if (!Number.isInteger(g.count) || g.count < 1 || !Number.isInteger(g.prefix) || g.prefix < 0) throw new IgSearchError('INVALID_ARGUMENT', `gradients: sharedPrefixes[${gi}] = ${JSON.stringify(g)} needs an integer count ≥ 1 and prefix ≥ 0`);
    const members = sequences.slice(first, first + g.count);
    for (const [j, seq] of members.entries()) {
      if (g.prefix > seq.length) throw new IgSearchError('SHAPE_MISMATCH', `gradients: sharedPrefixes[${gi}].prefix ${g.prefix} is longer than sequences[${first + j}] (${seq.length} tokens)`);
      for (let k = 0; k < g.prefix; k++) {
        if (seq[k] !== members[0]![k]) throw new IgSearchError('INVALID_ARGUMENT', `gradients: sequences[${first + j}][${k}] differs from sequences[${first}][${k}] inside the shared prefix of group ${gi}`);
      }
    }
    first += g.count;
    return g.count > 1 && g.prefix >= 2 ? g.prefix - 1 : 0;
  });
  const T = sequences.reduce((n, s) => n + s.length, 0) - layout.reduce((n, g, gi) => n + (g.count - 1) * sharedRows[gi]!, 0);
  const tokens = new Uint32Array(T);
  const targets = new Uint32Array(T);
  const meta = new Uint32Array(T * ROW_FIELDS);
  const ends = new Uint32Array(T);
  const own: number[] = []; // first row of each sequence's own part
  const prefixRows: { start: number; length: number }[] = [];
  let row = 0;
  let s = 0;
  layout.forEach((g, gi) => {
    const shared = sharedRows[gi]!;
    const sharedStart = row;
    const groupLength = shared + sequences.slice(s, s + g.count).reduce((n, seq) => n + seq.length - shared, 0);
    const lead = sequences[s]!;
    for (let k = 0; k < shared; k++, row++) {
      tokens[row] = lead[k]!;
      targets[row] = lead[k + 1]!;
      packRow(meta, row, { token: lead[k]!, position: k, kvSlot: row, selfStart: sharedStart });
      ends[row] = sharedStart + groupLength;
    }
    for (let m = 0; m < g.count; m++, s++) {
      const seq = sequences[s]!;
      if (seq.length < 2) throw new IgSearchError('INVALID_ARGUMENT', `sequences[${s}] needs at least 2 tokens`);
      if (seq.length > maxPositions) throw new IgSearchError('OUT_OF_RANGE', `sequences[${s}]: ${seq.length} positions exceed max_position_embeddings ${maxPositions}`);
      const start = row;
      own.push(start);
      prefixRows.push({ start: sharedStart, length: shared });
      for (let k = 0; k < seq.length; k++) {
        const token = seq[k]!;
        if (!Number.isInteger(token) || token < 0 || token >= vocab) throw new IgSearchError('OUT_OF_RANGE', `sequences[${s}][${k}] = ${token} is not a token id (vocab_size ${vocab})`);
        if (k < shared) continue;
        tokens[row] = token;
        targets[row] = k + 1 < seq.length ? seq[k + 1]! : 0;
        packRow(meta, row, { token, position: k, kvSlot: row, selfStart: start, context: shared ? [sharedStart, shared] : undefined });
        ends[row] = start + seq.length - shared;
        row++;
      }
    }
  });
  const shared = (s: number, k: number) => k < prefixRows[s]!.length;
  const rowOf = (s: number, k: number) => (shared(s, k) ? prefixRows[s]!.start + k : own[s]! + k - prefixRows[s]!.length);
  return { T, tokens, targets, meta, ends, rowOf, shared };
}

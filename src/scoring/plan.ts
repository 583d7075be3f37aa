/**
 * Packing for teacher-forced scoring. Requests are paths of token segments — e.g. [trajectory
 * prefix, retrieved documents + "<answer>", " " + gold answer] — whose final tokens are scored. Equal
 * leading segments are stored once (a trie): their rows are computed once and every path below
 * attends to them through the KV cache. Rows are laid out parents first, so a row's context is
 * always computed in the same or an earlier chunk.
 *
 * Each row's metadata (8 u32, read by the kernels): token, position, KV slot, first context range
 * (start, length), first row of its own segment, second context range (start, length).
 */
import { IgSearchError } from '../errors.js';

import { ROW_FIELDS, rowFields } from '../model/rows.js';
export { ROW_FIELDS };
/** Context ranges a row can attend to besides its own segment (so paths share up to two levels). */
const MAX_CONTEXTS = 2;

export interface ScorePath {
  segments: readonly ArrayLike<number>[];
  /** How many final tokens of the path to score (default: all of the last segment). */
  scoreLast?: number;
}

/** A scored token: the row whose output predicts it, the token, and where its log-prob goes. */
export interface Selection {
  row: number;
  target: number;
  slot: number;
}

interface Node {
  rowStart: number;
  length: number;
  posStart: number;
  contexts: [number, number][];
  children: Map<string, Node>;
}

export class ScorePlan {
  private readonly meta: number[] = [];
  readonly selections: Selection[] = [];
  private readonly root: Node = { rowStart: 0, length: 0, posStart: 0, contexts: [], children: new Map() };
  private slotCount = 0;
  maxPosition = 0;

  get rows(): number {
    return this.meta.length / ROW_FIELDS;
  }

  get slots(): number {
    return this.slotCount;
  }

  /** Row metadata for the kernels. */
  rowInfo(): Uint32Array {
    return Uint32Array.from(this.meta);
  }

  /**
   * Adds a path; returns the result slots of its scored tokens, in order. With `share`, leading
   * segments equal to ones already added are reused (up to two levels; deeper segments are merged
   * into the last one).
   */
  add(path: ScorePath, share: boolean): number[] {
    const segments = path.segments.filter((s) => s.length > 0);
    const total = segments.reduce((n, s) => n + s.length, 0);
    const scoreLast = path.scoreLast ?? path.segments[path.segments.length - 1]?.length ?? 0;
    if (!Number.isInteger(scoreLast) || scoreLast < 0 || scoreLast > total - 1) {
      if (scoreLast === 0) return [];
      throw new IgSearchError('INVALID_ARGUMENT', `scoreLast ${scoreLast} must be an integer in [0, ${Math.max(0, total - 1)}]: the first token of a path has no context to be scored from`);
    }
    let parts: ArrayLike<number>[] = segments;
    if (!share) parts = segments.length ? [concat(segments)] : [];
    else if (segments.length > MAX_CONTEXTS + 1) parts = [...segments.slice(0, MAX_CONTEXTS), concat(segments.slice(MAX_CONTEXTS))];
    // Nodes along the path; the last one is never shared when not sharing.
    const nodes: { node: Node; tokens: ArrayLike<number> }[] = [];
    let parent = this.root;
    parts.forEach((tokens) => {
      const key = share ? keyOf(tokens) : `#${this.rows}`;
      let node = share ? parent.children.get(key) : undefined;
      if (!node) {
        node = this.append(parent, tokens);
        if (share) parent.children.set(key, node);
      }
      nodes.push({ node, tokens });
      parent = node;
    });
    // Scored tokens: global index g ∈ [total − scoreLast, total) is predicted by the row of g − 1.
    const rowOf: number[] = [];
    const tokenOf: number[] = [];
    for (const { node, tokens } of nodes) {
      for (let k = 0; k < tokens.length; k++) {
        rowOf.push(node.rowStart + k);
        tokenOf.push(tokens[k]!);
      }
    }
    const slots: number[] = [];
    for (let g = total - scoreLast; g < total; g++) {
      const slot = this.slotCount++;
      this.selections.push({ row: rowOf[g - 1]!, target: tokenOf[g]!, slot });
      slots.push(slot);
    }
    return slots;
  }

  /** Selections grouped by row order (the order the forward pass meets them). */
  sortedSelections(): Selection[] {
    return [...this.selections].sort((a, b) => a.row - b.row || a.slot - b.slot);
  }

  private append(parent: Node, tokens: ArrayLike<number>): Node {
    const contexts: [number, number][] = parent === this.root ? [] : [...parent.contexts, [parent.rowStart, parent.length]];
    if (contexts.length > MAX_CONTEXTS) throw new Error('unreachable: path depth is capped before append');
    const node: Node = { rowStart: this.rows, length: tokens.length, posStart: parent.posStart + parent.length, contexts, children: new Map() };
    const none: [number, number] = [0, 0];
    const [c1, c2] = [contexts[0] ?? none, contexts[1] ?? none];
    for (let k = 0; k < tokens.length; k++) {
      const pos = node.posStart + k;
      this.meta.push(...rowFields({ token: tokens[k]!, position: pos, kvSlot: node.rowStart + k, context: c1, selfStart: node.rowStart, context2: c2 }));
      this.maxPosition = Math.max(this.maxPosition, pos);
    }
    return node;
  }
}

function concat(parts: readonly ArrayLike<number>[]): number[] {
  const out: number[] = [];
  for (const p of parts) for (let i = 0; i < p.length; i++) out.push(p[i]!);
  return out;
}

function keyOf(tokens: ArrayLike<number>): string {
  return Array.prototype.join.call(tokens, ',');
}

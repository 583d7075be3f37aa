/**
 * The LM head — the final RMSNorm and the vocabulary projection (tied to the embedding or not,
 * sharded by the binding limit) followed by the online log-softmax — in every pass that runs it.
 * The vocabulary is walked in chunks of `vocabChunk` columns per shard, the same walk for scoring,
 * for the training pass's forward and for its backward (which recomputes each chunk's logits
 * rather than keeping [rows, vocab]).
 *
 * Scoring folds the norm into each chunk's product (one dispatch fewer, S·H work recomputed); the
 * training pass keeps the normed rows, which the projection's backward reads.
 */
import type { BufferSlice, DispatchBatch } from '../gpu/device.js';
import type { LinearBackward } from '../kernels/linear/linear.js';
import type { LogsoftmaxGather, LogsoftmaxGatherBackward } from '../kernels/logsoftmax/logsoftmax.js';
import type { Matmul } from '../kernels/matmul/matmul.js';
import type { Rmsnorm, RmsnormBackward } from '../kernels/rmsnorm/rmsnorm.js';

/** One vocabulary shard of the head (or embedding) table: rows [rowStart, rowStart + rows). */
export interface VocabShard {
  buffer: GPUBuffer;
  rowStart: number;
  rows: number;
}

/** A slice of one shard's columns whose logits are computed together. */
export interface HeadChunk {
  shard: VocabShard;
  /** The shard's index (its gradient buffer). */
  index: number;
  from: number;
  cols: number;
}

export interface HeadKernels {
  matmul: Matmul;
  /** The final norm folded into the product, on the rows an index picks. */
  matmulNormIndirect: Matmul;
  rmsnorm: Rmsnorm;
  logsoftmax: LogsoftmaxGather;
}

export interface HeadBackwardKernels {
  logsoftmax: LogsoftmaxGatherBackward;
  linear: LinearBackward;
  rmsnorm: RmsnormBackward;
}

export class LmHead {
  constructor(
    readonly shards: readonly VocabShard[],
    readonly finalNorm: GPUBuffer,
    readonly hidden: number,
    readonly vocab: number,
    /** Bytes per stored weight (f32 4, bf16/f16 2). */
    readonly weightBytes: number,
    readonly eps: number,
    private readonly k: HeadKernels,
  ) {}

  chunks(vocabChunk: number): HeadChunk[] {
    const out: HeadChunk[] = [];
    this.shards.forEach((shard, index) => {
      for (let from = 0; from < shard.rows; from += vocabChunk) out.push({ shard, index, from, cols: Math.min(vocabChunk, shard.rows - from) });
    });
    return out;
  }

  /** The weight rows of a chunk. */
  weights(ch: HeadChunk): BufferSlice {
    const bytes = this.hidden * this.weightBytes;
    return { buffer: ch.shard.buffer, offset: ch.from * bytes, size: ch.cols * bytes };
  }

  /**
   * Scoring: log p(target) of the `S` rows of `x` that `index` picks into `results[outBase…]`,
   * the norm folded into each chunk's product.
   */
  encodeScores(batch: DispatchBatch, S: number, b: { x: GPUBuffer; index: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; logits: GPUBuffer; results: GPUBuffer }, vocabChunk: number, outBase: number): void {
    const chunks = this.chunks(vocabChunk);
    chunks.forEach((ch, i) => {
      this.k.matmulNormIndirect.encode(batch, b.x, this.weights(ch), b.logits, { M: S, N: ch.cols, K: this.hidden, transposeB: true }, { normWeight: this.finalNorm, rowIndex: b.index });
      this.encodeGather(batch, S, b, ch, i === 0, i === chunks.length - 1, outBase);
    });
  }

  /** The full logits ([S, vocab] into `out`) of the rows `index` picks: one product per shard. */
  encodeLogits(batch: DispatchBatch, S: number, b: { x: GPUBuffer; index: GPUBuffer; out: GPUBuffer }): void {
    const H = this.hidden;
    const V = this.vocab;
    for (const shard of this.shards) {
      const weights: BufferSlice = { buffer: shard.buffer, offset: 0, size: shard.rows * H * this.weightBytes };
      const out: BufferSlice = { buffer: b.out, offset: shard.rowStart * 4, size: ((S - 1) * V + shard.rows) * 4 };
      this.k.matmulNormIndirect.encode(batch, b.x, weights, out, { M: S, N: shard.rows, K: H, transposeB: true, ldc: V }, { normWeight: this.finalNorm, rowIndex: b.index });
    }
  }

  /**
   * The training pass's forward on `n` rows of the stream `x`: the normed rows into `hN` (kept for
   * the backward), log p(target) into `results[outBase…]`.
   */
  encodeTrainingForward(batch: DispatchBatch, n: number, b: { x: GPUBuffer; rows: GPUBuffer; hN: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; logits: GPUBuffer; results: GPUBuffer }, chunks: readonly HeadChunk[], outBase: number): void {
    this.k.rmsnorm.encode(batch, { x: b.x, weight: this.finalNorm, index: b.rows, out: b.hN }, { T: n, H: this.hidden, eps: this.eps });
    chunks.forEach((ch, i) => {
      this.k.matmul.encode(batch, b.hN, this.weights(ch), b.logits, { M: n, N: ch.cols, K: this.hidden, transposeB: true });
      this.encodeGather(batch, n, b, ch, i === 0, i === chunks.length - 1, outBase);
    });
  }

  /**
   * Its backward, given d L / d log p per row (`upstream`): each chunk's logits recomputed from `hN`,
   * dhN accumulated over the chunks, then the final norm's backward into `dx` and its per-row
   * weight terms into `dwRows` (the caller sums them). `dHead` (per shard; none when frozen) gets the
   * projection's gradient. `dhN` must start at zero.
   */
  encodeTrainingBackward(
    batch: DispatchBatch,
    K: HeadBackwardKernels,
    n: number,
    b: { xFinal: GPUBuffer; hN: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; upstream: GPUBuffer; logits: GPUBuffer; dzT: GPUBuffer; dhN: GPUBuffer; dx: GPUBuffer; dwRows: GPUBuffer },
    chunks: readonly HeadChunk[],
    dHead: readonly GPUBuffer[] | undefined,
  ): void {
    const H = this.hidden;
    for (const ch of chunks) {
      this.k.matmul.encode(batch, b.hN, this.weights(ch), b.logits, { M: n, N: ch.cols, K: H, transposeB: true });
      K.logsoftmax.encode(batch, { logits: b.logits, targets: b.targets, state: b.state, upstream: b.upstream }, { T: n, cols: ch.cols, colStart: ch.shard.rowStart + ch.from });
      const dW: BufferSlice | undefined = dHead && { buffer: dHead[ch.index]!, offset: ch.from * H * 4, size: ch.cols * H * 4 };
      K.linear.encode(batch, { x: b.hN, w: this.weights(ch), dy: b.logits, dx: b.dhN, dw: dW, dyT: b.dzT }, { T: n, in: H, out: ch.cols }, { dx: true, dw: true });
    }
    K.rmsnorm.encode(batch, { x: b.xFinal, weight: this.finalNorm, dy: b.dhN, dx: b.dx, dwRows: b.dwRows }, { T: n, H, eps: this.eps });
  }

  private encodeGather(batch: DispatchBatch, n: number, b: { logits: GPUBuffer; targets: GPUBuffer; state: GPUBuffer; results: GPUBuffer }, ch: HeadChunk, first: boolean, last: boolean, outBase: number): void {
    this.k.logsoftmax.encode(batch, { logits: b.logits, targets: b.targets, state: b.state, out: b.results }, { T: n, cols: ch.cols, colStart: ch.shard.rowStart + ch.from, first, last, outBase });
  }
}

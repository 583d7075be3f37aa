/**
 * Backward of a linear layer y = x · Wᵀ (+ b), HF layout W [out, in], composed from matmul and
 * transpose:  dx (+)= dy · W,  dW (+)= dyᵀ · x,  db (+)= Σ_rows dy  (= 1ᵀ · dy).
 * Gradients accumulate into their buffers when `accumulate` is set (micro-batches).
 */
import type { BufferSlice, DispatchBatch, Gpu } from '../../gpu/device.js';
import { Matmul, type StorageDtype } from '../matmul/matmul.js';
import { Transpose } from '../transpose/transpose.js';

export class LinearBackward {
  private constructor(
    private readonly plain: Matmul,
    private readonly accumulating: Matmul,
    private readonly transpose: Transpose,
    /** dx = dy·W reads the weights as stored (bf16/f16 for a frozen LoRA base). */
    private readonly plainW: Matmul,
    private readonly accumulatingW: Matmul,
  ) {}

  static async create(gpu: Gpu, options: { weights?: StorageDtype } = {}): Promise<LinearBackward> {
    const dtypeB = options.weights ?? 'f32';
    const [plain, accumulating, transpose] = await Promise.all([Matmul.create(gpu, {}), Matmul.create(gpu, { accumulate: true }), Transpose.create(gpu)]);
    const [plainW, accumulatingW] = dtypeB === 'f32' ? [plain, accumulating] : await Promise.all([Matmul.create(gpu, { dtypeB }), Matmul.create(gpu, { accumulate: true, dtypeB })]);
    return new LinearBackward(plain, accumulating, transpose, plainW, accumulatingW);
  }

  /**
   * `dyT` is scratch of T·out floats. `ones` holds T ones (for the bias gradient) when `db` is given.
   */
  encode(
    batch: DispatchBatch,
    b: { x: GPUBuffer; w: GPUBuffer | BufferSlice; dy: GPUBuffer; dx?: GPUBuffer; dw?: GPUBuffer | BufferSlice; db?: GPUBuffer; dyT: GPUBuffer; ones?: GPUBuffer },
    shape: { T: number; in: number; out: number },
    accumulate: { dx?: boolean; dw?: boolean; db?: boolean } = {},
  ): void {
    const { T } = shape;
    const mm = (acc: boolean | undefined) => (acc ? this.accumulating : this.plain);
    if (b.dx) (accumulate.dx ? this.accumulatingW : this.plainW).encode(batch, b.dy, b.w, b.dx, { M: T, N: shape.in, K: shape.out });
    if (b.dw) {
      this.transpose.encode(batch, { x: b.dy, out: b.dyT }, { R: T, C: shape.out });
      mm(accumulate.dw).encode(batch, b.dyT, b.x, b.dw, { M: shape.out, N: shape.in, K: T });
    }
    if (b.db && b.ones) mm(accumulate.db).encode(batch, b.ones, b.dy, b.db, { M: 1, N: shape.out, K: T });
  }
}

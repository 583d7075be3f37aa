/**
 * Backward of a linear layer y = x · Wᵀ (+ b), HF layout W [out, in], composed from matmul and
 * transpose:  dx (+)= dy · W,  dW (+)= dyᵀ · x,  db (+)= Σ_rows dy  (= 1ᵀ · dy).
 * Gradients accumulate into their buffers when `accumulate` is set (micro-batches).
 */
import type { BufferSlice, DispatchBatch, Gpu } from '../../gpu/device.js';
import type { CompiledKernel } from '../../gpu/pipelines.js';
import { Matmul } from '../matmul/matmul.js';
import { encodeTranspose, transposeKernel } from '../transpose/transpose.js';

export class LinearBackward {
  private constructor(
    private readonly plain: Matmul,
    private readonly accumulating: Matmul,
    private readonly transpose: CompiledKernel,
  ) {}

  static async create(gpu: Gpu): Promise<LinearBackward> {
    const [plain, accumulating, transpose] = await Promise.all([Matmul.create(gpu, {}), Matmul.create(gpu, { accumulate: true }), gpu.kernel(transposeKernel)]);
    return new LinearBackward(plain, accumulating, transpose);
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
    if (b.dx) mm(accumulate.dx).encode(batch, b.dy, b.w, b.dx, { M: T, N: shape.in, K: shape.out });
    if (b.dw) {
      encodeTranspose(batch, this.transpose, b.dy, b.dyT, { R: T, C: shape.out });
      mm(accumulate.dw).encode(batch, b.dyT, b.x, b.dw, { M: shape.out, N: shape.in, K: T });
    }
    if (b.db && b.ones) mm(accumulate.db).encode(batch, b.ones, b.dy, b.db, { M: 1, N: shape.out, K: T });
  }
}

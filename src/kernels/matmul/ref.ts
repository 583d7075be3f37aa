/**
 * The obvious loop, in f64, that every matmul variant is tested against. Shapes as in
 * `MatmulShape`: A is batch×M×K, B is (1 or batch)×K×N, or ×N×K when `transposeB`.
 */
import type { MatmulShape } from './matmul.js';

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, shape: MatmulShape): Float64Array {
  const { M, N, K } = shape;
  const batch = shape.batch ?? 1;
  const strideB = shape.broadcastB ? 0 : K * N;
  const c = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const bv = shape.transposeB ? b[z * strideB + n * K + k]! : b[z * strideB + k * N + n]!;
          acc += a[z * M * K + m * K + k]! * bv;
        }
        c[z * M * N + m * N + n] = acc;
      }
    }
  }
  return c;
}

/**
 * f64 reference rotate-half RoPE of one head vector `x` (length d) at `pos`: pairs (j, j + d/2)
 * are rotated by pos·θ^(−2j/d) (Llama-3-scaled frequencies when `scaling` is given).
 */
import type { Llama3RopeScaling } from '../../model/config.js';
import { ropeInverseFrequencies } from './rope.js';

export function ropeRef(x: ArrayLike<number>, pos: number, theta: number, scaling?: Llama3RopeScaling): Float64Array {
  const d = x.length;
  const half = d / 2;
  const inv = ropeInverseFrequencies(d, theta, scaling, (v) => v);
  const out = new Float64Array(d);
  for (let j = 0; j < half; j++) {
    const angle = pos * inv[j]!;
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    out[j] = x[j]! * c - x[j + half]! * s;
    out[j + half] = x[j + half]! * c + x[j]! * s;
  }
  return out;
}

/** f64 reference backward of `ropeRef`: the rotation is orthogonal, so dx is dy rotated back — the same rotation at −pos. */
export function ropeBackwardRef(dy: ArrayLike<number>, pos: number, theta: number, scaling?: Llama3RopeScaling): Float64Array {
  return ropeRef(dy, -pos, theta, scaling);
}

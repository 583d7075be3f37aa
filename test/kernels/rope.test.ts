// RoPE and its backward against their f64 references (src/kernels/rope/ref.ts).
import { describe, expect, it } from 'vitest';
import { ropeBackwardRef, ropeRef } from '../../src/kernels/rope/ref.js';
import { Rope, RopeBackward, ropeTable } from '../../src/kernels/rope/rope.js';
import { rowInfo, runKernel, withGpu } from '../helpers/gpu.js';
import { dot, maxScaledError, mulberry32, randomFloats } from '../helpers/random.js';

const env = withGpu();

describe('RoPE vs its f64 reference', () => {
  it('RoPE + bias: q rotated in place, k and v scattered to their cache rows', async () => {
    const rng = mulberry32(3);
    const [T, heads, kvHeads, d, theta] = [6, 4, 2, 16, 10000];
    const width = (heads + 2 * kvHeads) * d;
    const qkv = randomFloats(T * width, rng);
    const bias = randomFloats(width, rng);
    const positions = [0, 1, 2, 7, 100, 4095];
    const slots = [5, 3, 0, 1, 4, 2];
    const info = env.gpu.upload(rowInfo(positions.map((p, i) => [0, p, slots[i]!])));
    const [q, kc, vc] = [env.gpu.allocate(T * heads * d * 4), env.gpu.allocate(T * kvHeads * d * 4), env.gpu.allocate(T * kvHeads * d * 4)];
    const kernel = await Rope.create(env.gpu);
    const b = { qkv: env.gpu.upload(qkv), bias: env.gpu.upload(bias), rows: info, table: env.gpu.upload(ropeTable(4096, d, theta)), q, kCache: kc, vCache: vc };
    const gotQ = await runKernel(env.gpu, (batch) => kernel.encode(batch, b, { T, heads, kvHeads, headDim: d }), q, T * heads * d);
    const gotK = new Float32Array(await env.gpu.read(kc, T * kvHeads * d * 4));
    const gotV = new Float32Array(await env.gpu.read(vc, T * kvHeads * d * 4));
    for (let t = 0; t < T; t++) {
      // The kernel's angles are fp32 products, as HF computes them; the reference's are exact, so
      // they drift apart by about pos · ulp(θ^(−2j/d)).
      const tolerance = 2e-5 + 6e-8 * positions[t]!;
      const head = (h: number) => Array.from({ length: d }, (_, i) => qkv[t * width + h * d + i]! + bias[h * d + i]!);
      for (let h = 0; h < heads; h++) expect(maxScaledError(gotQ.subarray((t * heads + h) * d, (t * heads + h + 1) * d), ropeRef(head(h), positions[t]!, theta))).toBeLessThan(tolerance);
      for (let h = 0; h < kvHeads; h++) {
        const at = (slots[t]! * kvHeads + h) * d;
        expect(maxScaledError(gotK.subarray(at, at + d), ropeRef(head(heads + h), positions[t]!, theta))).toBeLessThan(tolerance);
        expect(maxScaledError(gotV.subarray(at, at + d), head(heads + kvHeads + h))).toBeLessThan(1e-6);
      }
    }
  });


  it('the backward reference is the adjoint of the rotation: <rope(x), dy> = <x, rope⁻ᵀ(dy)>', () => {
    const rng = mulberry32(13);
    const scaling = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 };
    for (const pos of [0, 3, 1000]) {
      const [x, dy] = [randomFloats(32, rng), randomFloats(32, rng)];
      expect(Math.abs(dot(ropeRef(x, pos, 500000, scaling), dy) - dot(x, ropeBackwardRef(dy, pos, 500000, scaling)))).toBeLessThan(1e-12);
    }
  });

  it('backward: dQ and dK rotated back into the fused q/k/v gradient, dV copied', async () => {
    const rng = mulberry32(14);
    const [T, heads, kvHeads, d, theta] = [6, 4, 2, 16, 10000];
    const width = (heads + 2 * kvHeads) * d;
    const positions = [0, 1, 2, 7, 100, 4095];
    const [dQ, dK, dV] = [randomFloats(T * heads * d, rng), randomFloats(T * kvHeads * d, rng), randomFloats(T * kvHeads * d, rng)];
    const dqkv = env.gpu.allocate(T * width * 4);
    const kernel = await RopeBackward.create(env.gpu);
    const b = { dQ: env.gpu.upload(dQ), dK: env.gpu.upload(dK), dV: env.gpu.upload(dV), rows: env.gpu.upload(rowInfo(positions.map((p, t) => [0, p, t]))), table: env.gpu.upload(ropeTable(4096, d, theta)), dqkv };
    const got = await runKernel(env.gpu, (batch) => kernel.encode(batch, b, { T, heads, kvHeads, headDim: d }), dqkv, T * width);
    for (let t = 0; t < T; t++) {
      const tolerance = 2e-5 + 6e-8 * positions[t]!; // f32 angles vs exact ones, as in the forward test
      const at = (h: number) => got.subarray(t * width + h * d, t * width + (h + 1) * d);
      for (let h = 0; h < heads; h++) expect(maxScaledError(at(h), ropeBackwardRef(dQ.subarray((t * heads + h) * d, (t * heads + h + 1) * d), positions[t]!, theta))).toBeLessThan(tolerance);
      for (let h = 0; h < kvHeads; h++) {
        const row = (t * kvHeads + h) * d;
        expect(maxScaledError(at(heads + h), ropeBackwardRef(dK.subarray(row, row + d), positions[t]!, theta))).toBeLessThan(tolerance);
        expect(maxScaledError(at(heads + kvHeads + h), dV.subarray(row, row + d))).toBe(0);
      }
    }
  });
});

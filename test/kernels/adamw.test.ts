import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdamW, IgSearchError } from '../../src/entry/node.js';
import { withGpu } from '../helpers/gpu.js';

const env = withGpu();

// torch.optim.AdamW + clip_grad_norm_, three steps (scripts/fixtures.py → test/fixtures/adamw.json).
const fixture = JSON.parse(readFileSync('test/fixtures/adamw.json', 'utf8')) as {
  options: { lr: number; betas: [number, number]; eps: number; weightDecay: number; maxGradNorm: number };
  initial: number[][];
  steps: { grads: number[][]; norm: number; params: number[][] }[];
};

async function setup() {
  const tensors = fixture.initial.map((values, i) => ({
    name: `w${i}`,
    param: env.gpu.upload(Float32Array.from(values)),
    grad: env.gpu.allocate(values.length * 4),
    size: values.length,
  }));
  const optimizer = await AdamW.create(env.gpu, tensors, fixture.options);
  const setGrads = (grads: number[][]) => grads.forEach((g, i) => env.gpu.device.queue.writeBuffer(tensors[i]!.grad, 0, Float32Array.from(g)));
  const read = async () => Promise.all(tensors.map(async (t) => Array.from(new Float32Array(await env.gpu.read(t.param, t.size * 4)))));
  return { tensors, optimizer, setGrads, read };
}

function maxDiff(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i]![j]!))));
}

describe('AdamW on the GPU vs torch.optim.AdamW', () => {
  it('three steps (one clipped) give torch’s weights to 1e-6 and torch’s gradient norms', async () => {
    const { optimizer, setGrads, read } = await setup();
    for (const step of fixture.steps) {
      setGrads(step.grads);
      const report = await optimizer.step();
      expect(report.skipped).toBe(false);
      expect(report.gradNorm).toBeCloseTo(step.norm, 5);
      expect(maxDiff(await read(), step.params)).toBeLessThan(1e-6);
    }
    expect(fixture.steps[1]!.norm).toBeGreaterThan(fixture.options.maxGradNorm); // the clipped case is exercised
    optimizer.free();
  });

  it('a NaN or Inf gradient skips the step and leaves weights, moments and the step count untouched', async () => {
    const { optimizer, setGrads, read } = await setup();
    setGrads(fixture.steps[0]!.grads);
    await optimizer.step();
    const before = await read();
    const moments = await Promise.all(optimizer.m.map(async (b, i) => Array.from(new Float32Array(await env.gpu.read(b, fixture.initial[i]!.length * 4)))));
    for (const bad of [NaN, Infinity]) {
      const grads = fixture.steps[1]!.grads.map((g) => [...g]);
      grads[1]![4] = bad;
      setGrads(grads);
      const report = await optimizer.step();
      expect(report.skipped).toBe(true);
      expect(report.step).toBe(1);
      expect(await read()).toEqual(before);
      const after = await Promise.all(optimizer.m.map(async (b, i) => Array.from(new Float32Array(await env.gpu.read(b, fixture.initial[i]!.length * 4)))));
      expect(after).toEqual(moments);
    }
    // Resuming with the real gradients reproduces torch's run exactly as if nothing happened.
    for (const step of fixture.steps.slice(1)) {
      setGrads(step.grads);
      await optimizer.step();
      expect(maxDiff(await read(), step.params)).toBeLessThan(1e-6);
    }
    optimizer.free();
  });

  it('bad options are typed errors', async () => {
    const t = [{ name: 'w', param: env.gpu.allocate(16), grad: env.gpu.allocate(16), size: 4 }];
    await expect(AdamW.create(env.gpu, t, { lr: -1 })).rejects.toThrow(IgSearchError);
    await expect(AdamW.create(env.gpu, t, { lr: 1e-3, betas: [0.9, 1] })).rejects.toThrow(/betas must be < 1/);
    await expect(AdamW.create(env.gpu, [{ ...t[0]!, size: 100 }], { lr: 1e-3 })).rejects.toThrow(/smaller than its 100 values/);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdamW, IgSearchError, policyLoss, CausalLM, modelGradients, readModelTensor } from '../src/entry/node.js';
import { readSafetensorsHeader, tensorToF32 } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();

// torch autograd of L = Σ c_t · log p(x[t+1] | x[..t]) (scripts/fixtures.py → grads.safetensors).
const dir = 'test/fixtures/qwen2/tiny-f32';

describe('whole-model gradients vs PyTorch autograd', () => {
  it.each(['rows', 'flash'] as const)('every parameter’s gradient matches to relative error ≤ 1e-5 (measured 2.8e-6): %s attention', async (attentionVariant) => {
    const fixture = JSON.parse(readFileSync(`${dir}/grads.json`, 'utf8')) as { sequences: number[][]; coefficients: number[][]; loss: number };
    const bytes = new Uint8Array(readFileSync(`${dir}/grads.safetensors`));
    const expected = readSafetensorsHeader(bytes, 'grads.safetensors');
    const model = await CausalLM.load(env.gpu, dir, { attentionVariant });
    const grads = await modelGradients(model, fixture.sequences, fixture.coefficients);
    const loss = grads.logprobs.reduce((s, lp, i) => s + lp.reduce((a, v, t) => a + v * fixture.coefficients[i]![t]!, 0), 0);
    expect(loss).toBeCloseTo(fixture.loss, 3);
    expect(grads.buffers.size).toBe(expected.size);
    const worst: [string, number][] = [];
    for (const [name, info] of expected) {
      const want = tensorToF32(bytes, info);
      const got = await grads.read(name);
      expect(got.length, name).toBe(want.length);
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < want.length; i++) {
        diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
        scale = Math.max(scale, Math.abs(want[i]!));
      }
      worst.push([name, diff / scale]);
    }
    worst.sort((a, b) => b[1] - a[1]);
    expect(worst[0]![1], `${worst[0]![0]}`).toBeLessThan(1e-5);
    grads.free();
    model.free();
  });

  it('two micro-batches accumulated give the same gradients as one batch', async () => {
    const fixture = JSON.parse(readFileSync(`${dir}/grads.json`, 'utf8')) as { sequences: number[][]; coefficients: number[][] };
    const bytes = new Uint8Array(readFileSync(`${dir}/grads.safetensors`));
    const expected = readSafetensorsHeader(bytes, 'grads.safetensors');
    const model = await CausalLM.load(env.gpu, dir);
    const first = await modelGradients(model, [fixture.sequences[0]!], [fixture.coefficients[0]!]);
    const both = await modelGradients(model, [fixture.sequences[1]!], [fixture.coefficients[1]!], { accumulate: first });
    first.free(); // a no-op now: the accumulated result owns the buffers
    for (const name of ['model.embed_tokens.weight', 'model.layers.1.self_attn.v_proj.weight', 'model.norm.weight', 'lm_head.weight']) {
      const want = tensorToF32(bytes, expected.get(name)!);
      const got = await both.read(name);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0) / scale, name).toBeLessThan(1e-5);
    }
    both.free();
    model.free();
  });

  it('activation recomputation gives the same gradients with less memory', async () => {
    const fixture = JSON.parse(readFileSync(`${dir}/grads.json`, 'utf8')) as { sequences: number[][]; coefficients: number[][] };
    const model = await CausalLM.load(env.gpu, dir);
    const run = async (recompute: boolean) => {
      const before = env.gpu.pool.stats().liveBytes;
      env.gpu.pool.resetPeak();
      const grads = await modelGradients(model, fixture.sequences, fixture.coefficients, { recompute });
      const peak = env.gpu.pool.stats().peakLiveBytes - before;
      const values = await Promise.all(['model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.up_proj.weight', 'model.embed_tokens.weight'].map((n) => grads.read(n)));
      grads.free();
      return { peak, values };
    };
    const kept = await run(false);
    const recomputed = await run(true);
    recomputed.values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(kept.values[i]!)));
    expect(recomputed.peak).toBeLessThan(kept.peak);
    model.free();
  });

  it('bad batches are typed errors', async () => {
    const model = await CausalLM.load(env.gpu, dir);
    await expect(modelGradients(model, [], [])).rejects.toThrow(/batch is empty/);
    await expect(modelGradients(model, [[1, 2, 3]], [[0.5]])).rejects.toThrow(/upstream\[0\] has 1 entries for 2 predicted tokens/);
    await expect(modelGradients(model, [[1, 999]], [[1]])).rejects.toThrow(IgSearchError);
    model.free();
  });
});

describe('one full training step vs PyTorch', () => {
  it('logp → policy loss → backward → clip → AdamW gives torch’s updated weights (|Δw| ≤ 1e-5 and ≤ 1% of the update; measured 2.6e-6, 0.25%)', async () => {
    const f = JSON.parse(readFileSync(`${dir}/train_step.json`, 'utf8')) as {
      sequences: number[][]; old: number[][]; ref: number[][]; advantages: number[][]; mask: number[][]; loss: number; gradNorm: number;
      optimizer: { lr: number; betas: [number, number]; eps: number; weightDecay: number; maxGradNorm: number };
    };
    const bytes = new Uint8Array(readFileSync(`${dir}/train_step.safetensors`));
    const expected = readSafetensorsHeader(bytes, 'train_step.safetensors');
    const model = await CausalLM.load(env.gpu, dir);
    const before = new Map<string, Float32Array>();
    for (const [name] of expected) before.set(name, await readModelTensor(model, name));
    const logp = await model.sequenceLogprobs(f.sequences);
    const offsets = [0];
    for (const lp of logp) offsets.push(offsets[offsets.length - 1]! + lp.length);
    const flat = (x: ArrayLike<number>[]) => Float32Array.from(x.flatMap((a) => Array.from(a)));
    const { loss, grad } = await policyLoss(env.gpu, { logp: flat(logp), oldLogp: flat(f.old), refLogp: flat(f.ref), advantages: flat(f.advantages), mask: flat(f.mask), sequenceOffsets: offsets });
    expect(loss).toBeCloseTo(f.loss, 4);
    const upstream = logp.map((_, s) => grad.subarray(offsets[s]!, offsets[s + 1]!));
    const grads = await modelGradients(model, f.sequences, upstream);
    const optimizer = await AdamW.create(env.gpu, grads.trainables, f.optimizer);
    const report = await optimizer.step();
    expect(Math.abs(report.gradNorm - f.gradNorm) / f.gradNorm).toBeLessThan(1e-5);
    // The clip factor itself (AdamW's first step is lr·sign(g) whatever the scale, so Δw alone cannot show it).
    expect(report.clipScale).toBeCloseTo(f.optimizer.maxGradNorm / (f.gradNorm + 1e-6), 6);
    expect(report.clipScale).toBeLessThan(1);
    for (const [name, info] of expected) {
      const want = tensorToF32(bytes, info);
      const got = await readModelTensor(model, name);
      const start = before.get(name)!;
      let worst = 0;
      let update = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        update = Math.max(update, Math.abs(want[i]! - start[i]!));
      }
      expect(worst, name).toBeLessThan(1e-5);
      expect(worst / update, `${name}, relative to its update`).toBeLessThan(1e-2);
    }
    optimizer.free();
    grads.free();
    model.free();
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdamW, CausalLM, modelGradients, readModelTensor, readModelConfig } from '../src/entry/node.js';
import { aggregationWeights, randomModelTensors, readSafetensorsHeader, resolveLossOptions, tensorToF32 } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();

const dir = 'test/fixtures/qwen2/tiny-f32';
const NAMES = ['model.embed_tokens.weight', 'lm_head.weight', 'model.norm.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_proj.bias', 'model.layers.1.self_attn.o_proj.weight', 'model.layers.1.mlp.gate_proj.weight', 'model.layers.1.post_attention_layernorm.weight'];

function relativeError(got: Float32Array, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return diff / scale;
}

describe('the chunked training pass', () => {
  it('rows split into chunks of 5 (sequences cut across chunks) give PyTorch’s gradients, with and without recomputation', async () => {
    const fixture = JSON.parse(readFileSync(`${dir}/grads.json`, 'utf8')) as { sequences: number[][]; coefficients: number[][] };
    const bytes = new Uint8Array(readFileSync(`${dir}/grads.safetensors`));
    const expected = readSafetensorsHeader(bytes, 'grads.safetensors');
    const model = await CausalLM.load(env.gpu, dir);
    expect(Math.max(...fixture.sequences.map((s) => s.length))).toBeGreaterThan(5);
    for (const recompute of [false, true]) {
      const grads = await modelGradients(model, fixture.sequences, fixture.coefficients, { chunkRows: 5, recompute });
      for (const name of NAMES) expect(relativeError(await grads.read(name), tensorToF32(bytes, expected.get(name)!)), `${name} recompute=${recompute}`).toBeLessThan(1e-5);
      grads.free();
    }
    model.free();
  });

  it('the policy loss computed on the GPU inside the pass gives the host path’s weights after AdamW, and PyTorch’s', async () => {
    const f = JSON.parse(readFileSync(`${dir}/train_step.json`, 'utf8')) as {
      sequences: number[][]; old: number[][]; ref: number[][]; advantages: number[][]; mask: number[][]; loss: number; gradNorm: number;
      optimizer: { lr: number; betas: [number, number]; eps: number; weightDecay: number; maxGradNorm: number };
    };
    const bytes = new Uint8Array(readFileSync(`${dir}/train_step.safetensors`));
    const expected = readSafetensorsHeader(bytes, 'train_step.safetensors');
    const model = await CausalLM.load(env.gpu, dir);
    const offsets = [0];
    for (const m of f.mask) offsets.push(offsets[offsets.length - 1]! + m.length);
    const flatWeights = aggregationWeights(f.mask.flat(), offsets, 'token-mean');
    const weights = f.mask.map((_, s) => flatWeights.subarray(offsets[s]!, offsets[s + 1]!));
    const lossOut = env.gpu.allocate(offsets[offsets.length - 1]! + f.sequences.length, 'loss');
    const grads = await modelGradients(model, f.sequences, { advantages: f.advantages, weights, old: f.old, reference: f.ref, options: resolveLossOptions(), lossOut: { buffer: lossOut, base: 0 } }, { chunkRows: 7 });
    // Rows include each sequence's last token (no target, weight 0): the loss is their sum.
    const perRow = new Float32Array(await env.gpu.read(lossOut, (offsets[offsets.length - 1]! + f.sequences.length) * 4));
    expect(perRow.reduce((a, b) => a + b, 0)).toBeCloseTo(f.loss, 5);
    expect(grads.logprobs).toEqual([]); // nothing read back
    const optimizer = await AdamW.create(env.gpu, grads.trainables, f.optimizer);
    const report = await optimizer.step();
    expect(report.gradNorm).toBeCloseTo(f.gradNorm, 4);
    for (const [name, info] of expected) {
      const want = tensorToF32(bytes, info);
      const got = await readModelTensor(model, name);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst, name).toBeLessThan(1e-4);
    }
    env.gpu.pool.release(lossOut);
    optimizer.free();
    grads.free();
    model.free();
  });

  it('a prefix shared by a group (computed once) gives the gradients and log-probs of the unshared batch', async () => {
    const model = await CausalLM.load(env.gpu, dir);
    const prefix = [5, 17, 200, 3, 99, 41, 7, 300, 12, 64, 250];
    const tails = [[8, 9, 10, 11], [400, 2], [33, 34, 35, 36, 37, 38, 39], [1, 2, 3]];
    const sequences = [...tails.slice(0, 3).map((t) => [...prefix, ...t]), [77, 78, 79, ...tails[3]!]];
    let seed = 11;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
    const upstream = sequences.map((s) => Array.from({ length: s.length - 1 }, rand)); // also on the shared tokens
    const plain = await modelGradients(model, sequences, upstream);
    const shared = await modelGradients(model, sequences, upstream, { sharedPrefixes: [{ count: 3, prefix: prefix.length }, { count: 1, prefix: 0 }], chunkRows: 6 });
    for (const name of NAMES) expect(relativeError(await shared.read(name), await plain.read(name)), name).toBeLessThan(1e-5);
    shared.logprobs.forEach((lp, s) => lp.forEach((v, k) => expect(Math.abs(v - plain.logprobs[s]![k]!)).toBeLessThan(1e-5)));
    const rows = model.rowsForwarded;
    (await modelGradients(model, sequences, upstream, { sharedPrefixes: [{ count: 3, prefix: prefix.length }, { count: 1, prefix: 0 }] })).free();
    expect(model.rowsForwarded - rows).toBe(sequences.reduce((n, s) => n + s.length, 0) - 2 * (prefix.length - 1));
    await expect(modelGradients(model, sequences, upstream, { sharedPrefixes: [{ count: 4, prefix: 3 }] })).rejects.toThrow(/sequences\[3\]\[0\] differs/);
    plain.free();
    shared.free();
    model.free();
  });

  it('a 1,500-token sequence trains (over the old 512-row limit): its gradients match the unchunked pass and its head gets a real gradient', async () => {
    const config = { ...readModelConfig(JSON.parse(readFileSync(`${dir}/config.json`, 'utf8'))), maxPositions: 2048 };
    const model = await CausalLM.create(env.gpu, config, randomModelTensors(config, 3), { maxChunkRows: 2048 });
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % config.vocabSize;
    const sequence = Array.from({ length: 1500 }, next);
    const upstream = Array.from({ length: 1499 }, (_, t) => (t % 97 === 0 ? 1 : 0));
    const one = await modelGradients(model, [sequence], [upstream], { chunkRows: 2048 });
    const chunked = await modelGradients(model, [sequence], [upstream], { chunkRows: 256, recompute: true });
    for (const name of NAMES) {
      const want = await one.read(name);
      expect(want.some((v) => v !== 0), name).toBe(true);
      expect(relativeError(await chunked.read(name), want), name).toBeLessThan(1e-4);
    }
    one.free();
    chunked.free();
    model.free();
  });
});

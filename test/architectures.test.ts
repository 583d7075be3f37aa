// The architectures beside Qwen2. Llama (Llama-3.x, SmolLM2): no q/k/v bias, Llama-3 RoPE scaling, tied
// embeddings; Qwen3: per-head q/k RMSNorm before RoPE and its own head_dim. Forward and greedy decoding are
// checked against PyTorch in model.test.ts / rollout.test.ts (tiny-llama, tiny-qwen3 fixtures); here the
// configs, the f64 reference, Llama's gradients against finite differences, and what training refuses.
import { describe, expect, it } from 'vitest';
import { withGpu } from './helpers/gpu.js';
import { LoraAdapters, CausalLM, modelGradients, readModelConfig } from '../src/entry/node.js';
import { configJson, logprobsRef, modelTensorShapes, readCheckpoint } from '../src/internals.js';
import { directionalCheck } from './helpers/gradcheck.js';

const DIR = 'test/fixtures/qwen2/tiny-llama';

const env = withGpu();

describe('Llama architecture', () => {
  it('reads config.json as Llama: no q/k/v bias, Llama-3 RoPE scaling; writes the same config back', async () => {
    const { config, tensors } = await readCheckpoint(DIR);
    expect(config.architecture).toBe('llama');
    expect(config.attentionBias).toBe(false);
    expect(config.ropeScaling).toEqual({ factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 });
    expect([...tensors.keys()].some((n) => n.endsWith('_proj.bias'))).toBe(false);
    expect([...modelTensorShapes(config).keys()].some((n) => n.endsWith('_proj.bias'))).toBe(false);
    expect(readModelConfig(configJson(config))).toEqual(config);
  });

  it('every gradient matches finite differences of the f64 reference; the optimizer never sees a bias', async () => {
    const { config, tensors } = await readCheckpoint(DIR);
    const model = await CausalLM.create(env.gpu, config, tensors);
    let seed = 9;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    // Positions past the original 64-token context, where the scaled frequencies matter.
    const sequences = [Array.from({ length: 90 }, () => Math.floor(rand() * 512)), [5, 77, 300, 2]];
    const coefficients = sequences.map((s) => Array.from({ length: s.length - 1 }, () => rand() - 0.5));
    const got = await model.sequenceLogprobs(sequences);
    sequences.forEach((s, i) => logprobsRef(config, tensors, s).forEach((v, t) => expect(Math.abs(got[i]![t]! - v)).toBeLessThan(2e-5)));
    const loss = () => sequences.reduce((sum, s, i) => sum + logprobsRef(config, tensors, s).reduce((a, v, t) => a + v * coefficients[i]![t]!, 0), 0);
    const grads = await modelGradients(model, sequences, coefficients);
    expect([...grads.buffers.keys()].some((n) => n.endsWith('_proj.bias'))).toBe(false);
    expect(grads.trainables.some((t) => t.name.endsWith('bQkv'))).toBe(false);
    for (const name of grads.buffers.keys()) {
      const { analytic, numeric, error } = directionalCheck(await grads.read(name), tensors.get(name)!, loss, rand, 16);
      expect(Math.abs(analytic), name).toBeGreaterThan(0);
      expect(error, `${name}: ${analytic} vs ${numeric}`).toBeLessThan(1e-3);
    }
    grads.free();
    // LoRA on the bias-free projections trains as on Qwen2.
    const lora = LoraAdapters.create(model, { rank: 2, alpha: 4, targets: ['q_proj', 'k_proj', 'v_proj'] });
    expect(lora.trainables().length).toBeGreaterThan(0);
    lora.free();
    model.free();
  }, 300_000);
});

describe('Qwen3 architecture', () => {
  const QWEN3 = 'test/fixtures/qwen2/tiny-qwen3';

  it('reads head_dim and the q/k norms; the GPU forward matches the f64 reference; config.json round-trips', async () => {
    const { config, tensors } = await readCheckpoint(QWEN3);
    expect([config.architecture, config.qkNorm, config.attentionBias, config.headDim, config.hiddenSize / config.numHeads]).toEqual(['qwen3', true, false, 32, 16]);
    expect(tensors.has('model.layers.0.self_attn.q_norm.weight') && tensors.has('model.layers.1.self_attn.k_norm.weight')).toBe(true);
    expect(readModelConfig(configJson(config))).toEqual(config);
    const model = await CausalLM.create(env.gpu, config, tensors);
    const sequence = [3, 77, 140, 9, 501, 2, 66, 300];
    const [got] = await model.sequenceLogprobs([sequence]);
    logprobsRef(config, tensors, sequence).forEach((v, t) => expect(Math.abs(got![t]! - v)).toBeLessThan(2e-5));
    model.free();
  });

  it('every gradient, the q/k norm weights included, matches finite differences of the f64 reference; LoRA trains through the norms', async () => {
    const { config, tensors } = await readCheckpoint(QWEN3);
    const model = await CausalLM.create(env.gpu, config, tensors);
    let seed = 21;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const sequences = [Array.from({ length: 40 }, () => Math.floor(rand() * 512)), [5, 77, 300, 2]];
    const coefficients = sequences.map((s) => Array.from({ length: s.length - 1 }, () => rand() - 0.5));
    const loss = () => sequences.reduce((sum, s, i) => sum + logprobsRef(config, tensors, s).reduce((a, v, t) => a + v * coefficients[i]![t]!, 0), 0);
    const grads = await modelGradients(model, sequences, coefficients);
    const names = [...grads.buffers.keys()];
    expect(names).toContain('model.layers.1.self_attn.q_norm.weight');
    expect(names).toContain('model.layers.0.self_attn.k_norm.weight');
    expect(grads.trainables.some((t) => t.name.endsWith('qkNorm'))).toBe(true);
    for (const name of names) {
      const { analytic, numeric, error } = directionalCheck(await grads.read(name), tensors.get(name)!, loss, rand, 16);
      expect(Math.abs(analytic), name).toBeGreaterThan(0);
      expect(error, `${name}: ${analytic} vs ${numeric}`).toBeLessThan(1e-3);
    }
    grads.free();
    // LoRA on q/k projections: its adapters' gradients pass through the norms (B = 0 at start, so A's is zero; B's is not).
    const lora = LoraAdapters.create(model, { rank: 2, alpha: 4, targets: ['q_proj', 'k_proj'], seed: 3 });
    const lg = await modelGradients(model, sequences, coefficients, { lora });
    let norm = 0;
    for (const t of lg.trainables) for (const v of new Float32Array(await env.gpu.read(t.grad, t.size * 4))) norm += v * v;
    expect(norm).toBeGreaterThan(0);
    lg.free();
    lora.free();
    model.free();
  }, 300_000);
});

describe('parameter counts', () => {
  it('CausalLM.parameters is the element count of the checkpoint’s tensors (no absent biases, q/k norms counted)', async () => {
    const { readFileSync } = await import('node:fs');
    for (const dir of [DIR, 'test/fixtures/qwen2/tiny-qwen3', 'test/fixtures/qwen2/tiny-f32']) {
      // The safetensors header lists every tensor's shape: the count from the file itself.
      const bytes = readFileSync(`${dir}/model.safetensors`);
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, { shape?: number[] }>;
      const inFile = Object.entries(header).filter(([k]) => k !== '__metadata__').reduce((n, [, t]) => n + t.shape!.reduce((a, b) => a * b, 1), 0);
      const model = await CausalLM.load(env.gpu, dir);
      expect(model.parameters, dir).toBe(inFile);
      model.free();
    }
  });
});

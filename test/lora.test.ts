import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdamW, IgSearchError, LoraAdapters, CausalLM, modelGradients } from '../src/entry/node.js';
import { readSafetensorsHeader, tensorToF32 } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();

const dir = 'test/fixtures/qwen2/tiny-f32';
// PyTorch: LoRA r 4, alpha 8 on q/v/o/gate/down (PEFT files in tiny-f32-lora/), log-probs with it,
// and A/B after one AdamW step on L = Σ c·log p (scripts/fixtures.py).
describe('LoRA vs PyTorch', () => {
  it('forward with adapters, and one LoRA training step (frozen base) match torch', async () => {
    const g = JSON.parse(readFileSync(`${dir}/grads.json`, 'utf8')) as { sequences: number[][]; coefficients: number[][] };
    const step = JSON.parse(readFileSync(`${dir}/lora_step.json`, 'utf8')) as { logprobs: number[][] };
    const model = await CausalLM.load(env.gpu, dir);
    const base = await model.sequenceLogprobs(g.sequences);
    const lora = await LoraAdapters.load(model, 'test/fixtures/qwen2/tiny-f32-lora');
    const withLora = await model.sequenceLogprobs(g.sequences, { adapters: lora });
    let worst = 0;
    let moved = 0;
    withLora.forEach((lp, s) => lp.forEach((v, t) => ((worst = Math.max(worst, Math.abs(v - step.logprobs[s]![t]!))), (moved = Math.max(moved, Math.abs(v - base[s]![t]!))))));
    expect(worst).toBeLessThan(1e-4);
    expect(moved).toBeGreaterThan(1e-2); // the adapters do change the model

    const grads = await modelGradients(model, g.sequences, g.coefficients, { lora });
    expect(grads.trainables.length).toBe(20);
    const optimizer = await AdamW.create(env.gpu, grads.trainables, { lr: 1e-2, weightDecay: 0 });
    await optimizer.step();
    const bytes = new Uint8Array(readFileSync(`${dir}/lora_step.safetensors`));
    const after = await lora.tensors();
    for (const [name, info] of readSafetensorsHeader(bytes, 'lora_step.safetensors')) {
      const want = tensorToF32(bytes, info);
      const got = after.get(name)!.data;
      expect(got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0), name).toBeLessThan(1e-4);
    }
    // The base model is frozen: scoring without the adapters gives the original log-probs back.
    const again = await model.sequenceLogprobs(g.sequences);
    expect(again.map((a) => Array.from(a))).toEqual(base.map((a) => Array.from(a)));
    optimizer.free();
    grads.free();
    lora.free();
    model.free();
  });

  it('fresh adapters start as the base model (B = 0); PEFT files round-trip; bad targets are typed errors', async () => {
    const model = await CausalLM.load(env.gpu, dir);
    const base = await model.sequenceLogprobs([[1, 2, 3, 4, 5]]);
    const lora = LoraAdapters.create(model, { rank: 2, alpha: 4, targets: ['k_proj', 'up_proj'], seed: 3 });
    expect(Array.from((await model.sequenceLogprobs([[1, 2, 3, 4, 5]], { adapters: lora }))[0]!)).toEqual(Array.from(base[0]!));
    const files = await lora.files();
    expect(JSON.parse(files['adapter_config.json'])).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['k_proj', 'up_proj'] });
    const header = readSafetensorsHeader(files['adapter_model.safetensors'], 'adapter');
    expect(header.get('base_model.model.model.layers.1.mlp.up_proj.lora_A.weight')!.shape).toEqual([2, 64]);
    expect(() => LoraAdapters.create(model, { rank: 2, alpha: 4, targets: ['c_attn' as 'q_proj'] })).toThrow(IgSearchError);
    expect(() => LoraAdapters.create(model, { rank: 0, alpha: 4, targets: ['q_proj'] })).toThrow(/rank must be a positive integer/);
    lora.free();
    model.free();
  });
});

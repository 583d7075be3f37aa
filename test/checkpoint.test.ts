import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdamW, latestCheckpoint, LoraAdapters, CausalLM, modelGradients, readCheckpointState, readModelTensor, saveCheckpoint, type Gradients } from '../src/entry/node.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();

const dir = 'test/fixtures/qwen2/tiny-f32';
const fixture = JSON.parse(readFileSync(`${dir}/grads.json`, 'utf8')) as { sequences: number[][]; coefficients: number[][] };
const options = { lr: 1e-2, weightDecay: 0.01, maxGradNorm: 1 };
const NAMES = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'model.norm.weight', 'lm_head.weight'];

/** One optimizer step on the fixture batch. The optimizer keeps the gradient buffers it was made with. */
const gradients = new Map<CausalLM, Gradients>();
async function step(model: CausalLM, optimizer?: AdamW, state?: Awaited<ReturnType<typeof readCheckpointState>>['optimizer']): Promise<AdamW> {
  const previous = gradients.get(model);
  previous?.zero();
  const grads = await modelGradients(model, fixture.sequences, fixture.coefficients, { accumulate: previous });
  gradients.set(model, grads);
  const opt = optimizer ?? (await AdamW.create(env.gpu, grads.trainables, options));
  if (state) opt.importState(state);
  await opt.step();
  return opt;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const snapshot = async (model: CausalLM) => Promise.all(NAMES.map((n) => readModelTensor(model, n)));

describe('checkpoints', () => {
  it('save → load → step gives exactly the weights of never stopping', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ig-ckpt-'));
    const a = await CausalLM.load(env.gpu, dir);
    const optA = await step(a);
    await saveCheckpoint(root, a, optA, { step: 1, note: 'after one step' });
    await step(a, optA);
    const straight = await snapshot(a);

    const latest = await latestCheckpoint(root);
    expect(latest).toBe(`${root}/step-000001`);
    const { state, optimizer } = await readCheckpointState(latest!);
    expect(state).toEqual({ step: 1, note: 'after one step', optimizerSaved: true });
    expect(optimizer!.step).toBe(1);
    const b = await CausalLM.load(env.gpu, latest!);
    const optB = await step(b, undefined, optimizer);
    expect(optB.stepCount).toBe(2);
    const resumed = await snapshot(b);
    NAMES.forEach((name, i) => expect(maxDiff(resumed[i]!, straight[i]!), name).toBe(0));
    for (const x of [optA, optB]) x.free();
    a.free();
    b.free();
  });

  it('re-saving a saved step is a no-op; a changed re-save killed at any point leaves latest naming a complete checkpoint; orphans go', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ig-resave-'));
    const model = await CausalLM.load(env.gpu, dir);
    const opt = await step(model);
    const complete = async () => {
      const where = (await latestCheckpoint(root))!;
      expect(readdirSync(where).sort(), where).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
      return (await readCheckpointState(where)).state;
    };
    await saveCheckpoint(root, model, opt, { step: 3, run: 'a' });
    expect(await saveCheckpoint(root, model, opt, { step: 3, run: 'a' })).toBe(`${root}/step-000003`); // same files: nothing replaced
    expect(readdirSync(root).sort()).toEqual(['latest', 'step-000003']);
    const kill = (hook: 'beforeLatest' | 'beforeCleanup') => ({ [hook]: () => { throw new Error('killed'); } });
    // Killed after the new directory is in place, before latest moves: latest still names the old, complete one.
    await expect(saveCheckpoint(root, model, opt, { step: 3, run: 'b' }, kill('beforeLatest'))).rejects.toThrow('killed');
    expect((await complete()).run).toBe('a');
    // Killed after latest moves, before the old one is removed: latest names the new, complete one.
    await expect(saveCheckpoint(root, model, opt, { step: 3, run: 'c' }, kill('beforeCleanup'))).rejects.toThrow('killed');
    expect((await complete()).run).toBe('c');
    // A save killed before its rename leaves a temporary directory; the next save removes it.
    await expect(saveCheckpoint(root, model, opt, { step: 4 }, { beforeCommit: () => { throw new Error('killed'); } })).rejects.toThrow('killed');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(root, '.step-000004.tmp-1'));
    await saveCheckpoint(root, model, opt, { step: 4 });
    expect(readdirSync(root).filter((e) => e.startsWith('.'))).toEqual([]);
    expect((await complete()).step).toBe(4);
    opt.free();
    model.free();
  });

  it('an interrupted save (after writing, before the rename) leaves the previous checkpoint as latest and loadable', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ig-ckpt-'));
    const model = await CausalLM.load(env.gpu, dir);
    const opt = await step(model);
    await saveCheckpoint(root, model, opt, { step: 1 });
    const saved = await snapshot(model);
    await step(model, opt);
    await expect(
      saveCheckpoint(root, model, opt, { step: 2 }, {
        beforeCommit: () => {
          throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    expect(await latestCheckpoint(root)).toBe(`${root}/step-000001`);
    expect(readdirSync(root).sort()).toEqual(['latest', 'step-000001']);
    const back = await CausalLM.load(env.gpu, (await latestCheckpoint(root))!);
    const loaded = await snapshot(back);
    NAMES.forEach((name, i) => expect(maxDiff(loaded[i]!, saved[i]!), name).toBe(0));
    opt.free();
    model.free();
    back.free();
  });

  it('LoRA: PEFT adapter files + optimizer state; save → load → step equals never stopping', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ig-ckpt-lora-'));
    const run = async (model: CausalLM, lora: LoraAdapters, prior?: { opt?: AdamW; grads?: Gradients; state?: Awaited<ReturnType<typeof readCheckpointState>>['optimizer'] }) => {
      lora.zeroGrad();
      const grads = await modelGradients(model, fixture.sequences, fixture.coefficients, { lora });
      const opt = prior?.opt ?? (await AdamW.create(env.gpu, grads.trainables, { lr: 1e-2 }));
      if (prior?.state) opt.importState(prior.state);
      await opt.step();
      grads.free();
      return opt;
    };
    const a = await CausalLM.load(env.gpu, dir);
    const loraA = LoraAdapters.create(a, { rank: 2, alpha: 4, targets: ['q_proj', 'down_proj'], seed: 1 });
    const optA = await run(a, loraA);
    await saveCheckpoint(root, a, optA, { step: 1 }, { adapters: loraA });
    await run(a, loraA, { opt: optA });
    const straight = await loraA.tensors();

    const latest = (await latestCheckpoint(root))!;
    expect(readdirSync(latest).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
    const b = await CausalLM.load(env.gpu, dir);
    const loraB = await LoraAdapters.load(b, latest);
    const { optimizer } = await readCheckpointState(latest);
    await run(b, loraB, { state: optimizer });
    const resumed = await loraB.tensors();
    for (const [name, t] of straight) expect(maxDiff(resumed.get(name)!.data, t.data), name).toBe(0);
    loraA.free();
    loraB.free();
    a.free();
    b.free();
  });
});

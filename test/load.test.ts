import { describe, expect, it } from 'vitest';
import { LoraAdapters, CausalLM, modelGradients } from '../src/entry/node.js';
import { openCheckpoint, readCheckpoint, type TensorSource } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';

const SHARDED = 'test/fixtures/qwen2/tiny-bf16';
const IDS = [3, 17, 4, 99, 250, 8, 41];

const env = withGpu();

describe('streaming a checkpoint to the GPU', () => {
  it('reads every value exactly once and gives the same model as loading host tensors', async () => {
    const checkpoint = await openCheckpoint(SHARDED);
    const reads: [string, number, number][] = [];
    const spy: TensorSource = { read: (name, start, end) => (reads.push([name, start, end]), checkpoint.source.read(name, start, end)) };
    const streamed = await CausalLM.create(env.gpu, checkpoint.config, spy);
    await checkpoint.close();
    const { config, tensors } = await readCheckpoint(SHARDED);
    const hosted = await CausalLM.create(env.gpu, config, tensors);
    expect(await streamed.sequenceLogprobs([IDS])).toEqual(await hosted.sequenceLogprobs([IDS]));
    expect(await CausalLM.load(env.gpu, SHARDED).then(async (m) => [await m.sequenceLogprobs([IDS]), m.free()][0])).toEqual(await hosted.sequenceLogprobs([IDS]));
    // Each tensor's values read exactly once (tied embeddings: the table once), nothing re-read.
    const read = new Map<string, number>();
    for (const [name, s, e] of reads) read.set(name, (read.get(name) ?? 0) + e - s);
    expect([...read.entries()].sort()).toEqual([...tensors.entries()].map(([n, t]) => [n, t.length] as [string, number]).sort());
    streamed.free();
    hosted.free();
  });

  it('a non-finite value fails the load naming the tensor, and releases every buffer made so far', async () => {
    const checkpoint = await openCheckpoint(SHARDED);
    const poisoned: TensorSource = {
      async read(name, start, end) {
        const values = await checkpoint.source.read(name, start, end);
        if (name === 'model.norm.weight') values[5] = NaN;
        return values;
      },
    };
    const before = env.gpu.pool.stats().liveBytes;
    await expect(CausalLM.create(env.gpu, checkpoint.config, poisoned)).rejects.toMatchObject({ code: 'NON_FINITE', message: expect.stringMatching(/tensor "model.norm.weight" holds NaN at index 5/) });
    expect(env.gpu.pool.stats().liveBytes).toBe(before);
    await checkpoint.close();
  });
});

describe('exact bf16 weights', () => {
  it('a BF16 checkpoint stored as bf16: about half the weight bytes, every log-prob and LoRA gradient equal to the f32 model', async () => {
    const before = env.gpu.pool.stats().liveBytes;
    const wide = await CausalLM.load(env.gpu, SHARDED, { weights: 'f32' });
    const wideBytes = env.gpu.pool.stats().liveBytes - before;
    const packed = await CausalLM.load(env.gpu, SHARDED, { weights: 'bf16' });
    const packedBytes = env.gpu.pool.stats().liveBytes - before - wideBytes;
    expect(packed.weightDtype).toBe('bf16');
    // Without an option, a checkpoint whose matrices are all BF16 is stored as bf16 (the f32 fixture as f32).
    const auto = await CausalLM.load(env.gpu, SHARDED);
    expect(auto.weightDtype).toBe('bf16');
    auto.free();
    const f32 = await CausalLM.load(env.gpu, 'test/fixtures/qwen2/tiny-f32');
    expect(f32.weightDtype).toBe('f32');
    f32.free();
    const seqs = [IDS, [5, 6, 7, 8, 9, 10, 11, 12, 13]];
    expect(await packed.sequenceLogprobs(seqs)).toEqual(await wide.sequenceLogprobs(seqs));
    expect(await packed.scoreContinuations(IDS.slice(0, 3), [IDS.slice(3), [1, 2]])).toEqual(await wide.scoreContinuations(IDS.slice(0, 3), [IDS.slice(3), [1, 2]]));
    // Norms and biases stay f32; in a model this small they (and the pool's size classes) weigh more
    // than in a real one (the 0.5B-shaped load bench measures that ratio).
    expect(packedBytes / wideBytes).toBeGreaterThan(0.5);
    expect(packedBytes / wideBytes).toBeLessThan(0.6);
    // LoRA on the bf16 base: the same adapter gradients as on the f32 base, bit for bit (dx reads the same values).
    const coefficients = [seqs[0]!.slice(1).map((_, i) => (i % 3) - 1), seqs[1]!.slice(1).map(() => 0.5)];
    const lora = async (model: CausalLM) => {
      const adapters = LoraAdapters.create(model, { rank: 2, alpha: 4, targets: ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'down_proj'], seed: 5 });
      // B = 0 at creation: give it values so every adapter gradient is non-trivial.
      for (const t of adapters.trainables()) env.gpu.device.queue.writeBuffer(t.param, 0, Float32Array.from({ length: t.size }, (_, i) => Math.sin(i + t.size) * 0.05));
      const g = await modelGradients(model, seqs, coefficients, { lora: adapters });
      const out = await Promise.all(g.trainables.map(async (t) => Array.from(new Float32Array(await env.gpu.read(t.grad, t.size * 4)))));
      g.free();
      adapters.free();
      return out;
    };
    const onPacked = await lora(packed);
    const onWide = await lora(wide);

    expect(onPacked).toEqual(onWide);
    expect(onPacked.flat().some((v) => v !== 0)).toBe(true);
    await expect(modelGradients(packed, seqs, coefficients)).rejects.toThrow(/full fine-tuning needs f32 weights \(this model stores bf16\)/);
    wide.free();
    packed.free();
  });
});

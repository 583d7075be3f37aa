// node examples/node/train_step.mjs — a few IG-Search-style policy-gradient steps on the fixture model:
// log-probs → policy loss (PPO-clip, dual clip, k3 KL) → whole-model backward → clipped AdamW,
// with a checkpoint after the last step. Real runs use `ig-search train` (coming with the trainer).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, Gpu, policyLoss, CausalLM, modelGradients, saveCheckpoint } from 'ig-search';

const gpu = await Gpu.request();
const model = await CausalLM.load(gpu, new URL('../../test/fixtures/qwen2/tiny-f32', import.meta.url).pathname);
const sequences = [[5, 17, 300, 42, 9, 9, 101], [7, 7, 250, 11, 3]];
const offsets = [0, 6, 10];
const old = await model.sequenceLogprobs(sequences);                   // rollout-time log-probs
const flat = (parts) => Float32Array.from(parts.flatMap((p) => Array.from(p)));
const advantages = Float32Array.from([1, 1, 1, 1, 1, 1, -0.5, -0.5, -0.5, -0.5]); // one good, one bad rollout
let grads, optimizer;
for (let step = 1; step <= 5; step++) {
  const logp = await model.sequenceLogprobs(sequences);
  const { loss, grad } = await policyLoss(gpu, {
    logp: flat(logp), oldLogp: flat(old), refLogp: flat(old), advantages, mask: new Uint8Array(10).fill(1), sequenceOffsets: offsets,
  });
  grads?.zero();
  grads = await modelGradients(model, sequences, [grad.subarray(0, 6), grad.subarray(6)], { accumulate: grads });
  optimizer ??= await AdamW.create(gpu, grads.trainables, { lr: 1e-3, maxGradNorm: 1 });
  const report = await optimizer.step();
  const mean = (i) => logp[i].reduce((a, b) => a + b, 0) / logp[i].length;
  console.log(`step ${step}: loss ${loss.toFixed(4)}, |g| ${report.gradNorm.toFixed(3)}, mean log p good ${mean(0).toFixed(3)} bad ${mean(1).toFixed(3)}`);
}
const dir = await saveCheckpoint(mkdtempSync(join(tmpdir(), 'ig-example-')), model, optimizer, { step: 5 });
console.log(`checkpoint: ${dir}`);
grads.free();
optimizer.free();
model.free();
gpu.destroy();

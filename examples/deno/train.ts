// deno run --allow-read --allow-write --allow-env examples/deno/train.ts [STEPS] [ALGO]
// A short IG-Search run in Deno (navigator.gpu): the committed demo policy and its synthetic world,
// a few RL steps with checkpoints in a temporary directory, one JSON line of metrics per step.
import { Gpu, IgSearchTrainer, latestCheckpoint, loadDemoPolicy, loadWasmCore, CausalLM, trainingRun, type Algorithm } from '../../dist/deno.js';

const steps = Number(Deno.args[0] ?? 3);
const algo = (Deno.args[1] ?? 'ig-search') as Algorithm; // grpo, ig-search, gigpo, igpo, mr-search or stepsearch
const policyDir = new URL('../../assets/demo-policy', import.meta.url).pathname;
const out = await Deno.makeTempDir({ prefix: 'ig-search-deno-' });

const core = await loadWasmCore();
const gpu = await Gpu.request();
const policy = await loadDemoPolicy(core, policyDir);
const model = await CausalLM.load(gpu, policyDir);
const trainer = new IgSearchTrainer(gpu, core, model, policy.tokenizer, policy.index, { algo, groupSize: 2, maxTurns: 3, maxTokens: 160, docsPerSearch: 2, lr: 3e-4, seed: 1 });
const result = await trainingRun(trainer, {
  run: algo,
  train: policy.world.questions.filter((q) => q.split === 'train'),
  steps,
  questionsPerStep: 2,
  checkpointDir: out,
  onEvent: (e) => {
    if (e.type === 'step') console.log(JSON.stringify({ step: e.step, reward: e.reward, loss: e.loss, gradNorm: e.gradNorm, ig: e.ig.length, timing: e.timing }));
  },
});
console.log(`done: ${result.steps} steps on ${gpu.adapter.description || gpu.adapter.device}; latest checkpoint ${await latestCheckpoint(out)}`);
trainer.free();
model.free();
policy.index.free();
gpu.destroy();

/**
 * The RL step, phase by phase (issue: the packed GPU-resident step).
 *
 *   update_vs_torch_cpu     demo-sized update (demo policy, 4 questions × G 4, the demo's sampling):
 *                           our update phase vs eager PyTorch doing forward + log-probs + loss +
 *                           backward + clipped AdamW on the same sequences, same run (≥ 0.5 is the goal)
 *   ig_recomputed_tokens    rows IG scoring forwarded minus the tokens the rollout did not hold (0)
 *   ig_overhead_demo        IG scoring time / IG-Search step time on the demo
 *   ig_overhead_search_r1   the same on a Search-R1-shaped step: a random hidden-512 × 8-layer model,
 *                           3 documents of ~100 tokens per search, 2 searches per trajectory
 *   max_trained_sequence    the longest single sequence one forward+backward trained (of those tried)
 *
 *   npm run bench -- step [--demo-steps 6] [--lengths 1024,4096] [--demo-only]
 */
import { parseArgs } from 'node:util';
import { Bm25Index, DEMO_DEFAULTS, Gpu, IgSearchTrainer, loadDemoPolicy, loadWasmCore, promptText, CausalLM, modelGradients, readModelConfig, searchR1Prompt, type StepMetrics } from 'ig-search';
import { questionsForStep, randomModelTensors } from 'ig-search/internals';
import { printTable, runTorch, writeResults } from './_lib.js';

const { values } = parseArgs({ options: { 'demo-steps': { type: 'string', default: '6' }, lengths: { type: 'string', default: '1024,4096' }, 'demo-only': { type: 'boolean', default: false } } });
const POLICY = 'assets/demo-policy';
const gpu = await Gpu.request();
const core = await loadWasmCore();
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'})\n`);
const total = (m: StepMetrics) => Object.values(m.timing).reduce((a, b) => a + b, 0);
const phases = (steps: StepMetrics[]) => Object.fromEntries(Object.keys(steps[0]!.timing).map((k) => [k, steps.reduce((n, s) => n + s.timing[k as keyof StepMetrics['timing']], 0) / steps.length]));

// ---- the demo: IG-Search steps as `ig-search demo` runs them ----
const policy = await loadDemoPolicy(core, POLICY);
const train = policy.world.questions.filter((q) => q.split === 'train');
const demoModel = await CausalLM.load(gpu, POLICY);
const demo = new IgSearchTrainer(gpu, core, demoModel, policy.tokenizer, policy.index, {
  algo: 'ig-search', groupSize: DEMO_DEFAULTS.groupSize, lr: DEMO_DEFAULTS.lr, seed: DEMO_DEFAULTS.seed, maxTurns: DEMO_DEFAULTS.maxTurns, maxTokens: DEMO_DEFAULTS.maxTokens, docsPerSearch: DEMO_DEFAULTS.docsPerSearch, weightDecay: DEMO_DEFAULTS.weightDecay,
});
const demoSteps: StepMetrics[] = [];
const torchSteps: { sequences: number[][]; promptLengths: number[] }[] = [];
const stepCount = Number(values['demo-steps']);
for (let step = 1; step <= stepCount + 1; step++) {
  const questions = questionsForStep(train, step, DEMO_DEFAULTS.questionsPerStep, DEMO_DEFAULTS.seed);
  const m = await demo.step(questions);
  if (step === 1) continue; // pipelines compile in the first step
  demoSteps.push(m);
  const prompts = questions.flatMap((q) => Array.from({ length: DEMO_DEFAULTS.groupSize }, () => Array.from(policy.tokenizer.encode(promptText(policy.tokenizer, searchR1Prompt(q.question)), { addSpecialTokens: false }))));
  torchSteps.push({ sequences: m.trajectories.map((t, i) => [...prompts[i]!, ...t.tokens]), promptLengths: prompts.map((p) => p.length) });
  console.log(`demo step ${step}: ${m.rows} rows, update ${(m.timing.update / 1000).toFixed(2)} s, IG ${(m.timing.ig / 1000).toFixed(2)} s of ${(total(m) / 1000).toFixed(2)} s; IG rows ${m.forwardRows.ig} for ${m.igTokens} new tokens`);
}
demo.free();
demoModel.free();
const torch = runTorch<{ seconds: number; rows: number; paddedRows: number }[]>('bench/torch_step.py', { dir: POLICY, lr: DEMO_DEFAULTS.lr, weightDecay: DEMO_DEFAULTS.weightDecay, steps: torchSteps, reps: 3 });
if (torch.skipped) console.log(torch.skipped);
const oursUpdate = demoSteps.reduce((n, m) => n + m.timing.update, 0) / 1000;
const torchUpdate = torch.result ? torch.result.reduce((n, r) => n + r.seconds, 0) : NaN;
const demoRows = demoSteps.reduce((n, m) => n + m.rows, 0);
if (values['demo-only']) {
  console.log(`update: ours ${oursUpdate.toFixed(2)} s, torch ${torchUpdate.toFixed(2)} s for ${demoRows} tokens: ${(torchUpdate / oursUpdate).toFixed(3)}`);
  console.log(phases(demoSteps));
  process.exit(0);
}

// ---- a Search-R1-shaped step: hidden 512 × 8 layers, 3 docs of ~100 tokens, 2 searches ----
const tokenizer = policy.tokenizer;
const passages = policy.world.passages;
// Documents of ~100 tokens: consecutive world passages joined under the first one's title.
const docs: { id: string; contents: string }[] = [];
for (let i = 0; i + 6 <= passages.length; i += 6) {
  const parts = passages.slice(i, i + 6).map((p) => p.contents);
  docs.push({ id: `d${i}`, contents: `${parts[0]!.split('\n')[0]}\n${parts.map((p) => p.split('\n').slice(1).join(' ')).join(' ')}` });
}
const docTokens = docs.map((d) => tokenizer.encode(d.contents, { addSpecialTokens: false }).length);
const index = Bm25Index.build(core, docs);
const config = readModelConfig({ model_type: 'qwen2', hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 2, vocab_size: tokenizer.vocabSize, max_position_embeddings: 16384, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true });
const model = await CausalLM.create(gpu, config, randomModelTensors(config, 5));
const think = (n: number) => `<think> ${Array.from({ length: n }, (_, k) => policy.world.entities[k % policy.world.entities.length]!.name.split(' ')[0]).join(' ')} </think>`;
const turns = (q: number) => [
  `${think(25)} <search> ${policy.world.entities[q]!.name} </search>`,
  `${think(25)} <search> ${policy.world.entities[q + 7]!.name} </search>`,
  `${think(25)} <answer> ${policy.world.entities[q + 3]!.name} </answer>`,
].map((t) => Array.from(tokenizer.encode(t, { addSpecialTokens: false })));
const scripts = [0, 1, 2, 3, 4, 5, 6, 7].map(turns);
const filler = tokenizer.encode('a', { addSpecialTokens: false })[0]!;
const shaped = new IgSearchTrainer(gpu, core, model, tokenizer, index, { algo: 'ig-search', groupSize: 4, maxTurns: 2, maxTokens: 1400, docsPerSearch: 3, lr: 1e-5, seed: 2, script: (s, turn, position) => scripts[s]![turn]?.[position] ?? filler });
const shapedSteps: StepMetrics[] = [];
for (let step = 1; step <= 2; step++) {
  const m = await shaped.step(train.slice(step * 2, step * 2 + 2));
  if (step > 1) shapedSteps.push(m);
  const length = m.trajectories.reduce((n, t) => n + t.tokens.length, 0) / m.trajectories.length;
  console.log(`Search-R1-shaped step ${step}: trajectories ${length.toFixed(0)} tokens, ${m.searchesPerRollout} searches, IG ${(m.timing.ig / 1000).toFixed(1)} s of ${(total(m) / 1000).toFixed(1)} s`);
}
shaped.free();

// ---- the longest single sequence a forward+backward trains ----
const lengths = values.lengths.split(',').map(Number);
const longest: { length: number; seconds: number; peakGpuBytes: number; error?: string }[] = [];
for (const length of lengths) {
  const sequence = Array.from({ length }, (_, t) => (t * 7919 + 13) % tokenizer.vocabSize);
  const before = gpu.pool.stats().liveBytes;
  gpu.pool.resetPeak();
  const t0 = performance.now();
  try {
    const grads = await modelGradients(model, [sequence], [Array.from({ length: length - 1 }, (_, t) => (t % 5 === 0 ? 1 / length : 0))], { recompute: true });
    await grads.read('model.norm.weight');
    grads.free();
    longest.push({ length, seconds: (performance.now() - t0) / 1000, peakGpuBytes: gpu.pool.stats().peakLiveBytes - before });
  } catch (e) {
    longest.push({ length, seconds: NaN, peakGpuBytes: NaN, error: (e as Error).message });
  }
  console.log(`sequence of ${length}: ${longest[longest.length - 1]!.error ?? `${longest[longest.length - 1]!.seconds.toFixed(1)} s`}`);
}
model.free();
index.free();
policy.index.free();

const sum = (steps: StepMetrics[], pick: (m: StepMetrics) => number) => steps.reduce((n, m) => n + pick(m), 0);
const igShare = (steps: StepMetrics[]) => sum(steps, (m) => m.timing.ig) / sum(steps, total);
const trained = longest.filter((l) => !l.error);
const ratios = {
  update_vs_torch_cpu: Number.isFinite(torchUpdate) ? torchUpdate / oursUpdate : null,
  ig_recomputed_tokens: sum([...demoSteps, ...shapedSteps], (m) => m.forwardRows.ig - m.igTokens),
  ig_overhead_demo: igShare(demoSteps),
  ig_overhead_search_r1: igShare(shapedSteps),
  max_trained_sequence: trained.length ? Math.max(...trained.map((l) => l.length)) : 0,
};
console.log('\ndemo IG-Search step (demo policy, 4 questions × G 4), mean per step');
printTable(['phase', 'ms'], Object.entries(phases(demoSteps)).map(([k, v]) => [k, v]));
console.log('\nupdate vs eager PyTorch (same sequences, same CPU)');
printTable(['steps', 'rows', 'ours s', 'torch s', 'ours tok/s', 'torch tok/s', 'torch/ours'], [[demoSteps.length, demoRows, oursUpdate, torchUpdate, demoRows / oursUpdate, demoRows / torchUpdate, torchUpdate / oursUpdate]]);
console.log('\nSearch-R1-shaped step (hidden 512 × 8 layers, 2 questions × G 4), mean per step');
printTable(['phase', 'ms'], Object.entries(phases(shapedSteps)).map(([k, v]) => [k, v]));
console.log('\nlongest single sequence (recompute on), Search-R1-shaped model');
printTable(['tokens', 'seconds', 'peak GPU MiB', 'result'], longest.map((l) => [l.length, l.seconds, l.peakGpuBytes / 2 ** 20, l.error ?? 'trained']));
console.log('\nratios', ratios);
const path = writeResults('step', {
  adapter: gpu.adapter,
  torch: torch.torch ?? null,
  ratios,
  demo: { steps: demoSteps.length, rows: demoRows, phasesMs: phases(demoSteps), updateSeconds: oursUpdate, torchUpdateSeconds: torchUpdate, torch: torch.result ?? null, forwardRows: demoSteps.map((m) => m.forwardRows), igTokens: demoSteps.map((m) => m.igTokens) },
  searchR1Shaped: { config: { hidden: 512, layers: 8, heads: 8, kvHeads: 2, intermediate: 1408 }, meanDocTokens: docTokens.reduce((a, b) => a + b, 0) / docTokens.length, phasesMs: phases(shapedSteps), trajectoryTokens: shapedSteps.map((m) => m.tokens / m.trajectories.length), forwardRows: shapedSteps.map((m) => m.forwardRows) },
  longestSequence: longest,
});
console.log(`\nwrote ${path}`);
gpu.destroy();

// node examples/node/score.mjs — teacher-forced scoring and an IG score on the test fixture model.
// With a real checkpoint: CausalLM.load(gpu, 'path/to/Qwen2.5-0.5B-Instruct') and token ids from
// Tokenizer.fromJSON(core, tokenizer.json).
import { Gpu, CausalLM, scoreInformationGain } from 'ig-search';

const gpu = await Gpu.request();
const model = await CausalLM.load(gpu, new URL('../../test/fixtures/qwen2/tiny-f32', import.meta.url).pathname);
const prefix = [11, 42, 7, 300, 5];
const [a, b] = await model.scoreContinuations(prefix, [[9, 9, 9], [120, 4]]);
console.log(`continuation A: mean log p ${a.mean.toFixed(3)} (${Array.from(a.logprobs, (v) => v.toFixed(2)).join(', ')})`);
console.log(`continuation B: mean log p ${b.mean.toFixed(3)}`);

// IG of one search step: the same gold answer after the retrieved vs random documents.
const [step] = await scoreInformationGain(model, [{ prefix, real: [77, 78, 79, 80], random: [201, 14, 3, 99], answers: [[31, 32]] }]);
console.log(`IG = ${step.real.toFixed(3)} − (${step.random.toFixed(3)}) = ${step.ig.toFixed(3)} nats/token`);
model.free();
gpu.destroy();

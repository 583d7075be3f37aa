// Not a Deno test file (no test suffix): run by test/deno.test.ts with a fixture Hub (HF_ENDPOINT) and a temporary HF_HUB_CACHE: fromPretrained
// in Deno (node:fs through Deno's Node compatibility), then the model loaded from the snapshot.
import { Gpu, CausalLM, cachedModels, fromPretrained } from '../../dist/deno.js';

const [repo, sequencesJson] = Deno.args;
const dir = await fromPretrained(repo!, { retries: 0 });
const gpu = await Gpu.request();
const model = await CausalLM.load(gpu, dir);
const logprobs = (await model.sequenceLogprobs(JSON.parse(sequencesJson!))).map((lp) => Array.from(lp));
model.free();
gpu.destroy();
console.log(JSON.stringify({ dir, logprobs, models: (await cachedModels()).map((m) => m.repo) }));

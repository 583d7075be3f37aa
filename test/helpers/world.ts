import { Bm25Index, buildWorld, CausalLM, Tokenizer, type Gpu, type WasmCore } from '../../src/entry/node.js';
import { readCheckpoint } from '../../src/internals.js';
import { searchR1Prompt } from '../../src/rollout/search_r1.js';

const TAGS = ['<think>', '</think>', '<search>', '</search>', '<information>', '</information>', '<answer>', '</answer>'];

/**
 * A small synthetic world, a BPE trained on it, the fixture model (with a longer position range:
 * the instruction prompt is ~200 tokens here) and the world's BM25 index — what trainer tests run on.
 */
export async function worldSetup(gpu: Gpu, core: WasmCore) {
  const world = buildWorld({ seed: 3, people: 8, films: 4, companies: 4, cities: 4, countries: 2, distractors: 4 });
  const tokenizer = Tokenizer.train(core, [...world.passages.map((p) => p.contents), searchR1Prompt('x'), ...world.questions.map((q) => q.question)], { vocabSize: 512, specialTokens: TAGS }).tokenizer;
  const { config, tensors } = await readCheckpoint('test/fixtures/qwen2/tiny-f32');
  const model = await CausalLM.create(gpu, { ...config, maxPositions: 1024 }, tensors);
  const index = Bm25Index.build(core, world.passages);
  return { world, tokenizer, model, index };
}

import { MLCEngine } from '@mlc-ai/web-llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Bm25Index,
  Bm25Retriever,
  ChatEngine,
  chatML,
  generate,
  Gpu,
  loadWasmCore,
  CausalLM,
  rolloutWithCompletions,
  Tokenizer,
  type CompletionRequest,
  type CompletionsEngine,
} from '../src/entry/node.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu();
let model: CausalLM;
let tokenizer: Tokenizer;
let index: Bm25Index;
beforeAll(async () => {
  const core = await loadWasmCore();
  model = await CausalLM.load(env.gpu, 'test/fixtures/qwen2/tiny-f32');
  tokenizer = Tokenizer.train(core, ['hello there, how are you? I am fine.', '"Paris"\nParis is the capital of France.'], {
    vocabSize: 512,
    specialTokens: ['<|im_start|>', '<|im_end|>', '<search>', '</search>', '<answer>', '</answer>'],
  }).tokenizer;
  index = Bm25Index.build(core, [{ id: '1', contents: '"Paris"\nParis is the capital of France.' }]);
});
afterAll(() => {
  model?.free();
});

describe('OpenAI-style facade (what @mlc-ai/web-llm exposes) over this engine', () => {
  it('chat.completions.create: greedy content equals generate() on the ChatML prompt; usage counts; n choices; stop strings cut', async () => {
    const engine = new ChatEngine(model, tokenizer);
    const messages = [{ role: 'user' as const, content: 'hello there' }];
    const reply = await engine.chat.completions.create({ messages, max_tokens: 12, temperature: 0 });
    const prompt = Array.from(tokenizer.encode(chatML(messages), { addSpecialTokens: false }));
    const [direct] = await generate(model, [prompt], { temperature: 0, maxNewTokens: 12, stopTokens: [tokenizer.tokenToId('<|im_end|>')!], vocabLimit: tokenizer.vocabSize });
    expect(reply.object).toBe('chat.completion');
    expect(reply.choices[0]!.message.content).toBe(tokenizer.decode(direct!.tokens, { skipSpecialTokens: true }));
    expect(reply.choices[0]!.finish_reason).toBe(direct!.finish);
    expect(reply.usage).toEqual({ prompt_tokens: prompt.length, completion_tokens: direct!.tokens.length, total_tokens: prompt.length + direct!.tokens.length });

    const two = await engine.chat.completions.create({ messages, max_tokens: 6, temperature: 1, seed: 5, n: 2 });
    const again = await engine.chat.completions.create({ messages, max_tokens: 6, temperature: 1, seed: 5, n: 2 });
    expect(two.choices.map((c) => c.message.content)).toEqual(again.choices.map((c) => c.message.content));
    expect(two.choices.length).toBe(2);

    const full = (await engine.completions.create({ prompt: 'hello', max_tokens: 10, temperature: 0 })).choices[0]!.text;
    // A real piece of text from inside the completion (not a replacement character of a cut byte sequence).
    const at = Array.from({ length: full.length - 2 }, (_, i) => i + 1).find((i) => /^[^\ufffd\s]{2}$/.test(full.slice(i, i + 2)));
    expect(at, `no two plain characters in ${JSON.stringify(full)}`).toBeDefined();
    const stop = full.slice(at!, at! + 2);
    const cut = await engine.completions.create({ prompt: 'hello', max_tokens: 10, temperature: 0, stop });
    expect(cut.choices[0]!.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(cut.choices[0]!.text.length).toBeLessThan(full.length);
    expect(cut.choices[0]!.finish_reason).toBe('stop');
  });

  it('web-llm MLCEngine has the completions surface rolloutWithCompletions drives (checked against its real types and object)', () => {
    const engine: CompletionsEngine = new MLCEngine();
    expect(typeof engine.completions.create).toBe('function');
  });
});

describe('Search-R1 loop over a completions API', () => {
  it('drives search → information → answer through the prompt text', async () => {
    const turns = ['<think>which city</think><search> capital of France ', '<think>ok</think><answer> Paris '];
    const prompts: string[] = [];
    // A scripted engine stands in for the policy so the protocol handling is checked exactly.
    const scripted: CompletionsEngine = {
      completions: {
        create: async (request: CompletionRequest) => {
          prompts.push(request.prompt);
          return { choices: [{ text: turns[prompts.length - 1]!, finish_reason: 'stop' }] };
        },
      },
    };
    const t = await rolloutWithCompletions(scripted, 'What is the capital of France?', { retriever: new Bm25Retriever(index) });
    expect(t.finish).toBe('answer');
    expect(t.answer).toBe('Paris');
    expect(t.searches.map((s) => s.query)).toEqual(['capital of France']);
    expect(prompts[1]).toContain('</search>\n\n<information>Doc 1(Title: Paris) Paris is the capital of France.</information>\n\n');
  });

  it('runs on ChatEngine (the real model) and ends cleanly', async () => {
    // The fixture model has 128 positions: a one-line template instead of the full instruction.
    const template = () => 'capital of France? <search>';
    const t = await rolloutWithCompletions(new ChatEngine(model, tokenizer), 'capital of France?', { retriever: new Bm25Retriever(index), maxTokensPerTurn: 8, maxTurns: 1, temperature: 1, seed: 2, template });
    // A random-weight model may end any way; whichever it is must agree with the trajectory.
    const consistent = {
      answer: t.answer !== undefined && t.text.endsWith('</answer>'),
      max_turns: t.answer === undefined && t.searches.length === 1 && t.text.endsWith('</search>'),
      length: t.answer === undefined && !t.text.endsWith('</answer>'),
      stop: t.answer === undefined && !t.text.endsWith('</answer>'),
    };
    expect(consistent[t.finish], `${t.finish}: ${JSON.stringify(t.text)}`).toBe(true);
  });
});

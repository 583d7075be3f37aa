import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { Bm25Index, Bm25Retriever, Gpu, IgSearchError, promptText, searchR1Prompt, IgSearchTrainer, latestCheckpoint, loadDemoPolicy, loadWasmCore, parseQuestionsJsonl, CausalLM, renderReport, summarizeRuns, trainingRun, type Retriever, type RunRecord, type WasmCore } from '../src/entry/node.js';
import { questionsForStep } from '../src/internals.js';
import { quiet } from './helpers/cli.js';

const POLICY = 'assets/demo-policy';
let core: WasmCore;
beforeAll(async () => {
  core = await loadWasmCore();
});

const records = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunRecord);

describe('data files', () => {
  it('reads Search-R1 questions, names the line of a bad one, skips it only when asked', () => {
    const text = ['{"question": "Who?", "golden_answers": ["A", "B"], "id": 7, "hops": 2}', '', '{"question": "What?", "golden_answers": "C"}', '{"question": "", "golden_answers": ["x"]}', 'not json', '{"question": "Q", "golden_answers": []}'].join('\n');
    expect(() => parseQuestionsJsonl(text, { source: 'train.jsonl' })).toThrow(/train\.jsonl:4: field "question"/);
    const parsed = parseQuestionsJsonl(text, { source: 'train.jsonl', skipBadLines: true });
    expect(parsed.questions).toEqual([
      { question: 'Who?', golden_answers: ['A', 'B'], id: '7', hops: 2 },
      { question: 'What?', golden_answers: ['C'] },
    ]);
    expect(parsed.skipped.map((s) => s.line)).toEqual([4, 5, 6]);
    expect(parsed.skipped[1]!.reason).toMatch(/invalid JSON/);
    expect(parsed.skipped[2]!.reason).toMatch(/golden_answers/);
  });

  it('the CLI reports a bad data line with its number and refuses to train without --skip-bad-lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-bad-'));
    const data = join(dir, 'data.jsonl');
    await import('node:fs/promises').then((f) => f.writeFile(data, '{"question": "Who?", "golden_answers": ["A"]}\n{"question": 3}\n'));
    const error = await main(['train', '--model', POLICY, '--data', data, '--corpus', `${POLICY}/corpus.jsonl`, '--out', join(dir, 'out')]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IgSearchError);
    expect((error as IgSearchError).message).toMatch(/data\.jsonl:2: field "question"/);
    expect((error as IgSearchError).hint).toMatch(/--skip-bad-lines/);
  });
});

describe('training runs (demo policy, CLI and API)', () => {
  const common = (out: string, steps: number) => [
    'train', '--model', POLICY, '--data', `${POLICY}/train.jsonl`, '--corpus', `${POLICY}/corpus.jsonl`, '--out', out,
    '--steps', String(steps), '--questions', '2', '--group', '2', '--max-turns', '2', '--max-tokens', '96', '--docs', '2', '--lr', '3e-4', '--seed', '3', '--checkpoint-every', '1',
  ];

  it('ig-search train with its own default flags (512-token trajectories, G 5) trains, each prompt forwarded once for its group', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ig-train-defaults-'));
    const code = await quiet(() => main(['train', '--model', POLICY, '--data', `${POLICY}/train.jsonl`, '--corpus', `${POLICY}/corpus.jsonl`, '--out', out, '--steps', '1']));
    expect(code).toBe(0);
    const step = records(join(out, 'metrics.jsonl')).find((r) => r.type === 'step')!;
    if (step.type !== 'step') throw new Error('no step record');
    expect(step.rewards.length).toBe(4 * 5);
    expect(Number.isFinite(step.loss) && step.gradNorm > 0).toBe(true);
    // One forward per trained token, each question's prompt (but its last token) once for its 5 rollouts.
    const { tokenizer } = await loadDemoPolicy(core, POLICY);
    const questions = questionsForStep(parseQuestionsJsonl(readFileSync(`${POLICY}/train.jsonl`, 'utf8')).questions, 1, 4, 0);
    const prompts = questions.map((q) => tokenizer.encode(promptText(tokenizer, searchR1Prompt(q.question)), { addSpecialTokens: false }).length);
    expect(step.rows).toBe(step.tokens + 5 * prompts.reduce((a, b) => a + b, 0));
    expect(step.forwardRows.update).toBe(step.rows - prompts.reduce((n, p) => n + 4 * (p - 1), 0));
    expect(step.forwardRows.reference).toBe(0);
    expect(readdirSync(out)).toContain('latest');
  });

  it('ig-search train writes metrics and checkpoints, the loss moves, and --resume continues exactly', async () => {
    const straight = mkdtempSync(join(tmpdir(), 'ig-train-a-'));
    expect(await quiet(() => main(common(straight, 3)))).toBe(0);
    const steps = records(`${straight}/metrics.jsonl`).filter((r) => r.type === 'step');
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3]);
    for (const s of steps) {
      expect(Number.isFinite(s.loss)).toBe(true);
      expect(s.timing.ig).toBeGreaterThan(0);
      expect(s.tokens).toBeGreaterThan(0);
    }
    expect(new Set(steps.map((s) => s.loss)).size).toBeGreaterThan(1);
    expect(steps.some((s) => s.gradNorm > 0)).toBe(true);
    expect(readdirSync(straight).filter((n) => n.startsWith('step-')).sort()).toEqual(['step-000001', 'step-000002', 'step-000003']);
    expect(readdirSync(`${straight}/step-000003`).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'trainer_state.json']);
    // The weights moved away from the starting policy.
    const start = readFileSync(`${POLICY}/model.safetensors`);
    expect(Buffer.compare(start, readFileSync(`${straight}/step-000001/model.safetensors`))).not.toBe(0);

    // Two steps, stop, resume to three: identical to never stopping.
    const resumed = mkdtempSync(join(tmpdir(), 'ig-train-b-'));
    expect(await quiet(() => main(common(resumed, 2)))).toBe(0);
    expect(await quiet(() => main([...common(resumed, 3), '--resume']))).toBe(0);
    expect(await latestCheckpoint(resumed)).toBe(`${resumed}/step-000003`);
    const after = records(`${resumed}/metrics.jsonl`).filter((r) => r.type === 'step');
    expect(after.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(after[2]!.loss).toBe(steps[2]!.loss);
    expect(Buffer.compare(readFileSync(`${straight}/step-000003/model.safetensors`), readFileSync(`${resumed}/step-000003/model.safetensors`))).toBe(0);
  });

  it('a lost device ends the run with a message naming the last checkpoint; resuming loses no step beyond it', async () => {
    const policy = await loadDemoPolicy(core, POLICY);
    const train = policy.world.questions.filter((q) => q.split === 'train');
    const root = mkdtempSync(join(tmpdir(), 'ig-lost-'));
    const config = { algo: 'ig-search' as const, groupSize: 2, maxTurns: 2, maxTokens: 96, lr: 3e-4, seed: 5 };
    const runOptions = { run: 'lost', train, steps: 3, questionsPerStep: 2, checkpointDir: root, checkpointEvery: 1 };

    const gpu = await Gpu.request();
    const model = await CausalLM.load(gpu, POLICY);
    const trainer = new IgSearchTrainer(gpu, core, model, policy.tokenizer, policy.index, config);
    const error = await trainingRun(trainer, {
      ...runOptions,
      onEvent: (e) => {
        if (e.type === 'checkpoint' && e.step === 1) gpu.destroy();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IgSearchError);
    expect((error as IgSearchError).code).toBe('DEVICE_LOST');
    expect((error as IgSearchError).message).toMatch(/during step 2 .*last checkpoint: .*step-000001/);
    expect((error as IgSearchError).hint).toMatch(/--resume/);
    expect(await latestCheckpoint(root)).toBe(`${root}/step-000001`);

    const fresh = await Gpu.request();
    const back = await CausalLM.load(fresh, `${root}/step-000001`);
    const again = new IgSearchTrainer(fresh, core, back, policy.tokenizer, policy.index, config);
    expect((await again.restore(`${root}/step-000001`)).step).toBe(1);
    const seen: number[] = [];
    const result = await trainingRun(again, { ...runOptions, onEvent: (e) => e.type === 'step' && seen.push(e.step) });
    expect(seen).toEqual([2, 3]);
    expect(result.lastCheckpoint).toBe(`${root}/step-000003`);
    again.free();
    back.free();
    fresh.destroy();
    policy.index.free();
  });

  it('aborting (Ctrl-C) finishes the step and writes a final checkpoint; the report renders the records', async () => {
    const policy = await loadDemoPolicy(core, POLICY);
    const train = policy.world.questions.filter((q) => q.split === 'train');
    const validation = policy.world.questions.filter((q) => q.split === 'validation').slice(0, 6);
    const root = mkdtempSync(join(tmpdir(), 'ig-abort-'));
    const gpu = await Gpu.request();
    const model = await CausalLM.load(gpu, POLICY);
    const trainer = new IgSearchTrainer(gpu, core, model, policy.tokenizer, policy.index, { algo: 'ig-search', groupSize: 2, maxTurns: 2, maxTokens: 96, lr: 3e-4, seed: 9 });
    const controller = new AbortController();
    const got: RunRecord[] = [];
    const result = await trainingRun(trainer, {
      run: 'ig-search',
      train,
      eval: validation,
      evalSplit: 'validation',
      steps: 50,
      questionsPerStep: 2,
      evalEvery: 10,
      checkpointDir: root,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'progress') return;
        got.push(e);
        if (e.type === 'step') controller.abort();
      },
    });
    expect(result.aborted).toBe(true);
    expect(result.steps).toBe(1);
    expect(await latestCheckpoint(root)).toBe(`${root}/step-000001`);
    expect(got.map((r) => r.type)).toEqual(['eval', 'step', 'checkpoint']);
    const [summary] = summarizeRuns(got);
    expect(summary!.steps).toBe(1);
    expect(summary!.split).toBe('validation');
    const step = got[1] as Extract<RunRecord, { type: 'step' }>;
    expect(summary!.igShare).toBeCloseTo(step.timing.ig / Object.values(step.timing).reduce((a, b) => a + b, 0), 12);
    const html = renderReport(got, { title: 'test <report>' });
    expect(html).toContain('<title>test &#60;report&#62;</title>');
    expect(html).toContain('<th>validation EM (start → end)</th>');
    expect((html.match(/<svg /g) ?? []).length).toBe(6);
    expect(html).not.toMatch(/NaN|undefined/);
    trainer.free();
    model.free();
    gpu.destroy();
    policy.index.free();
  });
});

describe('faults inside a step', () => {
  it('a retriever that fails for some rollouts marks them, keeps them out of the loss, and the step goes on', async () => {
    const policy = await loadDemoPolicy(core, POLICY);
    const bm25 = new Bm25Retriever(policy.index);
    let calls = 0;
    const flaky: Retriever = {
      async search(queries, k) {
        if (calls++ % 2 === 1) throw new Error('retriever down (test)');
        return bm25.search(queries, k);
      },
    };
    const gpu = await Gpu.request();
    const model = await CausalLM.load(gpu, POLICY);
    const trainer = new IgSearchTrainer(gpu, core, model, policy.tokenizer, policy.index, { algo: 'ig-search', groupSize: 4, maxTurns: 3, maxTokens: 128, lr: 3e-4, seed: 2, retriever: flaky });
    const metrics = await trainer.step(policy.world.questions.filter((q) => q.split === 'train').slice(0, 2));
    const failed = metrics.trajectories.filter((t) => t.finish === 'retrieval_failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThan(metrics.trajectories.length);
    expect(failed.every((t) => t.error === 'retriever down (test)')).toBe(true);
    expect(metrics.retrievalFailures).toBe(failed.length);
    expect(Number.isFinite(metrics.loss)).toBe(true);
    expect(metrics.skipped).toBe(false);
    expect(trainer.steps).toBe(1);
    trainer.free();
    model.free();
    gpu.destroy();
    policy.index.free();
  });
});

describe('demo policy', () => {
  it('the committed world matches the one rebuilt from sft.json', async () => {
    const policy = await loadDemoPolicy(core, POLICY);
    const corpus = readFileSync(`${POLICY}/corpus.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; contents: string });
    expect(corpus).toEqual(policy.world.passages.map((p) => ({ id: p.id, contents: p.contents })));
    const test = readFileSync(`${POLICY}/test.jsonl`, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { question: string }).question);
    expect(test).toEqual(policy.world.questions.filter((q) => q.split === 'test').map((q) => q.question));
    expect(policy.index).toBeInstanceOf(Bm25Index);
    policy.index.free();
  });
});

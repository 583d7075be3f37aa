import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Bm25Index, Bm25Retriever, CausalLM, DenseIndex, DenseRetriever, evaluate, HybridRetriever, loadTokenizer, parseCorpusJsonl, parseQuestionsJsonl, SentenceEncoder } from '../src/entry/node.js';
import { randomEncoderDir } from './helpers/encoder.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu({ core: true });
const root = new URL('../', import.meta.url).pathname;
const POLICY = `${root}assets/demo-policy`;
const CORPUS = `${POLICY}/corpus.jsonl`;
const cli = (args: string[]) => spawn(process.execPath, [`${root}bin/ig-search.js`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
const finished = (child: ReturnType<typeof cli>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });

describe('ig-search index and serve --retriever dense|hybrid', () => {
  const encoderDir = randomEncoderDir();
  const dir = mkdtempSync(join(tmpdir(), 'ig-dense-cli-'));

  it('index: Ctrl-C keeps the encoded passages, the same command continues, and the result equals an uninterrupted run', async () => {
    const whole = join(dir, 'whole.index');
    const args = (out: string) => ['index', '--corpus', CORPUS, '--model', encoderDir, '--out', out, '--batch', '40', '--dtype', 'bf16'];
    const plain = await finished(cli(args(whole)));
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/wrote .*whole\.index: 1812 passages × 32 bf16/);

    const out = join(dir, 'resumed.index');
    const child = cli(args(out));
    const done = finished(child);
    for (let i = 0; i < 600 && !existsSync(`${out}.partial.json`); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const first = await done;
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toMatch(/stopped after \d+ of 1812 passages; run the same command to continue/);
    const kept = (JSON.parse(readFileSync(`${out}.partial.json`, 'utf8')) as { done: number }).done;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(1812);
    const second = await finished(cli(args(out)));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`continuing after ${kept} of 1812 passages`);
    expect(existsSync(`${out}.partial`) || existsSync(`${out}.partial.json`)).toBe(false);
    expect(readFileSync(out).equals(readFileSync(whole))).toBe(true);
  }, 300_000);

  it('serve --retriever dense and hybrid answer a plain Python client with what the retrievers return in-process', async () => {
    const indexPath = join(dir, 'whole.index');
    const passages = parseCorpusJsonl(readFileSync(CORPUS, 'utf8')).passages;
    const encoder = await SentenceEncoder.load(env.gpu, env.core, encoderDir);
    const index = await DenseIndex.load(env.gpu, indexPath);
    const dense = new DenseRetriever(encoder, index, passages);
    const bm25 = Bm25Index.build(env.core, passages);
    const queries = [passages[5]!.contents.split('\n')[0]!.replace(/"/g, ''), 'who directed the film', 'a city in a country'];
    for (const [name, retriever] of [['dense', dense], ['hybrid', new HybridRetriever([new Bm25Retriever(bm25), dense])]] as const) {
      const child = cli(['serve', '--port', '0', '--retriever', name, '--corpus', CORPUS, '--index', indexPath]);
      const exited = finished(child);
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (c) => {
          stdout += c;
          const m = /serving 1812 passages at (\S+)/.exec(stdout);
          if (m) resolve(m[1]!);
        });
        void exited.then((r) => reject(new Error(`serve exited ${r.code}: ${r.stderr}`)));
      });
      const script = [
        'import json, sys, urllib.request',
        'body = json.dumps({"queries": json.loads(sys.argv[2]), "topk": 3, "return_scores": True}).encode()',
        'req = urllib.request.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})',
        'result = json.load(urllib.request.urlopen(req, timeout=30))["result"]',
        'print(json.dumps([[[d["document"]["id"], d["document"]["contents"], d["score"]] for d in q] for q in result]))',
      ].join('\n');
      const run = await promisify(execFile)('/usr/bin/python3', ['-c', script, url, JSON.stringify(queries)], { encoding: 'utf8', timeout: 60_000 });
      const local = await retriever.search(queries, 3);
      const got = JSON.parse(run.stdout) as [string, string, number][][];
      expect(got.map((q) => q.map(([id, contents]) => [id, contents])), name).toEqual(local.map((q) => q.map((d) => [d.id, passages[d.doc!]!.contents])));
      got.forEach((q, i) => q.forEach(([, , score], r) => expect(score).toBeCloseTo(local[i]![r]!.score, 6)));
      child.kill('SIGTERM');
      expect((await exited).code).toBe(0);
    }
    bm25.free();
    index.free();
    encoder.free();
  }, 300_000);

  it('eval and train --retriever dense|hybrid search with the dense index in the rollouts', async () => {
    const indexPath = join(dir, 'whole.index');
    const data = join(dir, 'questions.jsonl');
    const lines = readFileSync(`${POLICY}/validation.jsonl`, 'utf8').split('\n').filter(Boolean).slice(0, 6);
    writeFileSync(data, `${lines.join('\n')}\n`);
    const budget = ['--max-tokens', '384', '--max-turns', '3', '--docs', '2'];
    const run = await finished(cli(['eval', '--model', POLICY, '--data', data, '--corpus', CORPUS, '--retriever', 'dense', '--index', indexPath, ...budget, '--json']));
    expect(run.code, run.stderr).toBe(0);
    const got = JSON.parse(run.stdout) as { correct: number[]; searchesPerQuestion: number; n: number };

    const passages = parseCorpusJsonl(readFileSync(CORPUS, 'utf8')).passages;
    const encoder = await SentenceEncoder.load(env.gpu, env.core, encoderDir);
    const index = await DenseIndex.load(env.gpu, indexPath);
    const model = await CausalLM.load(env.gpu, POLICY);
    const tokenizer = await loadTokenizer(env.core, POLICY);
    const stopTokens = [tokenizer.tokenToId('<|im_end|>'), tokenizer.tokenToId('<|endoftext|>')].filter((t): t is number => t !== undefined);
    const questions = parseQuestionsJsonl(lines.join('\n')).questions;
    const local = await evaluate(model, env.core, tokenizer, new DenseRetriever(encoder, index, passages), questions, { maxTokens: 384, maxTurns: 3, docsPerSearch: 2, stopTokens });
    expect(got.n).toBe(6);
    expect(got.correct).toEqual(local.correct);
    expect(got.searchesPerQuestion).toBeCloseTo(local.searchesPerQuestion, 12);
    expect(local.searchesPerQuestion).toBeGreaterThan(0);
    model.free();
    index.free();
    encoder.free();
    tokenizer.free();

    const out = join(dir, 'run');
    const trained = await finished(cli(['train', '--model', POLICY, '--data', data, '--corpus', CORPUS, '--retriever', 'hybrid', '--index', indexPath, '--out', out, '--steps', '1', '--questions', '2', '--group', '2', ...budget]));
    expect(trained.code, trained.stderr).toBe(0);
    const step = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; reward?: number; retrievalFailures?: number }).find((r) => r.type === 'step');
    expect(step?.reward).toBeGreaterThanOrEqual(0);
    expect(step?.retrievalFailures ?? 0).toBe(0);

    const missing = await finished(cli(['eval', '--model', POLICY, '--data', data, '--corpus', CORPUS, '--retriever', 'dense']));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('eval --retriever dense: give --corpus FILE.jsonl (the passages) and --index FILE');
    const stray = await finished(cli(['eval', '--model', POLICY, '--data', data, '--corpus', CORPUS, '--index', indexPath]));
    expect(stray.stderr).toContain('eval: --index and --encoder apply to --retriever dense or hybrid');
  }, 600_000);
});

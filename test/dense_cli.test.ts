import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Bm25Index, Bm25Retriever, DenseIndex, DenseRetriever, HybridRetriever, parseCorpusJsonl, SentenceEncoder } from '../src/entry/node.js';
import { randomEncoderDir } from './helpers/encoder.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu({ core: true });
const root = new URL('../', import.meta.url).pathname;
const CORPUS = `${root}assets/demo-policy/corpus.jsonl`;
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
});

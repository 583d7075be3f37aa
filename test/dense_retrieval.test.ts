import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Bm25Retriever, buildDenseIndex, CausalLM, DenseRetriever, encoderTensorShapes, HybridRetriever, loadDemoPolicy, readEncoderConfig, rolloutSearchAgent, searchR1PromptTokens, SentenceEncoder, type RetrievedDocument } from '../src/entry/node.js';
import { writeSafetensors } from '../src/internals.js';
import { withGpu } from './helpers/gpu.js';
import { mulberry32 } from './helpers/random.js';

const env = withGpu({ core: true });
const POLICY = 'assets/demo-policy';

/** A random-weight BERT over the uncased WordPiece fixture's vocabulary, as a sentence-transformers directory (CLS pooling). */
function randomEncoderDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig-encoder-'));
  const config = { model_type: 'bert', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 64, type_vocab_size: 2, vocab_size: 3132, layer_norm_eps: 1e-12, hidden_act: 'gelu' };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const rng = mulberry32(17);
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, shape] of encoderTensorShapes(readEncoderConfig(JSON.stringify(config)))) {
    const norm = name.includes('LayerNorm');
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (norm && name.endsWith('weight') ? 1 : 0) + (rng() - 0.5) * (norm ? 0.1 : 0.6));
    tensors.set(name, { data, shape });
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
  cpSync('test/fixtures/wordpiece/uncased.json', join(dir, 'tokenizer.json'));
  mkdirSync(join(dir, '1_Pooling'));
  writeFileSync(join(dir, '1_Pooling/config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }));
  return dir;
}

describe('dense and hybrid retrieval on the demo world (a random-weight BERT)', () => {
  it('the sentence encoder reads its pooling, puts the prefixes on, and truncates keeping [SEP]', async () => {
    const encoder = await SentenceEncoder.load(env.gpu, env.core, randomEncoderDir(), { queryPrefix: 'query: ', passagePrefix: 'passage: ', maxLength: 16 });
    expect(encoder.pooling).toBe('cls');
    const sep = encoder.tokenizer.tokenToId('[SEP]')!;
    const long = encoder.ids('the director of the film was born in a city whose name nobody remembers', 'query');
    expect(long.length).toBe(16);
    expect(long[15]).toBe(sep);
    expect(Array.from(encoder.ids('x', 'passage'))).toEqual(Array.from(encoder.tokenizer.encode('passage: x')));
    encoder.free();
  });

  it('DenseRetriever ranks the corpus as an f64 brute force over the same embeddings; HybridRetriever is the reciprocal-rank fusion', async () => {
    const policy = await loadDemoPolicy(env.core, POLICY);
    const passages = policy.world.passages;
    const encoder = await SentenceEncoder.load(env.gpu, env.core, randomEncoderDir());
    let progress = 0;
    const index = await buildDenseIndex(env.gpu, encoder, passages, { batch: 256, onProgress: (done) => (progress = done) });
    expect(progress).toBe(passages.length);
    const dense = new DenseRetriever(encoder, index, passages);
    const queries = policy.world.questions.filter((q) => q.split === 'validation').slice(0, 6).map((q) => q.question);
    const got = await dense.search(queries, 5);
    // The reference: the same encoder's vectors, scored in f64 on the host, ties to the lower id.
    const P = await encoder.embed(passages.map((p) => p.contents), 'passage');
    const Q = await encoder.embed(queries, 'query');
    Q.forEach((q, i) => {
      const ranked = P.map((p, doc) => ({ doc, s: p.reduce((a, v, d) => a + v * q[d]!, 0) })).sort((a, b) => b.s - a.s || a.doc - b.doc);
      expect(got[i]!.map((d) => d.doc)).toEqual(ranked.slice(0, 5).map((r) => r.doc));
      got[i]!.forEach((d, r) => expect(d.score).toBeCloseTo(ranked[r]!.s, 5));
      expect(got[i]!.map((d) => d.id)).toEqual(ranked.slice(0, 5).map((r) => passages[r.doc]!.id));
    });

    const bm25 = new Bm25Retriever(policy.index);
    const hybrid = new HybridRetriever([bm25, dense]);
    const fused = await hybrid.search(queries, 3);
    const [a, b] = [await bm25.search(queries, 20), await dense.search(queries, 20)];
    queries.forEach((_, i) => {
      const score = new Map<string, number>();
      for (const list of [a[i]!, b[i]!]) list.forEach((d: RetrievedDocument, r) => score.set(d.id, (score.get(d.id) ?? 0) + 1 / (61 + r)));
      const best = [...score.values()].sort((x, y) => y - x).slice(0, 3);
      expect(fused[i]!.map((d) => d.score)).toEqual(best);
      for (const d of fused[i]!) expect(score.get(d.id)).toBe(d.score);
    });
    expect(() => new DenseRetriever(encoder, index, passages.slice(1))).toThrow(/holds 1812 passages, the corpus 1811/);
    index.free();
    encoder.free();
    policy.index.free();
  });

  it('the demo policy rolls out with dense and hybrid retrieval: every search shows what the retriever returns', async () => {
    const policy = await loadDemoPolicy(env.core, POLICY);
    const encoder = await SentenceEncoder.load(env.gpu, env.core, randomEncoderDir());
    const index = await buildDenseIndex(env.gpu, encoder, policy.world.passages, { batch: 256 });
    const dense = new DenseRetriever(encoder, index, policy.world.passages);
    const model = await CausalLM.load(env.gpu, POLICY);
    const questions = policy.world.questions.filter((q) => q.split === 'validation').slice(0, 4);
    for (const retriever of [dense, new HybridRetriever([new Bm25Retriever(policy.index), dense])]) {
      const trajectories = await rolloutSearchAgent(model, questions.map((q) => searchR1PromptTokens(policy.tokenizer, q.question)), { tokenizer: policy.tokenizer, retriever, docsPerSearch: 2, maxTurns: 2, maxTokens: 200, temperature: 0 });
      const searches = trajectories.flatMap((t) => t.searches);
      expect(searches.length).toBeGreaterThan(0);
      for (const s of searches) expect(s.documents.map((d) => d.id)).toEqual((await retriever.search([s.query], 2))[0]!.map((d) => d.id));
    }
    model.free();
    index.free();
    encoder.free();
    policy.index.free();
  });
});

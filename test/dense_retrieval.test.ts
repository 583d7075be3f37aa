import { describe, expect, it } from 'vitest';
import { Bm25Retriever, buildDenseIndex, CausalLM, DenseRetriever, HybridRetriever, loadDemoPolicy, rolloutSearchAgent, searchR1PromptTokens, SentenceEncoder, type RetrievedDocument } from '../src/entry/node.js';
import { readFileSync } from 'node:fs';
import { decoderEmbedderDir, randomEncoderDir } from './helpers/encoder.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu({ core: true });
const POLICY = 'assets/demo-policy';

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

describe('a decoder embedder (Qwen3-Embedding shape) as a SentenceEncoder', () => {
  it('loads a checkpoint saved without "model.", pools the last token within 1e-5 of PyTorch, appends <|endoftext|> and keeps it when truncating', async () => {
    const policy = await loadDemoPolicy(env.core, POLICY);
    const passages = policy.world.passages.slice(0, 40);
    const dir = decoderEmbedderDir(env.core, policy.world.passages.map((p) => p.contents));
    const encoder = await SentenceEncoder.load(env.gpu, env.core, dir, { queryPrefix: 'Instruct: find it\nQuery:', maxLength: 24 });
    expect(encoder.encoder).toBeInstanceOf(CausalLM);
    expect(encoder.pooling).toBe('last');
    expect(encoder.dims).toBe(64);

    // The weights under their embedding-model names: the tiny Qwen3's PyTorch last-token embeddings.
    const fixture = JSON.parse(readFileSync('test/fixtures/qwen2/tiny-qwen3/embedding.json', 'utf8')) as { sequences: number[][]; embeddings: number[][] };
    const unit = await (encoder.encoder as CausalLM).embedLastToken(fixture.sequences);
    unit.forEach((v, i) => expect(Math.max(...v.map((x, d) => Math.abs(x - fixture.embeddings[i]![d]!)))).toBeLessThan(1e-5));

    const eos = encoder.tokenizer.tokenToId('<|endoftext|>')!;
    const short = encoder.ids('Ada Vell', 'query');
    expect(Array.from(short)).toEqual([...encoder.tokenizer.encode('Instruct: find it\nQuery:Ada Vell', { addSpecialTokens: false }), eos]);
    const long = encoder.ids(passages[0]!.contents.repeat(4), 'passage');
    expect(long.length).toBe(24);
    expect(long[23]).toBe(eos);
    expect(Array.from(long.slice(0, 23))).toEqual(Array.from(encoder.tokenizer.encode(passages[0]!.contents.repeat(4), { addSpecialTokens: false }).slice(0, 23)));

    // Text → the model's last-token embedding of those ids; each passage is its own nearest neighbour.
    const [v] = await encoder.embed(['Ada Vell'], 'query');
    const [ref] = await (encoder.encoder as CausalLM).embedLastToken([short]);
    expect(Math.max(...v!.map((x, d) => Math.abs(x - ref![d]!)))).toBeLessThan(1e-6);
    const plain = new SentenceEncoder(encoder.encoder, encoder.tokenizer, { maxLength: 24 });
    const index = await buildDenseIndex(env.gpu, plain, passages);
    expect(index.header.encoding?.pooling).toBe('last');
    const hits = await new DenseRetriever(plain, index, passages).search(passages.slice(0, 8).map((p) => p.contents), 1);
    expect(hits.map((h) => h[0]!.doc)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(() => new SentenceEncoder(encoder.encoder, encoder.tokenizer, { pooling: 'mean' })).toThrow(/decoder embedder pools its last token/);
    index.free();
    encoder.free();
  });
});

/**
 * Dense retrieval: encoding and exact search beside PyTorch fp32 on the same CPU, in one run.
 * - embedding: a MiniLM-shaped random BertModel (384 × 6 layers, 12 heads, 1,536 MLP, 30,522 tokens)
 *   encodes `--passages` passages of `--length` random token ids in batches of 64, mean-pooled and
 *   normalised; PyTorch encodes the same ids with the same weights (padded with a mask);
 * - search: batches of 16 queries, top-3, over a `--index-rows` × 384 f32 index, vs
 *   `torch.topk(q @ E.T)`; recall@10 against an f64 brute force (it must be 1: the index is exact);
 * - the demo world: recall@3 of each validation question's first supporting passage for BM25, a
 *   dense random-weight encoder over a WordPiece vocabulary and their hybrid (a random encoder is
 *   not expected to beat BM25; it is reported as measured);
 * - memory per million passages, per dtype, at 384 and 768 dimensions.
 *
 * On a GPU machine (scripts/device-bundle.sh, `bash .device/run.sh dense`) PyTorch runs on CUDA and
 * the ratios are `*_vs_torch_cuda`.
 *
 *   npm run bench -- dense [--passages 10000] [--length 128] [--index-rows 100000]
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BertEncoder, Bm25Retriever, buildDenseIndex, DenseIndex, DenseRetriever, denseIndexBytes, encoderTensorShapes, Gpu, HybridRetriever, loadDemoPolicy, loadWasmCore, readEncoderConfig, SentenceEncoder, type Retriever } from 'ig-search';
import { writeSafetensors } from 'ig-search/internals';
import { printTable, rng, runTorch, writeResults } from './_lib.js';

const { values } = parseArgs({ options: { passages: { type: 'string', default: '10000' }, length: { type: 'string', default: '128' }, 'index-rows': { type: 'string', default: '100000' } } });
const PASSAGES = Number(values.passages);
const LENGTH = Number(values.length);
const INDEX_ROWS = Number(values['index-rows']);
const BATCH = 64;
const QUERY_BATCH = 16;
const QUERY_BATCHES = 20;
const K = 3;

/** A random BertModel directory (seeded), with a tokenizer when one is given. */
function randomBert(config: Record<string, unknown>, seed: number, tokenizer?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig-bench-bert-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const random = rng(seed);
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, shape] of encoderTensorShapes(readEncoderConfig(JSON.stringify(config)))) {
    const norm = name.includes('LayerNorm');
    const scale = norm ? 0.1 : name.includes('embeddings') ? 0.5 : 1 / Math.sqrt(shape.at(-1)!);
    tensors.set(name, { data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (norm && name.endsWith('weight') ? 1 : 0) + (random() * 2 - 1) * scale), shape });
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors));
  if (tokenizer) writeFileSync(join(dir, 'tokenizer.json'), tokenizer);
  return dir;
}

const core = await loadWasmCore();
const gpu = await Gpu.request();
console.log(`adapter: ${gpu.adapter.description || gpu.adapter.device}\n`);

// Embedding throughput.
const MINILM = { model_type: 'bert', hidden_size: 384, intermediate_size: 1536, num_hidden_layers: 6, num_attention_heads: 12, max_position_embeddings: 512, type_vocab_size: 2, vocab_size: 30522, layer_norm_eps: 1e-12, hidden_act: 'gelu' };
const minilmDir = randomBert(MINILM, 11);
const tokens = rng(12);
const passages = Array.from({ length: PASSAGES }, () => [101, ...Array.from({ length: LENGTH - 2 }, () => 1000 + Math.floor(tokens() * 29000)), 102]);
const encoder = await BertEncoder.load(gpu, minilmDir);
await encoder.embed(passages.slice(0, 2)); // compile
let started = performance.now();
const ours: Float32Array[] = [];
for (let at = 0; at < passages.length; at += BATCH) ours.push(...(await encoder.embed(passages.slice(at, at + BATCH))));
const embedSeconds = (performance.now() - started) / 1000;
encoder.free();

// Exact search.
const dims = 384;
const random = rng(13);
const unit = (n: number) => {
  const v = Float32Array.from({ length: n * dims }, () => random() * 2 - 1);
  for (let i = 0; i < n; i++) {
    const row = v.subarray(i * dims, (i + 1) * dims);
    const norm = Math.hypot(...row);
    row.forEach((x, j) => (row[j] = x / norm));
  }
  return v;
};
const E = unit(INDEX_ROWS);
const Q = unit(QUERY_BATCH * QUERY_BATCHES);
const index = await DenseIndex.create(gpu, E, dims);
await index.search(Q.subarray(0, QUERY_BATCH * dims), K); // compile
started = performance.now();
const found: number[][] = [];
for (let b = 0; b < QUERY_BATCHES; b++) found.push(...(await index.search(Q.subarray(b * QUERY_BATCH * dims, (b + 1) * QUERY_BATCH * dims), K)).map((h) => h.ids));
const searchSeconds = (performance.now() - started) / 1000;
// recall@10 against an f64 brute force, on the first 32 queries.
const checked = 32;
const top10 = await index.search(Q.subarray(0, checked * dims), 10);
let recalled = 0;
for (let q = 0; q < checked; q++) {
  const scores = Array.from({ length: INDEX_ROWS }, (_, i) => {
    let s = 0;
    for (let d = 0; d < dims; d++) s += Q[q * dims + d]! * E[i * dims + d]!;
    return { i, s };
  }).sort((a, b) => b.s - a.s || a.i - b.i);
  const exact = new Set(scores.slice(0, 10).map((x) => x.i));
  recalled += top10[q]!.ids.filter((i) => exact.has(i)).length;
}
const recallAt10 = recalled / (checked * 10);
index.free();

// PyTorch on the same CPU, same run.
const torch = runTorch<{ device: string; embedSeconds: number; searchSeconds: number; firstBatch: number[][] }>('bench/torch_dense.py', { dir: minilmDir, passages, batch: BATCH, indexRows: INDEX_ROWS, dims, queryBatch: QUERY_BATCH, queryBatches: QUERY_BATCHES, k: K });
const agreement = torch.result ? Math.max(...torch.result.firstBatch.map((v, i) => Math.max(...v.map((x, j) => Math.abs(x - ours[i]![j]!))))) : null;

// The demo world: recall@3 of the first supporting passage.
const policy = await loadDemoPolicy(core, new URL('../assets/demo-policy', import.meta.url).pathname);
const smallDir = randomBert({ model_type: 'bert', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 128, type_vocab_size: 2, vocab_size: 3132, layer_norm_eps: 1e-12, hidden_act: 'gelu' }, 14, readFileSync('test/fixtures/wordpiece/uncased.json', 'utf8'));
const sentence = await SentenceEncoder.load(gpu, core, smallDir);
const worldIndex = await buildDenseIndex(gpu, sentence, policy.world.passages, { batch: 256 });
const dense = new DenseRetriever(sentence, worldIndex, policy.world.passages);
const bm25 = new Bm25Retriever(policy.index);
const questions = policy.world.questions.filter((q) => q.split === 'validation');
const recallAt3 = async (r: Retriever) => {
  const hits = await r.search(questions.map((q) => q.question), 3);
  return hits.filter((docs, i) => docs.some((d) => d.id === questions[i]!.chain[0])).length / questions.length;
};
const world = { bm25: await recallAt3(bm25), dense: await recallAt3(dense), hybrid: await recallAt3(new HybridRetriever([bm25, dense])) };
worldIndex.free();
sentence.free();

const memory = Object.fromEntries([384, 768].flatMap((d) => (['f32', 'bf16', 'f16'] as const).map((t) => [`${d}_${t}`, denseIndexBytes(1_000_000, d, t)])));
const embedPerS = PASSAGES / embedSeconds;
const searchPerS = (QUERY_BATCH * QUERY_BATCHES) / searchSeconds;
const torchEmbedPerS = torch.result ? PASSAGES / torch.result.embedSeconds : null;
const torchSearchPerS = torch.result ? (QUERY_BATCH * QUERY_BATCHES) / torch.result.searchSeconds : null;
printTable(
  ['measure', 'ig-search', `PyTorch fp32 ${torch.result?.device ?? ''}`, 'ratio'],
  [
    [`embed ${PASSAGES} × ${LENGTH} tokens, passages/s`, embedPerS.toFixed(1), torchEmbedPerS?.toFixed(1) ?? '–', torchEmbedPerS ? (embedPerS / torchEmbedPerS).toFixed(3) : '–'],
    [`search ${INDEX_ROWS} × ${dims}, top-${K}, batches of ${QUERY_BATCH}: queries/s`, searchPerS.toFixed(1), torchSearchPerS?.toFixed(1) ?? '–', torchSearchPerS ? (searchPerS / torchSearchPerS).toFixed(3) : '–'],
    ['recall@10 vs exact', recallAt10.toFixed(3), '', ''],
    ['demo world recall@3: BM25 / dense (random) / hybrid', `${world.bm25.toFixed(3)} / ${world.dense.toFixed(3)} / ${world.hybrid.toFixed(3)}`, '', ''],
  ],
);
if (torch.skipped) console.log(`\n${torch.skipped}`);
const path = writeResults('dense', {
  adapter: gpu.adapter,
  torch: torch.torch ?? null,
  torchDevice: torch.result?.device ?? null,
  embedding: { model: MINILM, passages: PASSAGES, length: LENGTH, batch: BATCH, seconds: embedSeconds, torchSeconds: torch.result?.embedSeconds ?? null, maxAbsDiffFirstBatch: agreement },
  search: { rows: INDEX_ROWS, dims, k: K, queryBatch: QUERY_BATCH, queries: QUERY_BATCH * QUERY_BATCHES, seconds: searchSeconds, torchSeconds: torch.result?.searchSeconds ?? null, recallChecked: checked },
  demoWorld: { questions: questions.length, recallAt3: world },
  memoryBytesPerMillion: memory,
  ratios: {
    embed_vs_torch_cpu: torch.result?.device === 'cpu' && torchEmbedPerS ? embedPerS / torchEmbedPerS : null,
    search_vs_torch_cpu: torch.result?.device === 'cpu' && torchSearchPerS ? searchPerS / torchSearchPerS : null,
    // On a GPU machine (scripts/device-bundle.sh, `bash .device/run.sh dense`): against PyTorch on CUDA.
    embed_vs_torch_cuda: torch.result?.device === 'cuda' && torchEmbedPerS ? embedPerS / torchEmbedPerS : null,
    search_vs_torch_cuda: torch.result?.device === 'cuda' && torchSearchPerS ? searchPerS / torchSearchPerS : null,
    recall_at_10_vs_exact: recallAt10,
    demo_recall_at_3_bm25: world.bm25,
    demo_recall_at_3_dense: world.dense,
    demo_recall_at_3_hybrid: world.hybrid,
  },
});
console.log(`\nwrote ${path}`);
gpu.destroy();

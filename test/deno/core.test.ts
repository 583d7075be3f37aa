// Runs under `deno test --allow-read` (driven by test/deno.test.ts): the built Deno bundle, with
// WebGPU from Deno's own navigator.gpu (wgpu) and the .wasm read with Deno.readFile.
import { Gpu, IgSearchError, CausalLM, generate, loadWasmCore } from '../../dist/deno.js';
import { matmul, matmulRef, pickMatmulVariant } from '../../dist/internals.js';

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
}

Deno.test('matmul through the Deno bundle matches the reference', async () => {
  const gpu = await Gpu.request();
  const rng = lcg(3);
  const variants = gpu.features.has('subgroups') ? (['tiled', 'wide', 'gemv', 'subgroup8', 'blocked', 'naive'] as const) : (['tiled', 'wide', 'gemv', 'blocked', 'naive'] as const);
  for (const shape of [{ M: 37, N: 70, K: 45 }, { M: 8, N: 33, K: 17, batch: 2, transposeB: true }]) {
    const batch = shape.batch ?? 1;
    const a = Float32Array.from({ length: batch * shape.M * shape.K }, rng);
    const b = Float32Array.from({ length: batch * shape.K * shape.N }, rng);
    const expected = matmulRef(a, b, shape);
    for (const variant of variants) {
      if (variant === 'subgroup8' && pickMatmulVariant(gpu) !== 'subgroup8') continue; // needs 8-lane subgroups
      const c = await matmul(gpu, a, b, shape, { variant });
      let worst = 0;
      for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i]! - expected[i]!));
      assert(c.length === expected.length, `length ${c.length}`);
      assert(worst < 1e-4, `${variant} ${JSON.stringify(shape)}: max error ${worst}`);
    }
  }
  console.log(`deno adapter: ${gpu.adapter.description} (${gpu.adapter.architecture}), variant ${pickMatmulVariant(gpu)}`);
  gpu.destroy();
});

Deno.test('Wasm core loads from disk, round-trips UTF-8 and maps panics', async () => {
  const core = await loadWasmCore();
  const text = 'Deno 🦕 检索 — ok';
  const out = core.selfTestUtf8(text);
  assert(out.text === text && out.scalars === [...text].length, `round trip gave ${JSON.stringify(out)}`);
  let caught: unknown;
  try {
    core.selfTestPanic('deno panic probe');
  } catch (e) {
    caught = e;
  }
  assert(caught instanceof IgSearchError && caught.code === 'WASM_PANIC', `got ${caught}`);
  assert(core.selfTestUtf8('after').text === 'after', 'core unusable after panic');
});

Deno.test('Qwen2 fixture (F32, read with Deno.readFile) matches PyTorch, scoring and greedy decoding, with either attention variant', async () => {
  const gpu = await Gpu.request();
  const dir = 'test/fixtures/qwen2/tiny-f32';
  const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`)) as { sequences: number[][]; logprobs: number[][]; greedy: { prompt: number[]; tokens: number[] } };
  for (const attentionVariant of ['rows', 'flash'] as const) {
    const model = await CausalLM.load(gpu, dir, { attentionVariant });
    const got = await model.sequenceLogprobs(expected.sequences);
    let worst = 0;
    got.forEach((lp, s) => lp.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected.logprobs[s]![i]!)))));
    assert(worst < 1e-4, `${attentionVariant}: max |Δ| ${worst}`);
    // Greedy decoding (the decode-attention kernel of the variant) against PyTorch's greedy tokens.
    const [out] = await generate(model, [expected.greedy.prompt], { temperature: 0, maxNewTokens: expected.greedy.tokens.length });
    assert(Array.from(out!.tokens).join() === expected.greedy.tokens.join(), `${attentionVariant}: greedy ${Array.from(out!.tokens)} vs ${expected.greedy.tokens}`);
    model.free();
  }
  gpu.destroy();
});

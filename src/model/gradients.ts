/**
 * The result of a training pass: gradient buffers under Hugging Face names, the optimizer's view of
 * them (fused buffers), accumulation across micro-batches, and reading one weight back by name.
 */
import { IgSearchError } from '../errors.js';
import type { TrainableTensor } from '../kernels/adamw/adamw.js';
import { LAYER_BUFFERS, layerBufferSizes, layerPrefix, layerTensors, tensorSize, type LayerBuffer } from './layout.js';
import { hasTensor } from './config.js';
import type { LoraAdapters } from './lora.js';
import type { CausalLM } from './causal_lm.js';

export interface Gradients {
  /**
   * Per-token log-probs of the batch (what the forward computed), one array per sequence. Read back
   * only when the upstream came from the host; with a GPU policy loss nothing is read back (empty).
   */
  logprobs: Float32Array[];
  /** d L / d θ by HF tensor name. The caller owns the buffers (release with `free()`). */
  buffers: Map<string, { buffer: GPUBuffer; offset: number; size: number }>;
  /** Reads one gradient back (f32, HF layout). */
  read(name: string): Promise<Float32Array>;
  /**
   * (parameter, gradient) buffer pairs as the model stores them (fused q/k/v, gate/up), for AdamW.
   * An optimizer keeps these buffers: for the next step, `zero()` this result and pass it as
   * `accumulate`, so the gradients land in the same buffers.
   */
  trainables: TrainableTensor[];
  /** Sets every gradient to 0 (start of the next optimizer step). */
  zero(): void;
  free(): void;
}

export interface Storage {
  dEmbed: GPUBuffer[];
  dHead: GPUBuffer[];
  dFinalNorm: GPUBuffer;
  dLayers: LayerGradients[];
  owned: GPUBuffer[];
}
export type LayerGradients = Record<LayerBuffer, GPUBuffer>;
/** The buffers behind each live result (a result passed as `accumulate` hands them on). */
export const storageOf = new WeakMap<Gradients, Storage>();

/** Names the gradient buffers (HF names → buffer, float offset, float count) and hands them over. */
export function finishGradients(model: CausalLM, storage: Storage, lora: LoraAdapters | undefined, logprobs: Float32Array[], accumulate: Gradients | undefined): Gradients {
  const gpu = model.gpu;
  const m = model.internals();
  const { hiddenSize: H, vocabSize: V } = model.config;
  const { dEmbed, dHead, dFinalNorm, dLayers, owned } = storage;
  const grads = new Map<string, { buffer: GPUBuffer; offset: number; size: number }>();
  const set = (name: string, buffer: GPUBuffer, offset: number, size: number) => grads.set(name, { buffer, offset, size });
  if (lora) {
    for (const t of lora.trainables()) set(t.name, t.grad, 0, t.size);
  } else {
    if (m.embed.length === 1) set('model.embed_tokens.weight', dEmbed[0]!, 0, V * H);
    if (m.head !== m.embed && m.head.length === 1) set('lm_head.weight', dHead[0]!, 0, V * H);
    set('model.norm.weight', dFinalNorm, 0, H);
    const layout = layerTensors(model.config);
    dLayers.forEach((grad, i) => {
      for (const t of layout) if (hasTensor(model.config, t.name)) set(`${layerPrefix(i)}${t.name}`, grad[t.buffer], t.offset, tensorSize(t));
    });
  }
  const sizes = layerBufferSizes(model.config);
  const trainables: TrainableTensor[] = lora
    ? lora.trainables()
    : [
        ...m.embed.map((shard, i) => ({ name: `embed_tokens[${shard.rowStart}]`, param: shard.buffer, grad: dEmbed[i]!, size: shard.rows * H })),
        ...(m.head === m.embed ? [] : m.head.map((shard, i) => ({ name: `lm_head[${shard.rowStart}]`, param: shard.buffer, grad: dHead[i]!, size: shard.rows * H }))),
        { name: 'model.norm', param: m.finalNorm, grad: dFinalNorm, size: H },
        // Buffers of tensors the architecture lacks (Llama's q/k/v bias, q/k norms outside Qwen3) stay out of the optimizer.
        ...m.layers.flatMap((layer, i) => LAYER_BUFFERS.filter((key) => (key !== 'bQkv' || model.config.attentionBias !== false) && (key !== 'qkNorm' || model.config.qkNorm === true)).map((key) => ({ name: `layers.${i}.${key}`, param: layer[key], grad: dLayers[i]![key], size: sizes[key] }))),
      ];
  let freed = false;
  const result: Gradients = {
    logprobs,
    trainables,
    buffers: grads,
    zero() {
      const encoder = gpu.device.createCommandEncoder({ label: 'zero_grad' });
      for (const b of new Set(owned)) encoder.clearBuffer(b);
      gpu.device.queue.submit([encoder.finish()]);
    },
    async read(name: string) {
      const entry = grads.get(name);
      if (!entry) throw new IgSearchError('INVALID_ARGUMENT', `no gradient named "${name}"`);
      const all = new Float32Array(await gpu.read(entry.buffer, (entry.offset + entry.size) * 4));
      return all.slice(entry.offset, entry.offset + entry.size);
    },
    free() {
      if (freed || !storageOf.has(result)) return;
      freed = true;
      for (const b of new Set(owned)) gpu.pool.release(b);
      storageOf.delete(result);
    },
  };
  storageOf.set(result, storage);
  if (accumulate) storageOf.delete(accumulate); // the new result now owns the buffers
  return result;
}

/**
 * Consecutive [from, to) groups of sequences whose token counts add up to at most `maxRows` (a
 * longer sequence goes alone), for gradient accumulation over micro-batches.
 */
export function microBatches(lengths: readonly number[], maxRows: number): [number, number][] {
  const groups: [number, number][] = [];
  let from = 0;
  while (from < lengths.length) {
    let to = from;
    let rows = 0;
    while (to < lengths.length && (to === from || rows + lengths[to]! <= maxRows)) rows += lengths[to++]!;
    groups.push([from, to]);
    from = to;
  }
  return groups;
}

/** One weight of the model by HF name, read back from the GPU (f32 weights). */
export async function readModelTensor(model: CausalLM, name: string): Promise<Float32Array> {
  const m = model.internals();
  const c = model.config;
  const H = c.hiddenSize;
  if (m.options.weights !== 'f32') throw new IgSearchError('INVALID_ARGUMENT', 'readModelTensor needs f32 weights');
  const read = async (buffer: GPUBuffer, offset: number, size: number) => new Float32Array(await model.gpu.read(buffer, (offset + size) * 4)).slice(offset, offset + size);
  const vocab = async (shards: typeof m.embed) => {
    const out = new Float32Array(c.vocabSize * H);
    for (const shard of shards) out.set(await read(shard.buffer, 0, shard.rows * H), shard.rowStart * H);
    return out;
  };
  if (name === 'model.embed_tokens.weight') return vocab(m.embed);
  if (name === 'lm_head.weight') return vocab(m.head);
  if (name === 'model.norm.weight') return read(m.finalNorm, 0, H);
  const match = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  const layer = match ? m.layers[Number(match[1])] : undefined;
  const t = match ? layerTensors(c).find((x) => x.name === match[2]) : undefined;
  if (!layer || !t) throw new IgSearchError('INVALID_ARGUMENT', `no tensor named "${name}"`);
  return read(layer[t.buffer], t.offset, tensorSize(t));
}

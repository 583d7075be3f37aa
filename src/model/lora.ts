/**
 * LoRA adapters for a Qwen2 model: for each target projection W (out × in) of every layer,
 *   y = x·Wᵀ + (alpha / rank) · (x·Aᵀ)·Bᵀ,   A: rank × in (random), B: out × rank (zeros)
 * with the base weights frozen — so the base model is the KL reference for free. Files are PEFT's:
 * `adapter_config.json` + `adapter_model.safetensors` with
 * `base_model.model.model.layers.{i}.{self_attn|mlp}.{target}.lora_{A|B}.weight`.
 */
import { IgSearchError } from '../errors.js';
import type { Matmul, StorageDtype } from '../kernels/matmul/matmul.js';
import type { Columns } from '../kernels/add/add.js';
import type { Transpose } from '../kernels/transpose/transpose.js';
import type { DispatchBatch, Gpu } from '../gpu/device.js';
import type { TrainableTensor } from '../kernels/adamw/adamw.js';
import { currentPlatform } from '../platform/platform.js';
import { seededRandom } from '../util/random.js';
import type { ModelConfig } from './config.js';
import { layerTensors, type LayerBuffer } from './layout.js';
import { readSafetensorsHeader, tensorToF32, writeSafetensors } from './safetensors.js';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  rank: number;
  alpha: number;
  targets: readonly LoraTarget[];
  /** Seed of A's initialisation (default 0). */
  seed?: number;
}

/** Where a target reads its input and writes its output in the fused forward. */
export interface LoraSite {
  target: LoraTarget;
  input: 'a1' | 'attn' | 'a2' | 'act';
  /** The fused output it adds into and its column range there. */
  output: 'qkv' | 'x' | 'gateUp';
  offset: number;
  width: number;
  in: number;
  out: number;
}

/** What adapters need of a model: its device, its shape and its weight storage (a CausalLM is one). */
export interface AdapterHost {
  readonly gpu: Gpu;
  readonly config: ModelConfig;
  readonly weightDtype: StorageDtype;
}

/** Which activation each fused projection reads, and which it adds into (the forward's buffers). */
const SITE_IO: Record<'wQkv' | 'wO' | 'wGateUp' | 'wDown', { input: LoraSite['input']; output: LoraSite['output'] }> = {
  wQkv: { input: 'a1', output: 'qkv' },
  wO: { input: 'attn', output: 'x' },
  wGateUp: { input: 'a2', output: 'gateUp' },
  wDown: { input: 'act', output: 'x' },
};

/** A target's place in the fused forward, from the layer layout (model/layout.ts). */
export function loraSite(c: ModelConfig, target: LoraTarget): LoraSite {
  const layout = layerTensors(c);
  const t = layout.find((x) => x.name.endsWith(`.${target}.weight`))!;
  const [out, inputs] = t.shape as [number, number];
  const width = layout.filter((x) => x.buffer === t.buffer).reduce((n, x) => n + x.shape[0]!, 0);
  const io = SITE_IO[t.buffer as Exclude<LayerBuffer, 'inputNorm' | 'bQkv' | 'qkNorm' | 'postNorm'>];
  return { target, ...io, offset: t.offset / inputs, width, in: inputs, out };
}

const moduleOf = (t: LoraTarget) => (t.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(t) ? 'mlp' : 'self_attn');
export const peftName = (layer: number, target: LoraTarget, ab: 'A' | 'B') => `base_model.model.model.layers.${layer}.${moduleOf(target)}.${target}.lora_${ab}.weight`;

export interface LoraLayerAdapter {
  site: LoraSite;
  a: GPUBuffer;
  b: GPUBuffer;
  dA: GPUBuffer;
  dB: GPUBuffer;
}

export class LoraAdapters {
  readonly scale: number;

  private constructor(
    readonly gpu: Gpu,
    readonly config: LoraConfig,
    /** Per layer, one adapter per target. */
    readonly layers: LoraLayerAdapter[][],
  ) {
    this.scale = config.alpha / config.rank;
  }

  private static check(model: AdapterHost, config: LoraConfig): void {
    if (!Number.isInteger(config.rank) || config.rank < 1) throw new IgSearchError('INVALID_ARGUMENT', `LoRA: rank must be a positive integer, got ${config.rank}`);
    if (!(config.alpha > 0)) throw new IgSearchError('INVALID_ARGUMENT', `LoRA: alpha must be > 0, got ${config.alpha}`);
    if (config.targets.length === 0) throw new IgSearchError('INVALID_ARGUMENT', 'LoRA: no target modules');
    for (const t of config.targets) {
      if (!(LORA_TARGETS as readonly string[]).includes(t)) {
        throw new IgSearchError('INVALID_ARGUMENT', `LoRA: target "${t}" is not a module of this model (Qwen2 has ${LORA_TARGETS.join(', ')})`);
      }
    }
  }

  /** Fresh adapters: A ~ U(−1/√in, 1/√in) (kaiming-uniform, as PEFT), B = 0. */
  static create(model: AdapterHost, config: LoraConfig): LoraAdapters {
    LoraAdapters.check(model, config);
    const rand = seededRandom(config.seed ?? 0);
    return LoraAdapters.fromTensors(model, config, (layer, target, ab, shape) => {
      if (ab === 'B') return new Float32Array(shape[0]! * shape[1]!);
      const bound = 1 / Math.sqrt(shape[1]!);
      return Float32Array.from({ length: shape[0]! * shape[1]! }, () => (rand() * 2 - 1) * bound);
    });
  }

  /** PEFT adapter directory (`adapter_config.json` + `adapter_model.safetensors`). */
  static async load(model: AdapterHost, dir: string): Promise<LoraAdapters> {
    const read = (name: string) => currentPlatform().readFile(`${dir.replace(/\/$/, '')}/${name}`);
    const cfg = JSON.parse(new TextDecoder().decode(await read('adapter_config.json'))) as { r?: number; lora_alpha?: number; target_modules?: string[] };
    const config: LoraConfig = { rank: cfg.r ?? 0, alpha: cfg.lora_alpha ?? 0, targets: (cfg.target_modules ?? []) as LoraTarget[] };
    LoraAdapters.check(model, config);
    const bytes = await read('adapter_model.safetensors');
    const header = readSafetensorsHeader(bytes, `${dir}/adapter_model.safetensors`);
    return LoraAdapters.fromTensors(model, config, (layer, target, ab, shape) => {
      const name = peftName(layer, target, ab);
      const info = header.get(name);
      if (!info) throw new IgSearchError('INVALID_ARGUMENT', `${dir}/adapter_model.safetensors: tensor "${name}" is missing`);
      if (info.shape.join() !== shape.join()) throw new IgSearchError('SHAPE_MISMATCH', `${dir}/adapter_model.safetensors: "${name}" has shape [${info.shape}], expected [${shape}]`);
      return tensorToF32(bytes, info);
    });
  }

  private static fromTensors(model: AdapterHost, config: LoraConfig, values: (layer: number, target: LoraTarget, ab: 'A' | 'B', shape: number[]) => Float32Array): LoraAdapters {
    const gpu = model.gpu;
    const layers = Array.from({ length: model.config.numLayers }, (_, l) =>
      config.targets.map((target) => {
        const site = loraSite(model.config, target);
        const r = config.rank;
        return {
          site,
          a: gpu.upload(values(l, target, 'A', [r, site.in]), `lora.${l}.${target}.A`),
          b: gpu.upload(values(l, target, 'B', [site.out, r]), `lora.${l}.${target}.B`),
          dA: gpu.upload(new Float32Array(r * site.in), `lora.${l}.${target}.dA`),
          dB: gpu.upload(new Float32Array(site.out * r), `lora.${l}.${target}.dB`),
        };
      }),
    );
    return new LoraAdapters(gpu, config, layers);
  }

  /** (A, dA) and (B, dB) of every adapter, for AdamW. */
  trainables(): TrainableTensor[] {
    const r = this.config.rank;
    return this.layers.flatMap((layer, l) =>
      layer.flatMap((x) => [
        { name: peftName(l, x.site.target, 'A'), param: x.a, grad: x.dA, size: r * x.site.in },
        { name: peftName(l, x.site.target, 'B'), param: x.b, grad: x.dB, size: x.site.out * r },
      ]),
    );
  }

  zeroGrad(): void {
    const encoder = this.gpu.device.createCommandEncoder({ label: 'lora.zero_grad' });
    for (const layer of this.layers) for (const x of layer) (encoder.clearBuffer(x.dA), encoder.clearBuffer(x.dB));
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /** The adapter tensors by PEFT name (read back from the GPU). */
  async tensors(): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
    const r = this.config.rank;
    const out = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const [l, layer] of this.layers.entries()) {
      for (const x of layer) {
        out.set(peftName(l, x.site.target, 'A'), { data: new Float32Array(await this.gpu.read(x.a, r * x.site.in * 4)), shape: [r, x.site.in] });
        out.set(peftName(l, x.site.target, 'B'), { data: new Float32Array(await this.gpu.read(x.b, x.site.out * r * 4)), shape: [x.site.out, r] });
      }
    }
    return out;
  }

  /** PEFT files: adapter_config.json and adapter_model.safetensors (contents; the caller writes them). */
  async files(): Promise<{ 'adapter_config.json': string; 'adapter_model.safetensors': Uint8Array }> {
    const config = {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: this.config.rank,
      lora_alpha: this.config.alpha,
      lora_dropout: 0,
      bias: 'none',
      target_modules: [...this.config.targets],
    };
    return { 'adapter_config.json': JSON.stringify(config, null, 2), 'adapter_model.safetensors': writeSafetensors(await this.tensors()) };
  }

  free(): void {
    for (const layer of this.layers) for (const x of layer) for (const b of [x.a, x.b, x.dA, x.dB]) this.gpu.pool.release(b);
  }
}

/** What the LoRA forward/backward encoders need from the caller. */
export interface LoraKernels {
  /** y = x·Wᵀ (plain). */
  matmulT: Matmul;
  columns: Columns;
}

/** Adds one adapter's delta s·(x·Aᵀ)·Bᵀ into its columns of the fused output. `u`, `d` are scratch. */
export function encodeLoraForward(
  batch: DispatchBatch,
  k: LoraKernels,
  x: LoraLayerAdapter,
  rank: number,
  scale: number,
  io: { input: GPUBuffer; output: GPUBuffer; u: GPUBuffer; d: GPUBuffer },
  T: number,
): void {
  const s = x.site;
  k.matmulT.encode(batch, io.input, x.a, io.u, { M: T, N: rank, K: s.in, transposeB: true });
  k.matmulT.encode(batch, io.u, x.b, io.d, { M: T, N: s.out, K: rank, transposeB: true });
  k.columns.encode(batch, { x: io.d, out: io.output }, { T, width: s.out, ldx: s.out, xOff: 0, ldo: s.width, oOff: s.offset, beta: 1, scale });
}

/** The backward encoder's kernels on top of the forward's: plain accumulating and A·B (no transpose) products, and a transpose. */
export interface LoraBackwardKernels extends LoraKernels {
  /** C += A·B. */
  matmulAcc: Matmul;
  /** C = A·B. */
  matmulNT: Matmul;
  transpose: Transpose;
}

/**
 * The backward of `encodeLoraForward` for one adapter over `T` rows, given the fused output's
 * gradient `dOutput` (its columns of this projection are read):
 *   dB += dᵀ·(s·x·Aᵀ),  dA += (s·d·B)ᵀ·x,  dInput += (s·d·B)·A     (d = this projection's output gradient)
 * The base weights are not touched; the other buffers are scratch (`u`, `us`, `du`, `dus`, `dusT`:
 * T·rank floats; `dOut`, `dOutT`: T·site.out).
 */
export function encodeLoraBackward(
  batch: DispatchBatch,
  k: LoraBackwardKernels,
  x: LoraLayerAdapter,
  rank: number,
  scale: number,
  io: { input: GPUBuffer; dOutput: GPUBuffer; dInput: GPUBuffer; dOut: GPUBuffer; dOutT: GPUBuffer; u: GPUBuffer; us: GPUBuffer; du: GPUBuffer; dus: GPUBuffer; dusT: GPUBuffer },
  T: number,
): void {
  const s = x.site;
  const r = rank;
  k.columns.encode(batch, { x: io.dOutput, out: io.dOut }, { T, width: s.out, ldx: s.width, xOff: s.offset, ldo: s.out, oOff: 0, beta: 0, scale: 1 });
  k.matmulT.encode(batch, io.input, x.a, io.u, { M: T, N: r, K: s.in, transposeB: true });
  k.columns.encode(batch, { x: io.u, out: io.us }, { T, width: r, ldx: r, xOff: 0, ldo: r, oOff: 0, beta: 0, scale });
  k.transpose.encode(batch, { x: io.dOut, out: io.dOutT }, { R: T, C: s.out });
  k.matmulAcc.encode(batch, io.dOutT, io.us, x.dB, { M: s.out, N: r, K: T });
  k.matmulNT.encode(batch, io.dOut, x.b, io.du, { M: T, N: r, K: s.out });
  k.columns.encode(batch, { x: io.du, out: io.dus }, { T, width: r, ldx: r, xOff: 0, ldo: r, oOff: 0, beta: 0, scale });
  k.transpose.encode(batch, { x: io.dus, out: io.dusT }, { R: T, C: r });
  k.matmulAcc.encode(batch, io.dusT, io.input, x.dA, { M: r, N: s.in, K: T });
  k.matmulAcc.encode(batch, io.dus, x.a, io.dInput, { M: T, N: s.in, K: r });
}

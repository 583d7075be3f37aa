/**
 * The policy loss of docs/method.md (verl's PPO-clip with dual clip, k3 KL to the reference, token-mean
 * or seq-mean-token-mean aggregation) on the GPU: per-token loss and d(loss)/d logp in one pass.
 * Inputs are per token, sequences packed back to back (`sequenceOffsets`, k + 1 entries).
 */
import { IgSearchError } from '../../errors.js';
import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import source from './policy_loss.wgsl';

export const policyLossKernel = defineKernel({
  name: 'policy_loss',
  code: `${GRID_WGSL}\n${source}`,
  entryPoint: 'main',
});

export type LossAggregation = 'token-mean' | 'seq-mean-token-mean';

export interface PolicyLossOptions {
  /** PPO clip range below and above 1 (default 0.2 / 0.2). */
  clipLow?: number;
  clipHigh?: number;
  /** Dual-clip constant c for negative advantages (default 3). */
  dualClip?: number;
  /** KL coefficient β (default 0.001); 0 turns the reference term off. */
  klBeta?: number;
  aggregation?: LossAggregation;
}

export interface PolicyLossInput {
  /** Current log-probs of the tokens (the quantity being differentiated). */
  logp: Float32Array;
  /** Rollout-time log-probs. */
  oldLogp: Float32Array;
  /** Reference-model log-probs (the frozen base). */
  refLogp: Float32Array;
  /** Per-token advantages (IG-Search: Â_i + λ·IG̃ on query tokens). */
  advantages: Float32Array;
  /** 1 for tokens that get loss (policy tokens), 0 for prompt/retrieved ones. */
  mask: ArrayLike<number>;
  /** Token offsets of the sequences, k + 1 entries from 0 to the token count. */
  sequenceOffsets: ArrayLike<number>;
}

/** Per-token weights so that Σ w_t · ℓ_t is the aggregated loss. */
export function aggregationWeights(mask: ArrayLike<number>, offsets: ArrayLike<number>, mode: LossAggregation): Float32Array {
  const w = new Float32Array(mask.length);
  if (mode === 'token-mean') {
    let count = 0;
    for (let t = 0; t < mask.length; t++) count += mask[t] ? 1 : 0;
    if (count) for (let t = 0; t < mask.length; t++) w[t] = mask[t] ? 1 / count : 0;
    return w;
  }
  let sequences = 0;
  for (let s = 0; s + 1 < offsets.length; s++) {
    let n = 0;
    for (let t = offsets[s]!; t < offsets[s + 1]!; t++) n += mask[t] ? 1 : 0;
    if (n) sequences++;
  }
  for (let s = 0; s + 1 < offsets.length; s++) {
    let n = 0;
    for (let t = offsets[s]!; t < offsets[s + 1]!; t++) n += mask[t] ? 1 : 0;
    for (let t = offsets[s]!; t < offsets[s + 1]!; t++) w[t] = mask[t] ? 1 / (n * sequences) : 0;
  }
  return w;
}

export function resolveLossOptions(options: PolicyLossOptions = {}): Required<PolicyLossOptions> {
  const o = { clipLow: 0.2, clipHigh: 0.2, dualClip: 3, klBeta: 0.001, aggregation: 'token-mean' as LossAggregation, ...options };
  for (const key of ['clipLow', 'clipHigh', 'dualClip', 'klBeta'] as const) {
    if (!Number.isFinite(o[key]) || o[key] < 0) throw new IgSearchError('INVALID_ARGUMENT', `policy loss: ${key} must be a finite number ≥ 0, got ${o[key]}`);
  }
  if (o.dualClip <= 1) throw new IgSearchError('INVALID_ARGUMENT', `policy loss: dualClip must be > 1, got ${o.dualClip}`);
  if (o.aggregation !== 'token-mean' && o.aggregation !== 'seq-mean-token-mean') throw new IgSearchError('INVALID_ARGUMENT', `policy loss: unknown aggregation ${String(o.aggregation)}`);
  return o;
}

function check(input: PolicyLossInput): number {
  const n = input.logp.length;
  if (n === 0) throw new IgSearchError('INVALID_ARGUMENT', 'policy loss: the batch has no tokens');
  for (const key of ['oldLogp', 'refLogp', 'advantages', 'mask'] as const) {
    if (input[key].length !== n) throw new IgSearchError('SHAPE_MISMATCH', `policy loss: ${key} has ${input[key].length} entries for ${n} tokens`);
  }
  const o = input.sequenceOffsets;
  if (o.length < 2 || o[0] !== 0 || o[o.length - 1] !== n) throw new IgSearchError('SHAPE_MISMATCH', `policy loss: sequenceOffsets must run from 0 to ${n} (got ${o.length} entries ending at ${o[o.length - 1]})`);
  for (let i = 1; i < o.length; i++) if (o[i]! < o[i - 1]!) throw new IgSearchError('INVALID_ARGUMENT', `policy loss: sequenceOffsets decrease at ${i}`);
  for (let t = 0; t < n; t++) {
    if (!Number.isFinite(input.advantages[t]!)) throw new IgSearchError('NON_FINITE', `policy loss: advantages[${t}] = ${input.advantages[t]}`);
  }
  return n;
}

export type PolicyLossBuffers = { logp: GPUBuffer; old: GPUBuffer; reference: GPUBuffer; advantages: GPUBuffer; weights: GPUBuffer; loss: GPUBuffer; grad: GPUBuffer };

/** The loss kernel over GPU-resident per-token buffers. */
export class PolicyLoss {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<PolicyLoss> {
    return new PolicyLoss(await ComputeKernel.compile(gpu, policyLossKernel));
  }

  /** Token t's loss goes to `loss[lossBase + t]`, so micro-batches can fill one step-wide buffer. */
  encode(batch: DispatchBatch, b: PolicyLossBuffers, n: number, o: Required<PolicyLossOptions>, lossBase = 0): void {
    const { clipLow, clipHigh, dualClip, klBeta } = o;
    this.kernel.dispatch(batch, b, { n, lossBase, clipLow, clipHigh, dualClip, klBeta }, grid(Math.ceil(n / 64)));
  }
}

/** Host-level form: the aggregated loss and d(loss)/d logp per token. */
export async function policyLoss(gpu: Gpu, input: PolicyLossInput, options: PolicyLossOptions = {}): Promise<{ loss: number; grad: Float32Array; tokenLoss: Float32Array }> {
  const o = resolveLossOptions(options);
  const n = check(input);
  const weights = aggregationWeights(input.mask, input.sequenceOffsets, o.aggregation);
  const kernel = await PolicyLoss.create(gpu);
  const buffers = {
    logp: gpu.upload(input.logp, 'logp'),
    old: gpu.upload(input.oldLogp, 'old_logp'),
    reference: gpu.upload(input.refLogp, 'ref_logp'),
    advantages: gpu.upload(input.advantages, 'advantages'),
    weights: gpu.upload(weights, 'loss_weights'),
    loss: gpu.allocate(n * 4, 'token_loss'),
    grad: gpu.allocate(n * 4, 'dloss_dlogp'),
  };
  try {
    const batch = gpu.batch('policy_loss');
    kernel.encode(batch, buffers, n, o);
    batch.submit();
    const tokenLoss = new Float32Array(await gpu.read(buffers.loss, n * 4));
    const grad = new Float32Array(await gpu.read(buffers.grad, n * 4));
    let loss = 0;
    for (const v of tokenLoss) loss += v;
    return { loss, grad, tokenLoss };
  } finally {
    for (const b of Object.values(buffers)) gpu.pool.release(b);
  }
}

/**
 * `ig-search/internals`: the kernel-level pieces under the public API — WebGPU kernels and their
 * launchers, buffer pools and flags, checkpoint and safetensors readers, f64 oracles, the packed
 * batch, the gradient pass, the policy loss and AdamW. For benchmarks, tests and people building on
 * the kernels; they change with the implementation. Import beside the main entry (which installs the
 * runtime's platform): `import { Matmul } from 'ig-search/internals'`.
 */
export { DispatchBatch } from './gpu/device.js';
export { WasmScope } from './wasm/core.js';
export { KvCache } from './model/causal_lm.js';
export { configJson, modelTensorShapes } from './model/config.js';
export { INVALID_SEARCH_NOTE } from './rollout/search_r1.js';
export { loraSite, peftName, type LoraSite } from './model/lora.js';
export { freshExamples, scriptedTrajectory, type ScriptedExample } from './rl/sft.js';
export { questionsForStep, MAX_SKIPPED_IN_A_ROW } from './rl/loop.js';
export { differences, hopSubsets } from './compare/stats.js';
export { hopSplit } from './report/report.js';
export { currentPlatform, type Platform, type RuntimeName } from './platform/platform.js';
export { BufferPool, type PoolStats } from './gpu/pool.js';
export { defineKernel, type Kernel, type Binding, type Access, type ParamField } from './gpu/kernel.js';
export { ComputeKernel, type Resource } from './gpu/compute.js';
export type { CompiledKernel, Constants } from './gpu/pipelines.js';
export { BufferUsage, MapMode } from './gpu/flags.js';
export { Matmul, matmul, pickMatmulVariant, type MatmulShape, type MatmulVariant, type MatmulOptions, type MatmulCompute, type MatmulPrologue, type PrologueOperands } from './kernels/matmul/matmul.js';
// One class per kernel: `await X.create(gpu, options)` compiles it, `x.encode(batch, buffers, shape)` records it.
export { Attention, AttentionBackward, AttentionDecode, attendsOnlyToCache, flashSuits, flashTile, pickAttentionVariant, pickDecodeVariant, type AttentionVariant } from './kernels/attention/attention.js';
export { Embedding, EmbeddingBackward, groupRowsByToken } from './kernels/embedding/embedding.js';
export { LogsoftmaxGather, LogsoftmaxGatherBackward } from './kernels/logsoftmax/logsoftmax.js';
export { Rmsnorm, RmsnormBackward } from './kernels/rmsnorm/rmsnorm.js';
export { QkNorm, QkNormBackward } from './kernels/qk_norm/qk_norm.js';
export { Rope, RopeBackward, ropeTable } from './kernels/rope/rope.js';
export { Swiglu, SwigluBackward } from './kernels/swiglu/swiglu.js';
export { Add, Columns } from './kernels/add/add.js';
export { Transpose } from './kernels/transpose/transpose.js';
export { LinearBackward } from './kernels/linear/linear.js';
export { matmulRef } from './kernels/matmul/ref.js';
export { readCheckpoint, openCheckpoint, mapSource, type HostCheckpoint, type OpenCheckpoint, type TensorSource } from './model/hf_checkpoint.js';
export { readSafetensorsHeader, tensorToF32, f32ToF16, f32ToBf16, writeSafetensors, type TensorInfo, type Dtype } from './model/safetensors.js';
export type { BufferSlice } from './gpu/device.js';
export { randomModelTensors } from './model/random.js';
export { logprobsRef } from './model/ref.js';
export { ScorePlan, type ScorePath, type Selection, ROW_FIELDS } from './scoring/plan.js';
export { aggregationWeights, PolicyLoss, resolveLossOptions, type PolicyLossBuffers } from './kernels/policy_loss/policy_loss.js';
export { policyLossRef, type PolicyLossParams } from './kernels/policy_loss/ref.js';
export { packBatch, byPrediction, type Batch } from './rl/batch.js';

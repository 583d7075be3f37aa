/**
 * ig-search public API. Runtime entries (`src/entry/node.ts`, `deno.ts`, `browser.ts`) re-export
 * this module after installing their platform (how to reach WebGPU and read the .wasm asset).
 */
export { IgSearchError, isIgSearchError, type IgSearchErrorCode } from './errors.js';
export { currentPlatform, type Platform, type RuntimeName } from './platform/platform.js';
export { Gpu, DispatchBatch, type GpuOptions, type AdapterSummary } from './gpu/device.js';
export { BufferPool, type PoolStats } from './gpu/pool.js';
export { defineKernel, type Kernel, type Binding } from './gpu/kernel.js';
export type { CompiledKernel, Constants } from './gpu/pipelines.js';
export { BufferUsage, MapMode } from './gpu/flags.js';
export { Matmul, matmul, pickMatmulVariant, type MatmulShape, type MatmulVariant, type MatmulOptions } from './kernels/matmul/matmul.js';
export { matmulRef } from './kernels/matmul/ref.js';
export { WasmCore, loadWasmCore, type WasmSource } from './wasm/core.js';
export { doctor, type DoctorReport } from './cli/doctor.js';
export { WasmScope } from './wasm/core.js';
export { normalizeAnswer, extractAnswer, computeRewards, type RewardMetric, type RewardOptions } from './rl/reward.js';
export {
  grpoAdvantages,
  informationGain,
  modulateQueryAdvantages,
  gigpoAdvantages,
  igpoAdvantages,
  mrSearchAdvantages,
  DEFAULT_IG_SHAPING,
  GIGPO_DEFAULTS,
  IGPO_DEFAULTS,
  MR_SEARCH_DEFAULTS,
  type TurnLayout,
  type GrpoOptions,
  type IgShapingOptions,
  type ModulationInput,
  type SpanArrays,
} from './rl/advantage.js';
export { Bm25Index, bm25Terms, type Bm25Options, type SearchHit, type SampleOptions } from './retrieval/bm25.js';
export { parseCorpusJsonl, parseQuestionsJsonl, passageTitle, type Passage, type ParsedCorpus, type ParsedQuestions, type DataQuestion, type JsonlOptions } from './retrieval/corpus.js';
export { Tokenizer, type EncodeOptions, type DecodeOptions } from './tokenizer/tokenizer.js';
export { tokenizerJsonFromTiktoken, type TiktokenFile } from './tokenizer/tiktoken.js';
export { trainTokenizerJson, type TrainOptions } from './tokenizer/train.js';
export { Qwen2Model, type Qwen2Options, type WeightDtype, type ScoreItem, type ScoredContinuation, type ScoreOptions } from './model/qwen2.js';
export { readQwen2Config, qwen2ConfigJson, qwen2TensorShapes, type Qwen2Config } from './model/config.js';
export { readQwen2Checkpoint, openQwen2Checkpoint, mapSource, type HostCheckpoint, type OpenCheckpoint, type TensorSource } from './model/checkpoint.js';
export { readSafetensorsHeader, tensorToF32, f32ToF16, f32ToBf16, writeSafetensors, type TensorInfo, type Dtype } from './model/safetensors.js';
export type { BufferSlice } from './gpu/device.js';
export { randomQwen2Tensors } from './model/random.js';
export { qwen2LogprobsRef } from './model/ref.js';
export { ScorePlan, type ScorePath, type Selection } from './scoring/plan.js';
export { scoreInformationGain, scoreInformationGainFromCache, type IgStep, type IgScore, type CachedIgStep } from './scoring/ig.js';
export { KvCache } from './model/qwen2.js';
export { ROW_FIELDS } from './scoring/plan.js';
export { DecodeSession, generate, type GenerateOptions, type Generation, type RolloutCache } from './rollout/generate.js';
export { sampleToken, seededRandom, type SamplingOptions } from './rollout/sample.js';
export { Bm25Retriever, HttpRetriever, formatInformation, type Retriever, type RetrievedDocument, type HttpRetrieverOptions } from './retrieval/retriever.js';
export {
  rolloutSearchAgent,
  rolloutSearchAgentWithCache,
  searchR1Prompt,
  INVALID_SEARCH_NOTE,
  type SearchAgentOptions,
  type SearchStep,
  type SearchFinish,
  type SearchTrajectory,
} from './rollout/search_r1.js';
export { promptText, renderChat, hasChatTemplate } from './rollout/template.js';
export { ChatTemplate, chatML, type ChatRenderOptions } from './tokenizer/chat_template.js';
export { loadTokenizer, tokenizerFiles } from './tokenizer/load.js';
export { fromPretrained, cachedModels, removeCachedModel, type PretrainedOptions, type DownloadProgress } from './hub/hub.js';
export type { CachedModel } from './hub/store.js';
export { searchR1Parquet, searchR1Rows, SEARCH_R1_EXPORT_DEFAULTS, type SearchR1Row, type SearchR1ExportOptions } from './export/search_r1.js';
export {
  ChatEngine,
  chatTemplate,
  rolloutWithCompletions,
  type ChatMessage,
  type ChatCompletion,
  type ChatCompletionRequest,
  type Completion,
  type CompletionRequest,
  type CompletionsEngine,
  type TextTrajectory,
} from './rollout/chat.js';
export { AdamW, type AdamWOptions, type TrainableTensor, type StepReport } from './kernels/adamw/adamw.js';
export { policyLoss, aggregationWeights, encodePolicyLoss, policyLossKernel, resolveLossOptions, type LossAggregation, type PolicyLossOptions, type PolicyLossInput } from './kernels/policy_loss/policy_loss.js';
export { policyLossRef, type PolicyLossParams } from './kernels/policy_loss/ref.js';
export { qwen2Gradients, readModelTensor, type Gradients, type GradientOptions, type PolicyLossRows } from './model/backward.js';
export { saveCheckpoint, saveModelDirectory, latestCheckpoint, readCheckpointState, type TrainerState, type SaveOptions } from './rl/checkpoint.js';
export { buildWorld, worldCorpusJsonl, worldQuestionsJsonl, type World, type WorldOptions, type WorldQuestion, type WorldPassage, type Entity, type EntityKind } from './world/world.js';
export { LoraAdapters, LORA_TARGETS, loraSite, peftName, type LoraConfig, type LoraTarget, type LoraSite } from './model/lora.js';
export { IgSearchTrainer, resolveTrainerConfig, STEP_PHASES, type TrainerConfig, type ResolvedConfig, type TrainQuestion, type StepMetrics, type StepTiming } from './rl/trainer.js';
export { packBatch, byPrediction, type Batch } from './rl/batch.js';
export { SAMPLING_DEFAULTS, TRAINER_DEFAULTS, RUN_DEFAULTS, ALGORITHMS, TURN_CREDIT_DEFAULTS, type Algorithm } from './defaults.js';
export { supervisedWarmStart, scriptedTrajectory, type SftOptions, type ScriptedExample } from './rl/sft.js';
export { trainingRun, evaluate, questionsForStep, MAX_SKIPPED_IN_A_ROW, type TrainingRunOptions, type TrainingRunResult, type RunRecord, type RunEvent, type EvalReport, type EvalOptions } from './rl/loop.js';
export { runDemo, loadDemoPolicy, DEMO_DEFAULTS, type DemoOptions, type DemoResult, type DemoPolicy } from './demo/demo.js';
export { runCompare, summarize as summarizeComparison, COMPARE_DEFAULTS, type CompareOptions, type CompareResult, type CompareRun, type CompareEvent, type AlgorithmSummary } from './compare/compare.js';
export { pairedBootstrap, differences, hopSubsets, type Interval, type BootstrapOptions } from './compare/stats.js';
export { compareMarkdown, renderCompareReport } from './compare/report.js';
export { renderReport, summarizeRuns, hopSplit, type RunSummary, type ReportOptions } from './report/report.js';
export { createTrainerWorkerApi, type TrainerWorkerApi, type WorkerDemoOptions, type WorkerDemoResult } from './worker/api.js';
export { wrapTrainerWorker, workerCallback, spawnTrainerWorker, type TrainerWorker } from './worker/client.js';

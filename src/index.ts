/**
 * ig-search's public API, by task. Runtime entries (`src/entry/node.ts`, `deno.ts`, `browser.ts`)
 * re-export this module after installing their platform (how to reach WebGPU and read files).
 * Kernel-level pieces — kernels and their launchers, buffer pools, oracles, the packed batch, the
 * gradient pass — are on the `ig-search/internals` subpath (src/internals.ts).
 */

// ---- Errors, runtime and defaults --------------------------------------------------------------------
export { IgSearchError, isIgSearchError, type IgSearchErrorCode } from './errors.js';
export { Gpu, type GpuOptions, type AdapterSummary } from './gpu/device.js';
export { WasmCore, loadWasmCore, type WasmSource } from './wasm/core.js';
export { doctor, type DoctorReport } from './cli/doctor.js';
export { SAMPLING_DEFAULTS, TRAINER_DEFAULTS, RUN_DEFAULTS, ALGORITHMS, ALGORITHM_SPECS, IG_ALGORITHMS, CORPUS_ALGORITHMS, TURN_CREDIT_DEFAULTS, checkAlgorithm, isAlgorithm, type Algorithm, type AlgorithmSpec } from './defaults.js';

// ---- Load a model: from the Hub, a directory or a URL ------------------------------------------------
export { CausalLM, type ModelOptions, type WeightDtype, type ScoreItem, type ScoredContinuation, type ScoreOptions } from './model/causal_lm.js';
export { BertEncoder, readEncoderConfig, encoderTensorShapes, type EncoderConfig, type EncoderOptions, type EmbedOptions, type Pooling } from './model/encoder.js';
export { readModelConfig, type ModelConfig } from './model/config.js';
/** @deprecated Old names from when Qwen2 was the only architecture: `CausalLM`, `ModelConfig`, `ModelOptions`, `readModelConfig`. */
export { CausalLM as Qwen2Model, type ModelOptions as Qwen2Options } from './model/causal_lm.js';
/** @deprecated See above. */
export { type ModelConfig as Qwen2Config, readModelConfig as readQwen2Config } from './model/config.js';
export { loadTokenizer, tokenizerFiles } from './tokenizer/load.js';
export { fromPretrained, cachedModels, removeCachedModel, type PretrainedOptions, type DownloadProgress } from './hub/hub.js';
export type { CachedModel } from './hub/store.js';

// ---- Tokenize and prompt -----------------------------------------------------------------------------
export { Tokenizer, type EncodeOptions, type DecodeOptions } from './tokenizer/tokenizer.js';
export { tokenizerJsonFromTiktoken, type TiktokenFile } from './tokenizer/tiktoken.js';
export { trainTokenizerJson, type TrainOptions } from './tokenizer/train.js';
export { promptText, renderChat, hasChatTemplate } from './rollout/template.js';
export { ChatTemplate, chatML, type ChatRenderOptions } from './tokenizer/chat_template.js';

// ---- Score (log-probs, information gain) -------------------------------------------------------------
export { scoreInformationGain, scoreInformationGainFromCache, type IgStep, type IgScore, type CachedIgStep } from './scoring/ig.js';

// ---- Generate and run search agents ------------------------------------------------------------------
export { DecodeSession, generate, type GenerateOptions, type Generation, type RolloutCache } from './rollout/generate.js';
export { sampleToken, seededRandom, type SamplingOptions } from './rollout/sample.js';
export {
  rolloutSearchAgent,
  rolloutSearchAgentWithCache,
  searchR1Prompt,
  searchR1PromptTokens,
  type SearchAgentOptions,
  type SearchStep,
  type SearchFinish,
  type SearchTrajectory,
} from './rollout/search_r1.js';
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

// ---- Retrieve ----------------------------------------------------------------------------------------
export { Bm25Index, bm25Terms, type Bm25Options, type SearchHit, type SampleOptions } from './retrieval/bm25.js';
export {
  parseCorpusJsonl,
  parseQuestionsJsonl,
  passageTitle,
  type Passage,
  type ParsedCorpus,
  type ParsedQuestions,
  type Question,
  type DataQuestion,
  type JsonlOptions,
} from './retrieval/corpus.js';
export { SentenceEncoder, DenseRetriever, HybridRetriever, buildDenseIndex, type SentenceEncoderOptions, type BuildIndexOptions, type HybridOptions } from './retrieval/dense.js';
export { DenseIndex, denseIndexBytes, type DenseIndexHeader, type DenseIndexOptions, type DenseHit, type IndexDtype, type IndexEncoding } from './retrieval/dense_index.js';
export { Bm25Retriever, HttpRetriever, formatInformation, type Retriever, type RetrievedDocument, type HttpRetrieverOptions } from './retrieval/retriever.js';

// ---- Rewards and advantages (the Rust core) ----------------------------------------------------------
export { normalizeAnswer, extractAnswer, computeRewards, type RewardMetric, type RewardOptions } from './rl/reward.js';
export {
  grpoAdvantages,
  informationGain,
  modulateQueryAdvantages,
  spanAdvantages,
  gigpoAdvantages,
  igpoAdvantages,
  mrSearchAdvantages,
  discountedReturns,
  DEFAULT_IG_SHAPING,
  GIGPO_DEFAULTS,
  IGPO_DEFAULTS,
  MR_SEARCH_DEFAULTS,
  type TurnLayout,
  type GrpoOptions,
  type IgShapingOptions,
  type ModulationInput,
  type SpanAdvantageInput,
  type SpanArrays,
} from './rl/advantage.js';

// ---- Train: the IG-Search trainer, LoRA, checkpoints, the demo and comparisons -----------------------
export { saveCheckpoint, saveModelDirectory, latestCheckpoint, readCheckpointState, type TrainerState, type SaveOptions } from './rl/training_checkpoint.js';
export {
  buildWorld,
  worldCorpusJsonl,
  worldQuestionsJsonl,
  WORLD_SPLITS,
  type WorldSplit,
  type World,
  type WorldOptions,
  type WorldQuestion,
  type WorldPassage,
  type Entity,
  type EntityKind,
} from './world/world.js';
export { LoraAdapters, LORA_TARGETS, type LoraConfig, type LoraTarget } from './model/lora.js';
export {
  IgSearchTrainer,
  resolveTrainerConfig,
  STEP_PHASES,
  type TrainerConfig,
  type ResolvedConfig,
  type TrainQuestion,
  type StepMetrics,
  type StepSummary,
  type StepTiming,
} from './rl/trainer.js';
export { inspectStep, renderInspection, INSPECTION_CSS, type InspectedRollout, type InspectedPiece, type InspectedSearch, type PieceKind } from './report/inspect.js';
export { supervisedWarmStart, type SftOptions } from './rl/sft.js';
export { measureSignals, summarizeSignals, labelSearches, auc, formatSignalTable, SIGNALS, MIN_CLASS, type QueryClass, type SearchLabel, type SignalRecord, type SignalSummary, type ClassStats, type SignalMeasurement, type SignalSource } from './rl/signal.js';
export {
  trainingRun,
  evaluate,
  type TrainingRunOptions,
  type TrainingRunResult,
  type RunRecord,
  type RunEvent,
  type EvalReport,
  type EvalOptions,
} from './rl/loop.js';
export { runDemo, loadDemoPolicy, splitQuestions, evaluationSplit, DEMO_DEFAULTS, type DemoOptions, type DemoResult, type DemoPolicy, type DemoData } from './demo/demo.js';
export { parseDemoUploads, parseQuestionsUpload, type DemoUploads, type DataUpload } from './demo/uploads.js';
export {
  runCompare,
  compareRecord,
  registeredConfig,
  summarize as summarizeComparison,
  COMPARE_DEFAULTS,
  type CompareOptions,
  type CompareResult,
  type CompareRun,
  type CompareEvent,
  type AlgorithmSummary,
} from './compare/compare.js';
export { AdamW, type AdamWOptions, type TrainableTensor, type StepReport } from './kernels/adamw/adamw.js';
export { policyLoss, type LossAggregation, type PolicyLossOptions, type PolicyLossInput } from './kernels/policy_loss/policy_loss.js';
export { modelGradients, readModelTensor, type Gradients, type GradientOptions, type PolicyLossRows } from './model/backward.js';

// ---- Report ------------------------------------------------------------------------------------------
export { pairedBootstrap, type Interval, type BootstrapOptions } from './compare/stats.js';
export { compareMarkdown, renderCompareReport } from './compare/report.js';
export { canonicalJson, configHash, checkPreregistration, policyFingerprint, preregister, type Preregistration } from './compare/preregister.js';
export { renderReport, summarizeRuns, igByClassChart, igValuesByClass, type RunSummary, type ReportOptions } from './report/report.js';

// ---- Export (Search-R1 / verl data) ------------------------------------------------------------------
export { searchR1Parquet, searchR1Rows, questionsFromSearchR1Rows, parseSearchR1Parquet, SEARCH_R1_EXPORT_DEFAULTS, type SearchR1Row, type SearchR1ExportOptions } from './export/search_r1.js';

// ---- Train in a worker -------------------------------------------------------------------------------
export { createTrainerWorkerApi, type TrainerWorkerApi, type WorkerDemoOptions, type WorkerDemoResult } from './worker/api.js';
export { wrapTrainerWorker, workerCallback, spawnTrainerWorker, type TrainerWorker } from './worker/client.js';

/**
 * What a training worker offers (Web Worker or Node worker_thread, through comlink): the demo, the
 * comparison of algorithms, and their reports, run off the main thread so a page stays responsive and a server keeps serving.
 * Progress comes back through a callback wrapped with `workerCallback` (comlink's `proxy`);
 * `abort()` stops after the current step, like Ctrl-C in the CLI.
 */
import { runCompare, type CompareEvent, type CompareOptions, type CompareResult } from '../compare/compare.js';
import { renderCompareReport } from '../compare/report.js';
import type { DemoOptions, DemoResult } from '../demo/demo.js';
import { DEMO_DEFAULTS, loadDemoPolicy, runDemo, type DemoPolicy } from '../demo/demo.js';
import { IgSearchError } from '../errors.js';
import { CausalLM } from '../model/causal_lm.js';
import type { LoraAdapters } from '../model/lora.js';
import { Bm25Index } from '../retrieval/bm25.js';
import type { Passage } from '../retrieval/corpus.js';
import { Bm25Retriever } from '../retrieval/retriever.js';
import { parseDemoUploads, type DemoUploads } from '../demo/uploads.js';
import { rolloutSearchAgent, searchR1PromptTokens } from '../rollout/search_r1.js';
import { modelDirectoryFiles } from '../rl/training_checkpoint.js';
import { Gpu } from '../gpu/device.js';
import { currentPlatform } from '../platform/platform.js';
import { renderReport, summarizeRuns, type RunSummary } from '../report/report.js';
import type { RunEvent } from '../rl/loop.js';
import { loadWasmCore } from '../wasm/core.js';
import { fromPretrained, type DownloadProgress } from '../hub/hub.js';
import { loadTokenizer, stopTokensOf, tokenizerFiles } from '../tokenizer/load.js';

export type WorkerDemoOptions = Omit<DemoOptions, 'signal' | 'onEvent' | 'onInspection' | 'keepModel' | 'beforeStep'> & {
  /**
   * The user's files in place of the demo world, parsed in the worker (`parseDemoUploads`: JSONL
   * corpus, JSONL or Parquet questions; file:line errors). "Try" then searches this corpus.
   */
  uploads?: DemoUploads;
};

export interface AskOptions {
  /** The demo policy directory (or URL) whose world is searched, and whose warm start answers before any run. */
  policy: string;
  /** The model whose warm start answers before any run, when not the policy (a `download` dir). */
  model?: string;
  question: string;
  maxTurns?: number;
  maxTokens?: number;
  docsPerSearch?: number;
}

export interface AskResult {
  /** Which weights answered: the last demo run's (its algorithm and steps) or the warm start. */
  model: string;
  text: string;
  answer: string | undefined;
  finish: string;
  searches: { query: string; documents: { id: string; title: string }[] }[];
}

export interface WorkerDemoResult extends DemoResult {
  summaries: RunSummary[];
  /** The self-contained report page. */
  html: string;
}

export type WorkerCompareOptions = Omit<CompareOptions, 'signal' | 'onEvent'>;

export interface TrainerWorkerApi {
  /** Runtime and adapter the worker sees. */
  info(): Promise<{ runtime: string; adapter: string; architecture: string }>;
  /** `onInspection` (wrapped with `workerCallback`) gets every IG-Search step token by token, as it happens. */
  demo(options: WorkerDemoOptions, onEvent?: (event: RunEvent) => void, onInspection?: (inspection: NonNullable<DemoResult['inspection']>) => void): Promise<WorkerDemoResult>;
  /** `ig-search compare` in the worker: the result and its report page (`html`). */
  compare(options: WorkerCompareOptions, onEvent?: (event: CompareEvent) => void): Promise<CompareResult & { html: string }>;
  /**
   * One greedy search-agent rollout of `question` over the demo world with the weights the last
   * `demo` run ended with (the warm start before any run); `onText` gets the text as it grows.
   */
  ask(options: AskOptions, onText?: (text: string) => void): Promise<AskResult>;
  /**
   * The weights the last `demo` run ended with, as a loadable Hugging Face directory: model.safetensors
   * (f32), config.json and the policy's tokenizer.json; after a LoRA run (`loraRank`), the PEFT adapter
   * instead (adapter_config.json, adapter_model.safetensors) for `LoraAdapters.load` on the demo policy.
   */
  exportModel(): Promise<Record<string, string | Uint8Array>>;
  /** Per-token log-probs of `sequences` under those weights (what an exported copy must reproduce). */
  logprobs(sequences: number[][]): Promise<number[][]>;
  /**
   * A Hub model (`org/name`) fetched with `fromPretrained` into the worker's cache (Cache Storage in
   * browsers: a later visit loads it offline); `dir` is what `demo({model})` and `ask({model})` take.
   */
  download(repo: string, options?: { revision?: string; endpoint?: string; token?: string }, onProgress?: (progress: DownloadProgress) => void): Promise<{ dir: string; architecture: string; parameters: number }>;
  /** Stops a running demo or comparison after its current step (a paused demo stops at once). */
  abort(): void;
  /**
   * A running demo waits before its next step (the current one finishes) until `resume()`; a
   * `progress` event with phase `paused` says it is waiting. The GPU state stays as it is.
   */
  pause(): void;
  resume(): void;
  /**
   * Ends the worker's work cleanly: aborts a running demo, waits for it to stop, and releases the
   * GPU device. `terminate()` calls it before ending the thread.
   */
  shutdown(): Promise<void>;
}

export function createTrainerWorkerApi(): TrainerWorkerApi {
  let gpu: Promise<Gpu> | undefined;
  let controller: AbortController | undefined;
  let running: Promise<unknown> | undefined;
  const device = () => (gpu ??= Gpu.request());
  // The pause gate: while it is set, the demo's next step waits for it.
  let gate: { wait: Promise<void>; open: () => void } | undefined;
  const resume = () => {
    gate?.open();
    gate = undefined;
  };
  // The last run's weights; `corpus` when it trained on the user's (ask searches it, through `index`, built once).
  let trained: { dir: string; model: CausalLM; adapters?: LoraAdapters; label: string; corpus?: readonly Passage[]; index?: Bm25Index } | undefined;
  let world: { dir: string; policy: Promise<DemoPolicy> } | undefined;
  // The demo world of a policy directory, loaded once and kept for ask/exportModel. A failed load is
  // forgotten (the next call retries) and never left as an unhandled rejection, which would end a Node worker.
  const worldOf = (dir: string): Promise<DemoPolicy> => {
    if (world?.dir === dir) return world.policy;
    const policy = loadWasmCore().then((core) => loadDemoPolicy(core, dir));
    const entry = { dir, policy };
    policy.catch(() => {
      if (world === entry) world = undefined;
    });
    world = entry;
    return policy;
  };
  const keepModel = (dir: string, corpus: readonly Passage[] | undefined, model: CausalLM, algo: string, steps: number, adapters?: LoraAdapters) => {
    trained?.index?.free();
    trained?.adapters?.free();
    trained?.model.free();
    trained = { dir, corpus, model, adapters, label: `${algo} after ${steps} steps${adapters ? ` (LoRA rank ${adapters.config.rank})` : ''}` };
  };
  return {
    async info() {
      const g = await device();
      return { runtime: currentPlatform().runtime, adapter: g.adapter.description || g.adapter.device || g.adapter.vendor, architecture: g.adapter.architecture };
    },
    async demo(options, onEvent, onInspection) {
      controller = new AbortController();
      const { uploads, ...rest } = options;
      const data = uploads ? await parseDemoUploads(uploads) : rest.data;
      void worldOf(options.policy).catch(() => undefined);
      const [g, core] = await Promise.all([device(), loadWasmCore()]);
      // Progress events are plain data; the final records also come back in the result.
      const work = runDemo(g, core, { ...rest, ...(data ? { data } : {}), signal: controller.signal, keepModel: (model, algo, steps, adapters) => keepModel(rest.model ?? rest.policy, data?.corpus, model, algo, steps, adapters), beforeStep: () => gate?.wait, onEvent: onEvent ? (e) => void onEvent(e) : undefined, onInspection: onInspection ? (i) => void onInspection(i) : undefined });
      running = work.catch(() => undefined);
      const result = await work;
      return { ...result, summaries: summarizeRuns(result.records), html: renderReport(result.records, { title: 'ig-search demo: GRPO vs IG-Search', inspection: result.inspection, facts: { device: `${g.adapter.description || g.adapter.device} (${g.adapter.architecture})`, runtime: `${currentPlatform().runtime} worker`, 'wall time': `${(result.wallMs / 1000).toFixed(0)} s` } }) };
    },
    async compare(options, onEvent) {
      controller = new AbortController();
      const [g, core] = await Promise.all([device(), loadWasmCore()]);
      const work = runCompare(g, core, { ...options, signal: controller.signal, onEvent: onEvent ? (e) => void onEvent(e) : undefined });
      running = work.catch(() => undefined);
      const result = await work;
      return { ...result, html: renderCompareReport(result) };
    },
    async ask(options, onText) {
      if (typeof options?.question !== 'string' || options.question.trim() === '') throw new IgSearchError('INVALID_ARGUMENT', 'ask: question must be a non-empty string');
      const g = await device();
      const policy = await worldOf(options.policy);
      // The trained weights (with the tokenizer of the model they came from), else the warm start of `model`.
      const dir = trained?.dir ?? options.model ?? options.policy;
      const loaded = dir === options.policy ? undefined : await loadTokenizer(await loadWasmCore(), dir);
      const tokenizer = loaded ?? policy.tokenizer;
      const warm = trained ? undefined : await CausalLM.load(g, dir);
      const model = trained?.model ?? warm!;
      if (trained?.corpus && !trained.index) trained.index = Bm25Index.build(await loadWasmCore(), trained.corpus);
      try {
        const tokens: number[] = [];
        const stopTokens = stopTokensOf(tokenizer);
        const [t] = await rolloutSearchAgent(model, [searchR1PromptTokens(tokenizer, options.question)], {
          tokenizer,
          retriever: new Bm25Retriever(trained?.index ?? policy.index),
          temperature: 0,
          maxTurns: options.maxTurns ?? DEMO_DEFAULTS.maxTurns,
          maxTokens: options.maxTokens ?? DEMO_DEFAULTS.maxTokens,
          docsPerSearch: options.docsPerSearch ?? DEMO_DEFAULTS.docsPerSearch,
          stopTokens,
          adapters: trained?.adapters,
          onTokens: onText
            ? (_, added) => {
                tokens.push(...added);
                void onText(tokenizer.decode(tokens));
              }
            : undefined,
        });
        return { model: trained?.label ?? 'the warm start', text: t!.text, answer: t!.answer, finish: t!.finish, searches: t!.searches.map((s) => ({ query: s.query, documents: s.documents.map((d) => ({ id: d.id, title: d.title })) })) };
      } finally {
        warm?.free();
        loaded?.free();
      }
    },
    async exportModel() {
      if (!trained) throw new IgSearchError('INVALID_ARGUMENT', 'exportModel: no run has finished in this worker yet');
      if (trained.adapters) return trained.adapters.files();
      return modelDirectoryFiles(trained.model, await tokenizerFiles(trained.dir));
    },
    async download(repo, options = {}, onProgress) {
      const dir = await fromPretrained(repo, { ...options, onProgress: onProgress ? (p) => void onProgress(p) : undefined });
      const g = await device();
      const model = await CausalLM.load(g, dir); // loads once here, so a model that cannot run is refused now
      try {
        return { dir, architecture: model.config.architecture ?? 'qwen2', parameters: model.parameters };
      } finally {
        model.free();
      }
    },
    async logprobs(sequences) {
      if (!trained) throw new IgSearchError('INVALID_ARGUMENT', 'logprobs: no run has finished in this worker yet');
      return (await trained.model.sequenceLogprobs(sequences, { adapters: trained.adapters })).map((r) => Array.from(r));
    },
    abort() {
      controller?.abort();
      resume();
    },
    pause() {
      if (gate) return;
      let open!: () => void;
      const wait = new Promise<void>((resolve) => (open = resolve));
      gate = { wait, open };
    },
    resume,
    async shutdown() {
      controller?.abort();
      resume();
      await running;
      trained?.index?.free();
      trained?.adapters?.free();
      trained?.model.free();
      trained = undefined;
      const loaded = await world?.policy.catch(() => undefined);
      loaded?.index.free();
      world = undefined;
      const device = await gpu?.catch(() => undefined);
      gpu = undefined;
      device?.destroy();
    },
  };
}

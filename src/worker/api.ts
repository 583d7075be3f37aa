/**
 * What a training worker offers (Web Worker or Node worker_thread, through comlink): the demo, the
 * comparison of algorithms, and their reports, run off the main thread so a page stays responsive and a server keeps serving.
 * Progress comes back through a callback wrapped with `workerCallback` (comlink's `proxy`);
 * `abort()` stops after the current step, like Ctrl-C in the CLI.
 */
import { runCompare, type CompareEvent, type CompareOptions, type CompareResult } from '../compare/compare.js';
import { renderCompareReport } from '../compare/report.js';
import type { DemoOptions, DemoResult } from '../demo/demo.js';
import { runDemo } from '../demo/demo.js';
import { Gpu } from '../gpu/device.js';
import { currentPlatform } from '../platform/platform.js';
import { renderReport, summarizeRuns, type RunSummary } from '../report/report.js';
import type { RunEvent } from '../rl/loop.js';
import { loadWasmCore } from '../wasm/core.js';

export type WorkerDemoOptions = Omit<DemoOptions, 'signal' | 'onEvent' | 'onInspection'>;

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
  /** Stops a running demo or comparison after its current step. */
  abort(): void;
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
  return {
    async info() {
      const g = await device();
      return { runtime: currentPlatform().runtime, adapter: g.adapter.description || g.adapter.device || g.adapter.vendor, architecture: g.adapter.architecture };
    },
    async demo(options, onEvent, onInspection) {
      controller = new AbortController();
      const [g, core] = await Promise.all([device(), loadWasmCore()]);
      // Progress events are plain data; the final records also come back in the result.
      const work = runDemo(g, core, { ...options, signal: controller.signal, onEvent: onEvent ? (e) => void onEvent(e) : undefined, onInspection: onInspection ? (i) => void onInspection(i) : undefined });
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
    abort() {
      controller?.abort();
    },
    async shutdown() {
      controller?.abort();
      await running;
      const device = await gpu?.catch(() => undefined);
      gpu = undefined;
      device?.destroy();
    },
  };
}

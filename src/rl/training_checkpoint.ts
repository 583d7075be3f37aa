/**
 * Training checkpoints, written so that nothing saved is ever lost: each checkpoint is a complete
 * directory `ROOT/step-000042/` (HF `config.json` + `model.safetensors` — or, when the model trains
 * LoRA adapters, PEFT `adapter_config.json` + `adapter_model.safetensors` only — plus
 * `optimizer.safetensors` with AdamW's moments and `trainer_state.json`) built under a temporary name and renamed into place
 * in one step; `ROOT/latest` then names it, itself replaced by rename. A crash at any point leaves
 * `latest` naming a complete checkpoint. Saving a step that is already saved is a no-op when the
 * files are the same; otherwise the new one takes a revision name (`step-000042-2`) and the old one
 * is removed only after `latest` names the new. Temporary directories a killed save left behind are
 * removed by the next save. A directory holding step directories is a run whatever `latest` says:
 * when `latest` is missing or names nothing usable, the newest complete step stands in for it. No
 * write follows a link placed in the run directory. Node and Deno (file system); browsers get a typed error.
 */
import { IgSearchError } from '../errors.js';
import type { AdamW } from '../kernels/adamw/adamw.js';
import { readModelTensor } from '../model/backward.js';
import { configJson, modelTensorShapes } from '../model/config.js';
import type { CausalLM } from '../model/causal_lm.js';
import type { LoraAdapters } from '../model/lora.js';
import { readSafetensorsHeader, tensorToF32, writeSafetensors } from '../model/safetensors.js';
import { refuseLink, writeFileAtomic } from '../platform/files.js';

export interface TrainerState {
  step: number;
  [key: string]: unknown;
}

export interface SaveOptions {
  /** LoRA adapters: when given, the checkpoint holds them (PEFT files) instead of the base model's weights. */
  adapters?: LoraAdapters;
  /** More files for the checkpoint directory (e.g. tokenizer.json, so it loads as a model directory). */
  files?: Record<string, string | Uint8Array>;
  /** Test hook: runs after the files are written, before anything is renamed into place. */
  beforeCommit?: () => void | Promise<void>;
  /** Test hook: runs after the new directory is in place, before `latest` names it. */
  beforeLatest?: () => void | Promise<void>;
  /** Test hook: runs after `latest` names the new directory, before a replaced one is removed. */
  beforeCleanup?: () => void | Promise<void>;
}

async function fs() {
  try {
    return await import('node:fs/promises');
  } catch (e) {
    throw new IgSearchError('UNSUPPORTED_RUNTIME', 'checkpoints need a file system (Node or Deno)', { cause: e });
  }
}

/** The model's weights as an HF `model.safetensors` (read back from the GPU, f32). */
async function modelSafetensors(model: CausalLM): Promise<Uint8Array> {
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [tensor, shape] of modelTensorShapes(model.config)) tensors.set(tensor, { data: await readModelTensor(model, tensor), shape });
  return writeSafetensors(tensors);
}

const stepName = (step: number) => `step-${String(step).padStart(6, '0')}`;

export async function saveCheckpoint(root: string, model: CausalLM, optimizer: AdamW | undefined, state: TrainerState, options: SaveOptions = {}): Promise<string> {
  if (!Number.isInteger(state.step) || state.step < 0) throw new IgSearchError('INVALID_ARGUMENT', `checkpoint: step must be a non-negative integer, got ${state.step}`);
  const f = await fs();
  await f.mkdir(root, { recursive: true });
  // What a killed save left behind (one saver per root).
  for (const entry of await f.readdir(root)) {
    if (/^\.step-\d+\.tmp-\d+$/.test(entry)) await f.rm(`${root}/${entry}`, { recursive: true, force: true });
  }
  const name = stepName(state.step);
  const tmp = `${root}/.${name}.tmp-${Date.now()}`;
  await f.mkdir(tmp); // not recursive: anything already there (a planted link included) fails the save
  try {
    if (options.adapters) {
      const files = await options.adapters.files();
      await f.writeFile(`${tmp}/adapter_config.json`, files['adapter_config.json']);
      await f.writeFile(`${tmp}/adapter_model.safetensors`, files['adapter_model.safetensors']);
    } else {
      await f.writeFile(`${tmp}/model.safetensors`, await modelSafetensors(model));
      await f.writeFile(`${tmp}/config.json`, JSON.stringify(configJson(model.config), null, 2));
    }
    if (optimizer) {
      const o = await optimizer.exportState();
      const moments = new Map<string, { data: Float32Array; shape: number[] }>();
      for (const [k, v] of o.m) moments.set(`exp_avg.${k}`, { data: v, shape: [v.length] });
      for (const [k, v] of o.v) moments.set(`exp_avg_sq.${k}`, { data: v, shape: [v.length] });
      await f.writeFile(`${tmp}/optimizer.safetensors`, writeSafetensors(moments, { format: 'ig-search-adamw', step: String(o.step) }));
    }
    await f.writeFile(`${tmp}/trainer_state.json`, JSON.stringify({ ...state, optimizerSaved: optimizer !== undefined }, null, 2));
    for (const [name, data] of Object.entries(options.files ?? {})) await f.writeFile(`${tmp}/${name}`, data);
    await options.beforeCommit?.();
    // The directories already holding this step (a re-save): the same files make this save a no-op.
    const existing = (await f.readdir(root)).filter((e) => e === name || e.startsWith(`${name}-`)).sort(byRevision);
    const current = existing[existing.length - 1];
    if (current && (await sameFiles(f, tmp, `${root}/${current}`))) {
      await f.rm(tmp, { recursive: true, force: true });
      await writeFileAtomic(`${root}/latest`, current);
      return `${root}/${current}`;
    }
    const final = current ? `${name}-${revisionOf(current) + 1}` : name;
    await f.rename(tmp, `${root}/${final}`);
    await options.beforeLatest?.();
    await writeFileAtomic(`${root}/latest`, final);
    await options.beforeCleanup?.();
    for (const old of existing) await f.rm(`${root}/${old}`, { recursive: true, force: true });
    return `${root}/${final}`;
  } catch (e) {
    await f.rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
}

type Fs = Awaited<ReturnType<typeof fs>>;

const revisionOf = (dir: string) => Number(/-(\d+)-(\d+)$/.exec(dir)?.[2] ?? 1);
const byRevision = (a: string, b: string) => revisionOf(a) - revisionOf(b);

/** Whether two checkpoint directories hold the same files with the same bytes. */
async function sameFiles(f: Fs, a: string, b: string): Promise<boolean> {
  const [left, right] = await Promise.all([f.readdir(a), f.readdir(b).catch(() => [] as string[])]);
  if (left.length !== right.length || left.some((n) => !right.includes(n))) return false;
  for (const n of left) {
    const [x, y] = (await Promise.all([f.readFile(`${a}/${n}`), f.readFile(`${b}/${n}`)])).map((d) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    if (x!.length !== y!.length) return false;
    for (let i = 0; i < x!.length; i++) if (x![i] !== y![i]) return false;
  }
  return true;
}

const CHECKPOINT_NAME = /^step-(\d+)(?:-(\d+))?$/;

/** The step directories of a run, oldest first (by step, then revision); a symbolic link among them is refused. */
export async function runCheckpoints(root: string): Promise<string[]> {
  const f = await fs();
  const entries = await f.readdir(root, { withFileTypes: true }).catch(() => []);
  const steps: [string, number, number][] = [];
  for (const e of entries) {
    const m = CHECKPOINT_NAME.exec(e.name);
    if (!m) continue;
    if (e.isSymbolicLink()) throw new IgSearchError('INVALID_ARGUMENT', `checkpoint ${root}/${e.name} is a symbolic link; refused (a save would write or remove through it)`, { hint: 'remove the link, or give another output directory' });
    if (e.isDirectory()) steps.push([e.name, Number(m[1]), Number(m[2] ?? 1)]);
  }
  return steps.sort((a, b) => a[1] - b[1] || a[2] - b[2]).map(([name]) => name);
}

/** Whether a step directory holds a readable trainer state (what resuming needs first). */
async function isComplete(f: Fs, dir: string): Promise<boolean> {
  try {
    const state = JSON.parse(await f.readFile(`${dir}/trainer_state.json`, 'utf8')) as { step?: unknown };
    return Number.isInteger(state.step);
  } catch {
    return false;
  }
}

/**
 * The checkpoint to resume from: the one `latest` names, or — when `latest` is missing, unreadable
 * or names no complete step — the newest complete step directory; undefined when the run holds none.
 * A run with step directories but no complete one is CHECKPOINT_INCOMPLETE; `latest` as a symbolic
 * link is refused. Errors name paths, never what a file holds.
 */
export async function latestCheckpoint(root: string): Promise<string | undefined> {
  const f = await fs();
  await refuseLink(`${root}/latest`, 'checkpoint pointer');
  const steps = await runCheckpoints(root);
  let name: string | undefined;
  try {
    name = (await f.readFile(`${root}/latest`, 'utf8')).trim();
  } catch {
    name = undefined;
  }
  if (name !== undefined && CHECKPOINT_NAME.test(name) && steps.includes(name) && (await isComplete(f, `${root}/${name}`))) return `${root}/${name}`;
  for (const step of [...steps].reverse()) if (await isComplete(f, `${root}/${step}`)) return `${root}/${step}`;
  if (steps.length > 0) {
    throw new IgSearchError('CHECKPOINT_INCOMPLETE', `${root} holds step directories (${steps.join(', ')}) but none has a readable trainer_state.json`, { hint: 'restore a checkpoint from a backup, or give another output directory' });
  }
  if (name !== undefined && !CHECKPOINT_NAME.test(name)) throw new IgSearchError('INVALID_ARGUMENT', `${root}/latest does not name a checkpoint (step-NNNNNN)`, { hint: `remove ${root}/latest if this directory holds no run` });
  return undefined;
}

/** Trainer state and optimizer moments of a checkpoint directory (the model loads with CausalLM.load). */
export async function readCheckpointState(dir: string): Promise<{ state: TrainerState; optimizer?: { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> } }> {
  const f = await fs();
  let state: TrainerState;
  try {
    state = JSON.parse(await f.readFile(`${dir}/trainer_state.json`, 'utf8')) as TrainerState;
  } catch (e) {
    throw new IgSearchError('CHECKPOINT_INCOMPLETE', `${dir}/trainer_state.json: ${(e as Error).message.split('\n')[0]}`, { cause: e, hint: 'resume from a complete checkpoint (OUT/latest names the newest)' });
  }
  if (typeof state !== 'object' || state === null || !Number.isInteger(state.step) || state.step < 0) {
    throw new IgSearchError('CHECKPOINT_INCOMPLETE', `${dir}/trainer_state.json: field "step" is not a step count`, { hint: 'resume from a complete checkpoint (OUT/latest names the newest)' });
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await f.readFile(`${dir}/optimizer.safetensors`));
  } catch {
    // Saved with an optimizer (or, from before the flag, after a step): resuming without it would
    // silently restart AdamW's moments.
    if (state.optimizerSaved === true || (state.optimizerSaved === undefined && state.step > 0)) {
      throw new IgSearchError('CHECKPOINT_INCOMPLETE', `${dir}/optimizer.safetensors is missing: this checkpoint was saved with AdamW's moments`, {
        hint: 'restore the file, or resume from an earlier complete checkpoint (point OUT/latest at it)',
      });
    }
    return { state };
  }
  const header = readSafetensorsHeader(bytes, `${dir}/optimizer.safetensors`);
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [key, info] of header) {
    if (key.startsWith('exp_avg_sq.')) v.set(key.slice('exp_avg_sq.'.length), tensorToF32(bytes, info));
    else if (key.startsWith('exp_avg.')) m.set(key.slice('exp_avg.'.length), tensorToF32(bytes, info));
  }
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const meta = (JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as { __metadata__?: { step?: string } }).__metadata__;
  return { state, optimizer: { step: Number(meta?.step ?? state.step), m, v } };
}

/** The files of `model` as a Hugging Face directory: config.json and model.safetensors (f32), then `extra`. */
export async function modelDirectoryFiles(model: CausalLM, extra: Record<string, string | Uint8Array> = {}): Promise<Record<string, string | Uint8Array>> {
  return { 'model.safetensors': await modelSafetensors(model), 'config.json': JSON.stringify(configJson(model.config), null, 2), ...extra };
}

/** Writes `model` as a Hugging Face directory (config.json + model.safetensors), each file atomically. */
export async function saveModelDirectory(dir: string, model: CausalLM, extra: Record<string, string | Uint8Array> = {}): Promise<void> {
  const f = await fs();
  await f.mkdir(dir, { recursive: true });
  const files = await modelDirectoryFiles(model, extra);
  for (const [name, data] of Object.entries(files)) {
    await writeFileAtomic(`${dir}/${name}`, data);
  }
}

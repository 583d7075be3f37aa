/**
 * Helpers shared by the subcommands: option parsing with typed errors, numbers checked by flag
 * name, user files read through the platform, and what a model directory's tokenizer implies.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
import { IgSearchError } from '../errors.js';
import { fromPretrained } from '../hub/hub.js';
import { writeFileAtomic } from '../platform/files.js';
import { currentPlatform, readFailure } from '../platform/platform.js';
import type { WeightDtype } from '../model/causal_lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { ProgressBar } from './progress.js';

export function parseOptions<O extends Options>(command: string, argv: string[], options: O): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `${command}: ${(e as Error).message}`, { cause: e });
  }
}

/** A number from a flag: non-negative (or positive), integer unless `integer` is false. */
export function numberFlag(value: string, flag: string, { integer = true, positive = false } = {}): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (positive && n === 0) || (integer && !Number.isInteger(n))) {
    throw new IgSearchError('INVALID_ARGUMENT', `${flag} must be a ${positive ? 'positive' : 'non-negative'} ${integer ? 'integer' : 'number'}, got ${value}`);
  }
  return n;
}

/**
 * Creates `path` as a new directory (its parents as needed); when it exists, `path-2`, `path-3`, …
 * instead, so two runs started in the same second never share one. A file in the way or a
 * directory that cannot be written is a typed error naming `flag`.
 */
export async function freshDirectory(path: string, flag: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  const parent = path.replace(/\/[^/]*$/, '') || '.';
  await outputDirectory(parent, flag);
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? path : `${path}-${n}`;
    try {
      await mkdir(candidate);
      return candidate;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(candidate, flag, e);
    }
  }
}

/** Creates the directory `path` (and parents) for output, or explains with a typed error why it cannot be. */
export async function outputDirectory(path: string, flag: string): Promise<void> {
  const { mkdir, stat, access, constants } = await import('node:fs/promises');
  try {
    await mkdir(path, { recursive: true });
    if (!(await stat(path)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await access(path, constants.W_OK);
  } catch (e) {
    throw outputError(path, flag, e);
  }
}

function outputError(path: string, flag: string, e: unknown): IgSearchError {
  const code = (e as NodeJS.ErrnoException).code;
  const reason = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way (it, or a folder above it, is a file)' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'it cannot be written here' : (e as Error).message;
  return new IgSearchError('INVALID_ARGUMENT', `${flag} ${path}: ${reason}`, { cause: e, hint: `give ${flag} a directory you can write` });
}

export async function readText(path: string): Promise<string> {
  try {
    return new TextDecoder().decode(await currentPlatform().readFile(path));
  } catch (e) {
    throw readFailure(path, e);
  }
}

export { stopTokensOf } from '../tokenizer/load.js';

/**
 * Ctrl-C handling for long commands: the first SIGINT aborts the returned signal (the command
 * finishes its step and saves, printing `then`), a second one exits at once. `dispose()` removes
 * the handler.
 */
export function interruptible(then: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    if (++interrupts > 1) process.exit(130);
    controller.abort();
    process.stderr.write(`\ninterrupted: finishing the current step, then ${then} (Ctrl-C again to quit now)\n`);
  };
  process.on('SIGINT', onInterrupt);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onInterrupt) };
}

/** Writes `data` to `path` through an exclusively created temporary file and a rename: a reader never sees half a file, no link is followed. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomic(path, data);
}

/**
 * A `--model` value as a directory the loaders read: a local directory or URL as given, a Hub id
 * (`Qwen/Qwen2.5-0.5B-Instruct`) downloaded into the Hugging Face cache (or found there) with a
 * progress bar. HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and HF_HUB_CACHE apply.
 */
export async function resolveModel(ref: string): Promise<string> {
  let bar: ProgressBar | undefined;
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  const dir = await fromPretrained(ref, {
    onProgress: (p) => {
      if (p.cached || p.filesTotal === 0) return;
      bar ??= new ProgressBar(p.filesTotal);
      bar.update(p.filesDone, `download ${ref}`, `${p.file} ${mb(p.bytes)}/${mb(p.totalBytes)} MB`);
    },
  });
  bar?.done();
  return dir;
}

/**
 * `--weights` for inference commands: f32, bf16 or f16, or `auto` (the default: undefined, so the
 * loader stores a BF16 checkpoint as exact bf16 and anything else as f32).
 */
export function inferenceWeights(flag: string): WeightDtype | undefined {
  if (flag === 'f32' || flag === 'f16' || flag === 'bf16') return flag;
  if (flag !== 'auto') throw new IgSearchError('INVALID_ARGUMENT', `--weights must be auto, f32, bf16 or f16, got ${flag}`);
  return undefined;
}

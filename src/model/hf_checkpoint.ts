/**
 * Reads a Hugging Face checkpoint directory — `config.json` plus `model.safetensors`, or
 * shards listed in `model.safetensors.index.json`. Every header is read and every expected
 * tensor's presence, dtype and shape checked before any data is read, so a bad checkpoint fails
 * fast with the file and tensor named and no GPU work done. Tensor data is then read a range at a
 * time (`TensorSource`): the model streams it to the GPU without holding the checkpoint in memory.
 */
import { IgSearchError } from '../errors.js';
import { isNotFound, openByteSource, readFailure, readFileIfExists, type ByteSource } from '../platform/platform.js';
import { modelTensorShapes, readModelConfig, type ModelConfig } from './config.js';
import { bytesToF32, DTYPE_BYTES, readSafetensorsHeaderFrom, type TensorInfo } from './safetensors.js';

export interface HostCheckpoint {
  config: ModelConfig;
  /** HF tensor name → f32 values (row-major, HF layout). */
  tensors: Map<string, Float32Array>;
}

/** Tensors read a piece at a time: elements [start, end) of `name` (row-major, HF layout) as f32. */
export interface TensorSource {
  read(name: string, start: number, end: number): Promise<Float32Array>;
}

/** Host tensors as a TensorSource (views, no copies). */
export function mapSource(tensors: ReadonlyMap<string, Float32Array>): TensorSource {
  return { read: async (name, start, end) => tensors.get(name)!.subarray(start, end) };
}

/**
 * What a model's `create` takes — host tensors (each checked against `shapes`: present, the right
 * size) or a source already checked when it was opened — as a TensorSource.
 */
export function checkedSource(tensors: ReadonlyMap<string, Float32Array> | TensorSource, shapes: ReadonlyMap<string, readonly number[]>): TensorSource {
  if (typeof (tensors as TensorSource).read === 'function') return tensors as TensorSource;
  const map = tensors as ReadonlyMap<string, Float32Array>;
  for (const [name, shape] of shapes) {
    const t = map.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (!t) throw new IgSearchError('INVALID_ARGUMENT', `tensor "${name}" (shape [${shape}]) is missing`);
    if (t.length !== size) throw new IgSearchError('SHAPE_MISMATCH', `tensor "${name}" has ${t.length} values, shape [${shape}] needs ${size}`);
  }
  return mapSource(map);
}

export interface OpenCheckpoint<C = ModelConfig> {
  config: C;
  source: TensorSource;
  /** Largest tensor of the checkpoint, in bytes as stored. */
  largestTensorBytes: number;
  /** The dtype every weight matrix is stored in, or 'mixed'. */
  storedDtype: 'F32' | 'F16' | 'BF16' | 'mixed';
  close(): Promise<void>;
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

async function open(path: string): Promise<ByteSource | undefined> {
  try {
    return await openByteSource(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw readFailure(path, e);
  }
}

/**
 * Opens a checkpoint: config and every header read and checked; tensor data read on demand. The
 * decoder of an embedding model saved without its LM head (Qwen3-Embedding: `layers.0.…`,
 * `embed_tokens.weight`) is found under the names without "model.".
 */
export function openCheckpoint(dir: string): Promise<OpenCheckpoint> {
  return openModelDirectory(
    dir,
    (text, path) => {
      const config = readModelConfig(text, path);
      return { config, shapes: modelTensorShapes(config) };
    },
    (name) => (name.startsWith('model.') ? [name.slice('model.'.length)] : []),
  );
}

/**
 * `openCheckpoint` for any architecture: `read` parses config.json and names the tensors it needs
 * with their shapes. A tensor missing under its name is looked up under each name `aliases` gives
 * for it, in order (a BertModel saved inside BertForMaskedLM has "bert." before every name); the
 * source reads them by the name `read` gave.
 */
export async function openModelDirectory<C>(dir: string, read: (configText: string, path: string) => { config: C; shapes: Map<string, number[]> }, aliases: (name: string) => readonly string[] = () => []): Promise<OpenCheckpoint<C>> {
  const configBytes = await readFileIfExists(join(dir, 'config.json'));
  if (!configBytes) throw new IgSearchError('INVALID_ARGUMENT', `${join(dir, 'config.json')}: not found (a model directory holds config.json and *.safetensors)`);
  const { config, shapes } = read(new TextDecoder().decode(configBytes), join(dir, 'config.json'));

  // Which file holds which tensor.
  const files = new Map<string, ByteSource>();
  const closeAll = () => Promise.all([...files.values()].map((f) => f.close().catch(() => {})));
  try {
    const owner = new Map<string, string>();
    const single = await open(join(dir, 'model.safetensors'));
    if (single) {
      files.set('model.safetensors', single);
    } else {
      const indexPath = join(dir, 'model.safetensors.index.json');
      const indexBytes = await readFileIfExists(indexPath);
      if (!indexBytes) throw new IgSearchError('INVALID_ARGUMENT', `${dir}: neither model.safetensors nor model.safetensors.index.json found`);
      let index: { weight_map?: Record<string, unknown> };
      try {
        index = JSON.parse(new TextDecoder().decode(indexBytes));
      } catch (e) {
        throw new IgSearchError('INVALID_ARGUMENT', `${indexPath}: not valid JSON: ${(e as Error).message}`, { cause: e });
      }
      const map = index.weight_map;
      if (typeof map !== 'object' || map === null) throw new IgSearchError('INVALID_ARGUMENT', `${indexPath}: weight_map missing`);
      for (const [name, file] of Object.entries(map)) {
        if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) throw new IgSearchError('INVALID_ARGUMENT', `${indexPath}: weight_map["${name}"] = ${JSON.stringify(file)} is not a file name`);
        owner.set(name, file);
        if (!files.has(file)) {
          const source = await open(join(dir, file));
          if (!source) throw new IgSearchError('INVALID_ARGUMENT', `${join(dir, file)}: not found (listed in model.safetensors.index.json)`);
          files.set(file, source);
        }
      }
    }
    const infos = new Map<string, { info: TensorInfo; file: string }>();
    for (const [file, source] of files) {
      for (const [name, info] of await readSafetensorsHeaderFrom(source, join(dir, file))) {
        if (owner.size > 0 && owner.get(name) !== undefined && owner.get(name) !== file) continue;
        infos.set(name, { info, file });
      }
    }
    for (const name of shapes.keys()) {
      if (infos.has(name)) continue;
      const aliased = aliases(name).map((a) => infos.get(a)).find(Boolean);
      if (aliased) infos.set(name, aliased);
    }
    let largestTensorBytes = 0;
    const dtypes = new Set<string>();
    for (const [name, shape] of shapes) {
      const found = infos.get(name);
      if (!found) throw new IgSearchError('INVALID_ARGUMENT', `${dir}: tensor "${name}" (shape [${shape}]) is missing from the checkpoint`);
      if (found.info.shape.length !== shape.length || found.info.shape.some((n, i) => n !== shape[i])) {
        throw new IgSearchError('SHAPE_MISMATCH', `${join(dir, found.file)}: tensor "${name}" has shape [${found.info.shape}], config.json implies [${shape}]`);
      }
      largestTensorBytes = Math.max(largestTensorBytes, found.info.end - found.info.begin);
      if (shape.length === 2) dtypes.add(found.info.dtype);
    }
    const source: TensorSource = {
      async read(name, start, end) {
        const found = infos.get(name);
        if (!found) throw new IgSearchError('INVALID_ARGUMENT', `${dir}: no tensor "${name}"`);
        const { info, file } = found;
        const bytes = DTYPE_BYTES[info.dtype];
        try {
          return bytesToF32(await files.get(file)!.read(info.begin + start * bytes, info.begin + end * bytes), info.dtype);
        } catch (e) {
          throw readFailure(join(dir, file), e);
        }
      },
    };
    const storedDtype = dtypes.size === 1 ? ([...dtypes][0] as 'F32' | 'F16' | 'BF16') : 'mixed';
    return { config, source, largestTensorBytes, storedDtype, close: async () => void (await closeAll()) };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** The whole checkpoint as f32 host tensors (for inspection and tests; loading a model streams instead). */
export async function readCheckpoint(dir: string): Promise<HostCheckpoint> {
  const ckpt = await openCheckpoint(dir);
  try {
    const tensors = new Map<string, Float32Array>();
    for (const [name, shape] of modelTensorShapes(ckpt.config)) tensors.set(name, await ckpt.source.read(name, 0, shape.reduce((a, b) => a * b, 1)));
    return { config: ckpt.config, tensors };
  } finally {
    await ckpt.close();
  }
}

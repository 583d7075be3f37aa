/**
 * Reads a Hugging Face Qwen2 checkpoint directory — `config.json` plus `model.safetensors`, or
 * shards listed in `model.safetensors.index.json` — into f32 host tensors. Every header is read
 * and every expected tensor's presence, dtype and shape checked before any data is converted, so
 * a bad checkpoint fails fast with the file and tensor named and no GPU work done.
 */
import { IgSearchError } from '../errors.js';
import { currentPlatform } from '../platform/platform.js';
import { qwen2TensorShapes, readQwen2Config, type Qwen2Config } from './config.js';
import { readSafetensorsHeader, tensorToF32, type TensorInfo } from './safetensors.js';

export interface HostCheckpoint {
  config: Qwen2Config;
  /** HF tensor name → f32 values (row-major, HF layout). */
  tensors: Map<string, Float32Array>;
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

async function read(path: string): Promise<Uint8Array | undefined> {
  try {
    return await currentPlatform().readFile(path);
  } catch (e) {
    const code = (e as { code?: string; name?: string }).code ?? (e as { name?: string }).name;
    if (code === 'ENOENT' || code === 'NotFound' || /HTTP 404/.test((e as Error).message)) return undefined;
    if (e instanceof IgSearchError) throw e;
    throw new IgSearchError('INVALID_ARGUMENT', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export async function readQwen2Checkpoint(dir: string): Promise<HostCheckpoint> {
  const configBytes = await read(join(dir, 'config.json'));
  if (!configBytes) throw new IgSearchError('INVALID_ARGUMENT', `${join(dir, 'config.json')}: not found (a model directory holds config.json and *.safetensors)`);
  const config = readQwen2Config(new TextDecoder().decode(configBytes), join(dir, 'config.json'));

  // Which file holds which tensor.
  const files = new Map<string, Uint8Array>();
  const owner = new Map<string, string>();
  const single = await read(join(dir, 'model.safetensors'));
  if (single) {
    files.set('model.safetensors', single);
  } else {
    const indexPath = join(dir, 'model.safetensors.index.json');
    const indexBytes = await read(indexPath);
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
        const bytes = await read(join(dir, file));
        if (!bytes) throw new IgSearchError('INVALID_ARGUMENT', `${join(dir, file)}: not found (listed in model.safetensors.index.json)`);
        files.set(file, bytes);
      }
    }
  }
  const infos = new Map<string, { info: TensorInfo; file: string }>();
  for (const [file, bytes] of files) {
    for (const [name, info] of readSafetensorsHeader(bytes, join(dir, file))) {
      if (owner.size > 0 && owner.get(name) !== undefined && owner.get(name) !== file) continue;
      infos.set(name, { info, file });
    }
  }
  const shapes = qwen2TensorShapes(config);
  for (const [name, shape] of shapes) {
    const found = infos.get(name);
    if (!found) throw new IgSearchError('INVALID_ARGUMENT', `${dir}: tensor "${name}" (shape [${shape}]) is missing from the checkpoint`);
    if (found.info.shape.length !== shape.length || found.info.shape.some((n, i) => n !== shape[i])) {
      throw new IgSearchError(
        'SHAPE_MISMATCH',
        `${join(dir, found.file)}: tensor "${name}" has shape [${found.info.shape}], config.json implies [${shape}]`,
      );
    }
  }
  const tensors = new Map<string, Float32Array>();
  for (const name of shapes.keys()) {
    const { info, file } = infos.get(name)!;
    tensors.set(name, tensorToF32(files.get(file)!, info));
  }
  return { config, tensors };
}

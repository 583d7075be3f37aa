/**
 * `ig-search models`: the models in the Hugging Face cache (shared with Python's huggingface_hub),
 * and removing one.
 */
import { IgSearchError } from '../errors.js';
import { cachedModels, removeCachedModel } from '../hub/hub.js';
import { parseOptions } from './args.js';

export const MODELS_USAGE = `  models [list | rm ORG/NAME] [--cache DIR] [--json]
                               models in the Hugging Face cache (HF_HUB_CACHE); rm deletes one`;

export async function models(argv: string[]): Promise<number> {
  const [action = 'list', ...rest] = argv[0]?.startsWith('--') ? ['list', ...argv] : argv;
  const target = action === 'rm' ? rest.shift() : undefined;
  const values = parseOptions('models', rest, { cache: { type: 'string' }, json: { type: 'boolean', default: false } });
  const options = values.cache ? { cacheDir: values.cache } : {};
  if (action === 'list') {
    const list = await cachedModels(options);
    if (values.json) console.log(JSON.stringify(list, null, 2));
    else if (list.length === 0) console.log('no models in the cache');
    else for (const m of list) console.log(`${m.repo.padEnd(40)} ${(m.bytes / 2 ** 20).toFixed(1).padStart(9)} MB  ${Object.entries(m.refs).map(([r, c]) => `${r}=${c.slice(0, 8)}`).join(' ') || m.snapshots.map((c) => c.slice(0, 8)).join(' ')}`);
    return 0;
  }
  if (action === 'rm') {
    if (!target) throw new IgSearchError('INVALID_ARGUMENT', 'models rm: which model? (e.g. ig-search models rm Qwen/Qwen2.5-0.5B-Instruct)');
    const removed = await removeCachedModel(target, options);
    console.log(removed ? `removed ${target}` : `${target} is not in the cache`);
    return removed ? 0 : 1;
  }
  throw new IgSearchError('INVALID_ARGUMENT', `models: unknown action ${JSON.stringify(action)} (list or rm)`);
}

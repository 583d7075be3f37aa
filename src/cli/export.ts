/**
 * `ig-search export --format search-r1`: question JSONL → the Parquet rows Search-R1 and verl
 * train from (see src/export/search_r1.ts).
 */
import { IgSearchError } from '../errors.js';
import { searchR1Parquet, searchR1Rows, SEARCH_R1_EXPORT_DEFAULTS } from '../export/search_r1.js';
import { parseQuestionsJsonl } from '../retrieval/corpus.js';
import { parseOptions, readText, writeAtomic } from './args.js';

export const EXPORT_USAGE = `  export --format search-r1 --data FILE.jsonl --out FILE.parquet [--split ${SEARCH_R1_EXPORT_DEFAULTS.split}] [--data-source ${SEARCH_R1_EXPORT_DEFAULTS.dataSource}]
        [--prompt-template FILE] [--skip-bad-lines]
                               questions as Search-R1/verl training rows (Parquet: prompt, reward_model, extra_info)`;

export async function exportCommand(argv: string[]): Promise<number> {
  const values = parseOptions('export', argv, {
    format: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    split: { type: 'string', default: SEARCH_R1_EXPORT_DEFAULTS.split },
    'data-source': { type: 'string', default: SEARCH_R1_EXPORT_DEFAULTS.dataSource },
    'prompt-template': { type: 'string' },
    'skip-bad-lines': { type: 'boolean', default: false },
  });
  if (values.format !== 'search-r1') throw new IgSearchError('INVALID_ARGUMENT', `export: --format must be search-r1, got ${values.format ?? 'nothing'}`);
  if (!values.data || !values.out) throw new IgSearchError('INVALID_ARGUMENT', 'export: --data FILE.jsonl and --out FILE.parquet are required');
  let prompt: ((question: string) => string) | undefined;
  if (values['prompt-template']) {
    const template = await readText(values['prompt-template']);
    if (!template.includes('{question}')) throw new IgSearchError('INVALID_ARGUMENT', `--prompt-template ${values['prompt-template']}: the template has no {question} placeholder`);
    // split/join, not replaceAll: a replacement string reads `$&`, `$'` and `$$` in the question as patterns.
    const parts = template.split('{question}');
    prompt = (question) => parts.join(question.trim());
  }
  const { questions, skipped } = parseQuestionsJsonl(await readText(values.data), { source: values.data, skipBadLines: values['skip-bad-lines'] });
  if (questions.length === 0) throw new IgSearchError('INVALID_ARGUMENT', `export: ${values.data} holds no questions`);
  const rows = searchR1Rows(questions, { split: values.split, dataSource: values['data-source'], prompt });
  const bytes = await searchR1Parquet(rows);
  await writeAtomic(values.out, bytes);
  console.log(`wrote ${rows.length} row${rows.length === 1 ? '' : 's'} (${values.split}, data_source ${values['data-source']}) to ${values.out} (${(bytes.byteLength / 1024).toFixed(1)} KiB)${skipped.length ? `; skipped ${skipped.length} bad lines` : ''}`);
  return 0;
}

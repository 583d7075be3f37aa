/**
 * ≥1 MB of real mixed text for tokenizer tests and benchmarks: the Markdown, TypeScript and
 * JavaScript files of node_modules (English prose and code), in sorted path order, so the same
 * lockfile gives the same text.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function realCorpus(limit: number): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (/\.(md|ts|js)$/.test(entry) && stat.size < 200_000) files.push(path);
    }
  };
  walk('node_modules');
  let text = '';
  for (const f of files) {
    text += readFileSync(f, 'utf8') + '\n';
    if (text.length > limit) break;
  }
  return text;
}

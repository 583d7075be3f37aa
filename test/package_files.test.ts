import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url).pathname;

/** The files `npm pack` would publish (a dry run: nothing is written). */
function packedFiles(): Set<string> {
  const run = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  expect(run.status, run.stderr).toBe(0);
  return new Set((JSON.parse(run.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
}

/** Every module a browser loads before any dynamic import, from `entry` (paths relative to the package). */
function staticGraph(entry: string): { files: string[]; bare: string[] } {
  const seen = new Set<string>();
  const bare: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(root, file), 'utf8');
    // Static imports and re-exports only: `import(...)` is loaded on demand, not when the page opens.
    // (rollup writes each at the start of a line: `import … from '…'`, `export … from '…'`, `import '…'`).
    for (const m of text.matchAll(/^(?:(?:import|export)\s[^'"\n]*?from\s*["']([^"']+)["']|import\s*["']([^"']+)["'])/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) visit(normalize(join(dirname(file), spec)));
      else bare.push(`${file}: ${spec}`);
    }
  };
  visit(entry);
  return { files: [...seen], bare };
}

describe('the published package', () => {
  it('holds the studio and everything its page and worker load, with no bare import a browser cannot resolve', () => {
    const packed = packedFiles();
    for (const f of ['dist/studio/index.html', 'dist/studio/studio.js', 'dist/studio/studio.css', 'dist/studio/uPlot.min.css', 'dist/ig_core.wasm', 'assets/demo-policy/model.safetensors', 'assets/demo-policy/tokenizer.json', 'assets/demo-policy/sft.json', 'bin/ig-search.js']) {
      expect(packed.has(f), f).toBe(true);
    }
    for (const entry of ['dist/studio/studio.js', 'dist/worker-browser.js', 'dist/browser.js']) {
      const { files, bare } = staticGraph(entry);
      expect(bare, entry).toEqual([]);
      expect(files.length).toBeGreaterThan(1); // each entry pulls in shared chunks
      for (const f of files) expect(packed.has(f), `${entry} loads ${f}`).toBe(true);
    }
    // The page's own references resolve inside the package too.
    const page = readFileSync(`${root}dist/studio/index.html`, 'utf8');
    for (const ref of page.matchAll(/(?:src|href)="(\.[^"]+)"/g)) expect(packed.has(normalize(join('dist/studio', ref[1]!))), ref[1]).toBe(true);
  });
});

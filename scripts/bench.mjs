#!/usr/bin/env node
// `npm run bench -- NAME [args]` runs bench/NAME.ts against the built bundle (via tsx) and
// leaves its JSON in bench/results/NAME.json. Without NAME it lists the benchmarks.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const [name, ...rest] = process.argv.slice(2);
const available = readdirSync(new URL('../bench/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [args]`);
  process.exit(name ? 2 : 0);
}
if (!existsSync(new URL('../dist/node.js', import.meta.url))) {
  console.error('bench: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', `bench/${name}.ts`, ...rest], { stdio: 'inherit' }); // gc: benches that measure memory start from a collected heap
process.exit(result.status ?? 1);

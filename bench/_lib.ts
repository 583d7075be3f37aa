/** Shared bench helpers: timing, tables, the PyTorch side-by-side runner, results JSON. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Runs `fn` once to warm up, then until `minSeconds` have passed (at least `minReps` times). */
export async function timeIt(fn: () => Promise<void>, { minReps = 2, minSeconds = 1, maxReps = 20 } = {}): Promise<number> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxReps && (times.length < minReps || performance.now() - start < minSeconds * 1000)) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!; // median
}

export function printTable(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
  console.log(line(cells[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '—';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/**
 * Runs a Python script from bench/ with Debian's python3-torch, feeding `input` as JSON on stdin
 * and parsing JSON from stdout. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed for this
 * command only (set on some machines, they slow OpenBLAS down). Returns undefined, with the
 * reason, when torch is not installed (scripts/setup.sh --bench installs it).
 */
export function runTorch<T>(script: string, input: unknown): { result?: T; skipped?: string; torch?: string } {
  const env = { ...process.env };
  delete env['OPENBLAS_CORETYPE'];
  delete env['OPENBLAS_L2_SIZE'];
  const run = spawnSync('/usr/bin/python3', [script], { input: JSON.stringify(input), encoding: 'utf8', env, timeout: 1_800_000 });
  if (run.error || run.status !== 0) {
    const reason = run.error?.message ?? run.stderr.trim().split('\n').pop() ?? `exit ${run.status}`;
    return { skipped: `PyTorch side not run: ${reason} (install with: bash scripts/setup.sh --bench)` };
  }
  const parsed = JSON.parse(run.stdout) as { torch: string; result: T };
  return { result: parsed.result, torch: parsed.torch };
}

/**
 * Writes bench/results/NAME.json atomically (temp file + rename), headed by what every result
 * carries: the bench name, package version, date and machine.
 */
export function writeResults(name: string, data: Record<string, unknown>): string {
  mkdirSync('bench/results', { recursive: true });
  const path = `bench/results/${name}.json`;
  const tmp = `${path}.tmp`;
  const record = { bench: name, version: packageVersion(), date: new Date().toISOString(), machine: machine(), ...data };
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, path);
  return path;
}

function machine(): { cpu: string; cores: number; node: string } {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.versions.node };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
}

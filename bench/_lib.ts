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
 * reason, when torch is not installed (scripts/setup.sh installs it; --bench adds OpenBLAS).
 */
export function runTorch<T>(script: string, input: unknown): { result?: T; skipped?: string; torch?: string } {
  const env = { ...process.env };
  delete env['OPENBLAS_CORETYPE'];
  delete env['OPENBLAS_L2_SIZE'];
  const python = process.env['IG_SEARCH_PYTHON'] ?? '/usr/bin/python3'; // another interpreter on a machine whose PyTorch lives elsewhere
  const run = spawnSync(python, [script], { input: JSON.stringify(input), encoding: 'utf8', env, timeout: 1_800_000 });
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

/** A seeded uniform generator on [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A synthetic retrieval workload: `count` Search-R1 passages ("Entity i" title, 40–99 words) and
 * `queries` queries of 3–6 words, drawn from a 50,000-word vocabulary with a Zipf-like skew.
 */
export function syntheticCorpus(random: () => number, count: number, queries: number): { passages: { id: string; contents: string }[]; queries: string[] } {
  const vocab = Array.from({ length: 50_000 }, (_, i) => i.toString(36).padStart(2, 'q') + ['an', 'or', 'el', 'is', 'um'][i % 5]);
  const word = () => vocab[Math.floor(vocab.length * random() ** 2.5)]!;
  const passages = Array.from({ length: count }, (_, i) => ({ id: String(i), contents: `"Entity ${i}"\n${Array.from({ length: 40 + Math.floor(random() * 60) }, word).join(' ')}.` }));
  return { passages, queries: Array.from({ length: queries }, () => Array.from({ length: 3 + Math.floor(random() * 4) }, word).join(' ')) };
}

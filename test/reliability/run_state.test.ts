// Resuming, and runs that cannot go on, fail loudly with a typed error that says what to do
// (never a silent restart of AdamW, an overwritten run, or a run that goes on changing nothing).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quiet, trainDemo } from '../helpers/cli.js';
import { IgSearchError, latestCheckpoint, CausalLM, readCheckpointState, trainingRun, type IgSearchTrainer, type StepMetrics } from '../../src/entry/node.js';
import { MAX_SKIPPED_IN_A_ROW } from '../../src/internals.js';
import { withGpu } from '../helpers/gpu.js';

const POLICY = 'assets/demo-policy';
const env = withGpu();

const train = (out: string, ...more: string[]) => trainDemo(out, 64, ...more);

describe('resuming', () => {
  it('train into a directory holding a run, without --resume, is refused before anything changes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ig-rel-run-'));
    expect(await quiet(() => train(out, '--steps', '2'))).toBe(0);
    const before = await latestCheckpoint(out);
    const error = await quiet(() => train(out, '--steps', '1')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IgSearchError);
    expect((error as IgSearchError).code).toBe('CHECKPOINT_INCOMPLETE');
    expect((error as IgSearchError).hint).toMatch(/--resume/);
    expect(await latestCheckpoint(out)).toBe(before); // still step 2

    // A checkpoint saved with AdamW's moments but missing them is refused, not resumed with fresh ones.
    const broken = mkdtempSync(join(tmpdir(), 'ig-rel-opt-'));
    cpSync(out, broken, { recursive: true });
    const latest = (await latestCheckpoint(broken))!;
    rmSync(join(latest, 'optimizer.safetensors'));
    const missing = await readCheckpointState(latest).catch((e: unknown) => e);
    expect((missing as IgSearchError).code).toBe('CHECKPOINT_INCOMPLETE');
    expect((missing as IgSearchError).message).toMatch(/optimizer\.safetensors is missing/);
    expect(await quiet(() => train(broken, '--steps', '3', '--resume')).catch((e: unknown) => (e as IgSearchError).code)).toBe('CHECKPOINT_INCOMPLETE');

    // An unreadable trainer_state.json is a typed error naming the file.
    writeFileSync(join(latest, 'trainer_state.json'), '{ "step": ');
    const bad = await readCheckpointState(latest).catch((e: unknown) => e);
    expect((bad as IgSearchError).code).toBe('CHECKPOINT_INCOMPLETE');
    expect((bad as IgSearchError).message).toContain('trainer_state.json');
  });

  it('resuming drops the metrics of steps after the checkpoint (they run again): no step is recorded twice', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ig-rel-metrics-'));
    expect(await quiet(() => train(out, '--steps', '2'))).toBe(0);
    // As if step 3 ran and the process died before its checkpoint, mid-way through a line.
    const metrics = join(out, 'metrics.jsonl');
    const lines = readFileSync(metrics, 'utf8').trim().split('\n');
    const step2 = lines.map((l) => JSON.parse(l) as { type: string; step: number }).filter((r) => r.type === 'step').pop()!;
    writeFileSync(metrics, `${lines.join('\n')}\n${JSON.stringify({ ...step2, step: 3 })}\n{"type": "step", "st`);
    expect(await quiet(() => train(out, '--steps', '3', '--resume'))).toBe(0);
    const steps = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number }).filter((r) => r.type === 'step');
    expect(steps.map((r) => r.step)).toEqual([1, 2, 3]);
  });

  it('a checkpoint holding NaN weights is refused at load, naming the tensor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-rel-nan-'));
    cpSync(POLICY, dir, { recursive: true });
    const file = join(dir, 'model.safetensors');
    const bytes = new Uint8Array(readFileSync(file));
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { data_offsets: [number, number] }>;
    const at = 8 + headerLength + header['model.norm.weight']!.data_offsets[0] + 4 * 5;
    new DataView(bytes.buffer).setFloat32(at, NaN, true);
    writeFileSync(file, bytes);
    const error = await CausalLM.load(env.gpu, dir).catch((e: unknown) => e);
    expect((error as IgSearchError).code).toBe('NON_FINITE');
    expect((error as IgSearchError).message).toMatch(/"model\.norm\.weight" holds NaN at index 5/);
  });
});

describe('a run that diverges', () => {
  it(`stops with TRAINING_DIVERGED after ${MAX_SKIPPED_IN_A_ROW} skipped steps in a row instead of running to the end unchanged`, async () => {
    // The loop's own logic: a trainer whose every update is skipped (a non-finite gradient norm).
    let steps = 0;
    const trainer = {
      get steps() {
        return steps;
      },
      config: { seed: 0, groupSize: 1, algo: 'grpo' },
      gpu: env.gpu,
      step: async () => {
        steps++;
        return { step: steps, skipped: true, rewards: [0], trajectories: [] } as unknown as StepMetrics;
      },
    } as unknown as IgSearchTrainer;
    const error = await trainingRun(trainer, { run: 'x', train: [{ question: 'q', golden_answers: ['a'] }], steps: 10, questionsPerStep: 1 }).catch((e: unknown) => e);
    expect((error as IgSearchError).code).toBe('TRAINING_DIVERGED');
    expect(steps).toBe(MAX_SKIPPED_IN_A_ROW);
  });
});

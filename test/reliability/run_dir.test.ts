// A run directory someone (or something) tampered with: `latest` deleted, pointing elsewhere or
// holding another file's text; links planted where ig-search writes. Nothing saved is lost, no write
// goes through a link, and no error prints what a foreign file holds.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quiet, trainDemo } from '../helpers/cli.js';
import { CausalLM, IgSearchError, latestCheckpoint, readCheckpointState, saveCheckpoint } from '../../src/entry/node.js';
import { withGpu } from '../helpers/gpu.js';

const env = withGpu();
let model: CausalLM;
beforeAll(async () => {
  model = await CausalLM.load(env.gpu, 'test/fixtures/qwen2/tiny-f32');
});
afterAll(() => {
  model?.free();
});

const train = (out: string, ...more: string[]) => trainDemo(out, 48, '--checkpoint-every', '1', ...more);
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as IgSearchError);
const scratch = (name: string) => mkdtempSync(join(tmpdir(), `ig-rundir-${name}-`));
const steps = (out: string) => readdirSync(out).filter((n) => n.startsWith('step-')).sort();

describe('a run directory is a run whatever `latest` says', () => {
  it('with `latest` deleted or pointing at /etc: train refuses without --resume and keeps every step; --resume continues from the newest', async () => {
    const out = scratch('latest');
    expect(await quiet(() => train(out, '--steps', '2'))).toBe(0);
    expect(steps(out)).toEqual(['step-000001', 'step-000002']);

    rmSync(join(out, 'latest'));
    const refused = await failure(quiet(() => train(out, '--steps', '3')));
    expect(refused).toMatchObject({ code: 'CHECKPOINT_INCOMPLETE', message: expect.stringMatching(/already holds a run \(newest checkpoint: .*step-000002\)/) });
    expect(steps(out)).toEqual(['step-000001', 'step-000002']);

    symlinkSync('/etc', join(out, 'latest'));
    expect(await failure(quiet(() => train(out, '--steps', '3')))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/latest is a symbolic link/) });
    expect(await failure(quiet(() => train(out, '--steps', '3', '--resume')))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(steps(out)).toEqual(['step-000001', 'step-000002']);

    rmSync(join(out, 'latest'));
    expect(await latestCheckpoint(out)).toBe(join(out, 'step-000002'));
    expect(await quiet(() => train(out, '--steps', '3', '--resume'))).toBe(0);
    expect((await readCheckpointState((await latestCheckpoint(out))!)).state.step).toBe(3);
    expect(readFileSync(join(out, 'latest'), 'utf8')).toBe('step-000003');
  }, 300_000);

  it('`latest` naming a step that is gone or broken falls back to the newest complete step; a foreign file’s text is never printed', async () => {
    const out = scratch('fallback');
    await saveCheckpoint(out, model, undefined, { step: 1 });
    await saveCheckpoint(out, model, undefined, { step: 2 });
    writeFileSync(join(out, 'step-000002', 'trainer_state.json'), '{ "step": ');
    expect(await latestCheckpoint(out)).toBe(join(out, 'step-000001'));
    writeFileSync(join(out, 'latest'), 'step-000009');
    expect(await latestCheckpoint(out)).toBe(join(out, 'step-000001'));
    // Only text that is no checkpoint name and no steps beside it: an error naming the path, not the text.
    const lone = scratch('lone');
    writeFileSync(join(lone, 'latest'), 'SECRET-hf_abcdefghijklmnopqrstuvwxyz0123456789');
    const error = await failure(latestCheckpoint(lone));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(`${lone}/latest does not name a checkpoint`) });
    expect(error!.message).not.toMatch(/SECRET|hf_/);
    // Steps that are all broken: CHECKPOINT_INCOMPLETE naming them.
    rmSync(join(out, 'step-000001', 'trainer_state.json'));
    expect(await failure(latestCheckpoint(out))).toMatchObject({ code: 'CHECKPOINT_INCOMPLETE', message: expect.stringMatching(/step-000001, step-000002/) });
  });
});

describe('no write follows a planted link', () => {
  it('a `latest.tmp` link does not redirect the save; a step directory that is a link is refused', async () => {
    const out = scratch('tmp-link');
    const victim = join(scratch('victim'), 'precious.txt');
    writeFileSync(victim, 'keep me');
    symlinkSync(victim, join(out, 'latest.tmp'));
    await saveCheckpoint(out, model, undefined, { step: 1 });
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(readFileSync(join(out, 'latest'), 'utf8')).toBe('step-000001');

    const elsewhere = scratch('elsewhere');
    symlinkSync(elsewhere, join(out, 'step-000002'));
    expect(await failure(latestCheckpoint(out))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/step-000002 is a symbolic link/) });
  });

  it('a `metrics.jsonl` link makes train refuse before it appends anything to the target', async () => {
    const out = scratch('metrics-link');
    const victim = join(scratch('victim'), 'notes.txt');
    writeFileSync(victim, 'mine\n');
    symlinkSync(victim, join(out, 'metrics.jsonl'));
    expect(await failure(quiet(() => train(out, '--steps', '1')))).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/metrics\.jsonl is a symbolic link/) });
    expect(readFileSync(victim, 'utf8')).toBe('mine\n');
    expect(existsSync(join(out, 'step-000001'))).toBe(false);
  }, 120_000);
});

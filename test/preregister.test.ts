import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { canonicalJson, checkPreregistration, compareRecord, configHash, IgSearchError, loadWasmCore, preregister, registeredConfig, runCompare, type WasmCore } from '../src/entry/node.js';
import { quiet } from './helpers/cli.js';
import { withGpu } from './helpers/gpu.js';

const POLICY = 'assets/demo-policy';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('a pre-registration fixes the configuration by its hash', () => {
  it('canonical JSON sorts keys at every depth and keeps array order; the hash is SHA-256 of that text', async () => {
    const a = { steps: 30, trainer: { lambda: 1, clip: 0.2 }, algos: ['grpo', 'ig-search'] };
    const b = { algos: ['grpo', 'ig-search'], trainer: { clip: 0.2, lambda: 1 }, steps: 30 };
    expect(canonicalJson(a)).toBe('{"algos":["grpo","ig-search"],"steps":30,"trainer":{"clip":0.2,"lambda":1}}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(await configHash(a)).toBe(sha256(canonicalJson(a)));
    expect(await configHash({ ...a, algos: ['ig-search', 'grpo'] })).not.toBe(await configHash(a));
  });

  it('refuses a changed configuration, naming the fields, and a registration edited after the fact', async () => {
    const config = { steps: 200, seeds: [1, 2, 3, 4, 5], perAlgorithm: { 'ig-search': { lambda: 1 } } };
    const registration = await preregister(config, 'budget from GRPO’s validation plateau');
    expect(await checkPreregistration(registration, { ...config })).toBe(registration.sha256);
    const changed = checkPreregistration(registration, { ...config, steps: 300, perAlgorithm: { 'ig-search': { lambda: 3 } } });
    await expect(changed).rejects.toMatchObject({ code: 'PREREGISTRATION_MISMATCH' });
    await expect(changed).rejects.toThrow(/differing: perAlgorithm, steps/);
    const edited = { ...registration, config: { ...registration.config, steps: 300 } };
    await expect(checkPreregistration(edited, { ...config, steps: 300 })).rejects.toThrow(/edited after registration/);
  });
});

describe('runCompare reads the test split only under a matching registration', () => {
  const env = withGpu();
  let core: WasmCore;
  beforeAll(async () => {
    core = await loadWasmCore();
  });

  it('no registration, or one for other knobs, is refused before the world is built', async () => {
    const options = { policy: POLICY, algos: ['grpo', 'ig-search'] as const, seeds: 1, steps: 1, questionsPerStep: 1, groupSize: 2, split: 'test' as const };
    await expect(runCompare(env.gpu, core, { ...options, algos: [...options.algos] })).rejects.toMatchObject({ code: 'PREREGISTRATION_MISMATCH' });
    const registration = await preregister(await registeredConfig(compareRecord({ ...options, algos: [...options.algos], lr: 1e-3 })));
    const refused = runCompare(env.gpu, core, { ...options, algos: [...options.algos], preregistration: registration });
    await expect(refused).rejects.toBeInstanceOf(IgSearchError);
    await expect(refused).rejects.toThrow(/differing: lr/);
  });

  it('the fingerprint is the warm start’s: other weights under the same options do not match', async () => {
    const record = compareRecord({ policy: POLICY, algos: ['grpo'], seeds: 1 });
    const here = await registeredConfig(record);
    const dir = mkdtempSync(join(tmpdir(), 'ig-prereg-'));
    const weights = readFileSync(`${POLICY}/model.safetensors`);
    weights[weights.length - 1]! ^= 1;
    writeFileSync(join(dir, 'model.safetensors'), weights);
    writeFileSync(join(dir, 'sft.json'), readFileSync(`${POLICY}/sft.json`));
    const there = await registeredConfig({ ...record, policy: dir });
    expect((there.policy as { sft: string }).sft).toBe((here.policy as { sft: string }).sft);
    expect((there.policy as { weights: string }).weights).not.toBe((here.policy as { weights: string }).weights);
    expect((here.policy as { weights: string }).weights).toBe(createHash('sha256').update(readFileSync(`${POLICY}/model.safetensors`)).digest('hex'));
  });
});

describe('`ig-search compare --register` and `--preregistered`', () => {
  it('writes a registration once, and a test run with other flags is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-prereg-cli-'));
    const file = join(dir, 'registered.json');
    const flags = ['--policy', POLICY, '--algos', 'grpo,ig-search', '--seeds', '2', '--steps', '3', '--knobs', '{"ig-search":{"lambda":3}}'];
    expect(await quiet(() => main(['compare', ...flags, '--register', file]))).toBe(0);
    const registration = JSON.parse(readFileSync(file, 'utf8'));
    expect(registration.config.split).toBe('test');
    expect(registration.config.perAlgorithm).toEqual({ 'ig-search': { lambda: 3 } });
    expect(registration.sha256).toBe(sha256(canonicalJson(registration.config)));
    await expect(quiet(() => main(['compare', ...flags, '--register', file]))).rejects.toThrow(/never replaced/);
    const out = join(dir, 'out');
    const run = quiet(() => main(['compare', '--out', out, ...flags.slice(0, -2), '--knobs', '{"ig-search":{"lambda":1}}', '--split', 'test', '--preregistered', file]));
    await expect(run).rejects.toThrow(/differing: perAlgorithm/);
    expect(existsSync(join(out, 'results.json'))).toBe(false);
  });
});

/**
 * The verl integration (integrations/verl/, Python) against this package: golden vectors computed
 * here by the Rust core (GRPO, IG shaping, per-token modulation) and by the WebGPU model (IG
 * scores), then the Python tests run with Debian's python3-torch + python3-pytest and must
 * reproduce them (1e-6 for advantages, 1e-4 for IG scores from a torch Qwen2 on the same weights).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CausalLM, computeRewards, grpoAdvantages, informationGain, loadWasmCore, modulateQueryAdvantages, scoreInformationGain, type WasmCore } from '../src/entry/node.js';
import { withGpu } from './helpers/gpu.js';
import { mulberry32 } from './helpers/random.js';

const root = new URL('../', import.meta.url).pathname;
const MODEL = 'test/fixtures/qwen2/tiny-f32';

let core: WasmCore;
const env = withGpu();
beforeAll(async () => {
  core = await loadWasmCore();
});

/**
 * A random batch laid out as a rollout is: per rollout, policy tokens with some queries, each
 * followed by a retrieved block, and policy tokens at the end (where the outcome reward sits).
 */
function advantageCase(seed: number, options: { norm: 'std' | 'none'; mode: 'additive' | 'multiplicative'; groupZ: boolean; lambda: number }) {
  const rng = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const groups = Array.from({ length: int(3, 6) }, (_, g) => (g === 0 ? 1 : int(2, 6))); // one group of one (verl: mean 0, std 1)
  const rollouts = groups.reduce((a, b) => a + b, 0);
  const rewards = Array.from({ length: rollouts }, (_, i) => (i % 7 === 3 ? 0.5 : rng() < 0.4 ? 1 : 0));
  // One group where every rollout fails: only the IG term moves its queries.
  rewards.fill(0, groups[0]!, groups[0]! + groups[1]!);
  const tokenCounts: number[] = [];
  const queries = { rollout: [] as number[], start: [] as number[], end: [] as number[] };
  const retrieved = { rollout: [] as number[], start: [] as number[], end: [] as number[] };
  const stepsPerGroup = groups.map(() => 0);
  let r = 0;
  groups.forEach((size, g) => {
    for (let j = 0; j < size; j++, r++) {
      let at = int(1, 4);
      for (let k = int(0, 3); k > 0; k--) {
        const q = int(1, 5);
        queries.rollout.push(r), queries.start.push(at), queries.end.push(at + q);
        at += q + int(0, 2);
        const d = int(3, 9);
        retrieved.rollout.push(r), retrieved.start.push(at), retrieved.end.push(at + d);
        at += d + int(0, 3);
        stepsPerGroup[g]!++;
      }
      tokenCounts.push(at + int(1, 4));
    }
  });
  const steps = queries.rollout.length;
  const real = Array.from({ length: steps }, () => -4 * rng());
  const counterfactual = Array.from({ length: steps }, (_, i) => (i % 5 === 0 ? real[i]! - 0.02 : -4 * rng())); // some inside the dead zone
  const shaping = { deadZone: 0.05, negativeScale: 0.5, clip: 2, normalize: options.groupZ ? ('group-z' as const) : ('none' as const), epsilon: 1e-6 };
  const grpo = grpoAdvantages(core, rewards, groups, { norm: options.norm });
  const { raw, shaped } = informationGain(core, real, counterfactual, stepsPerGroup, shaping);
  const { advantages, lossMask } = modulateQueryAdvantages(core, { tokenCounts, rolloutAdvantages: grpo, queries: { ...queries, ig: shaped }, retrieved, lambda: options.lambda, mode: options.mode });
  return { ...options, groups, rewards, grpo: [...grpo], real, counterfactual, stepsPerGroup, shaping, raw: [...raw], shaped: [...shaped], tokenCounts, queries, retrieved, advantages: [...advantages], lossMask: [...lossMask] };
}

describe('integrations/verl: the Python estimator and IG reward reproduce this package', () => {
  it('pytest passes every test, goldens included (none skipped)', async () => {
    const cases = [
      advantageCase(1, { norm: 'std', mode: 'additive', groupZ: false, lambda: 1 }),
      advantageCase(2, { norm: 'std', mode: 'additive', groupZ: true, lambda: 0.7 }),
      advantageCase(3, { norm: 'none', mode: 'additive', groupZ: false, lambda: 1.5 }),
      advantageCase(4, { norm: 'std', mode: 'multiplicative', groupZ: false, lambda: 1 }),
    ];
    // The all-fail group's queries move by ±λ·IG̃ alone (the property the Python side checks too).
    expect(cases[0]!.advantages.some((a, t) => a !== 0 && cases[0]!.lossMask[t] === 1)).toBe(true);

    // IG scores on the fixture model: random token ids, two gold answers for some steps.
    const rng = mulberry32(77);
    const ids = (n: number) => Array.from({ length: n }, () => Math.floor(rng() * 512));
    const steps = Array.from({ length: 5 }, (_, i) => ({ prefix: ids(6 + 3 * i), real: ids(4 + i), random: ids(5 + (i % 3)), answers: i % 2 ? [ids(2), ids(3)] : [ids(1 + i)] }));
    const model = await CausalLM.load(env.gpu, MODEL);
    const scores = await scoreInformationGain(model, steps);
    model.free();
    expect(scores.every((s) => Number.isFinite(s.ig))).toBe(true);

    // Outcome rewards: the custom reward function's exact match against the core's.
    const answers = ['The Tiobean Group', 'tiobean group!', 'an apple', 'Apple', '  Zi  Zi ', 'zi-zi', 'Ann', '1,931', '1931', 'the'];
    const responses = answers.flatMap((a, i) => [`<think>t</think><answer>${a}</answer>`, `<answer> x </answer> then <answer> ${a} </answer>`, `<answer> ${a}`, i % 2 ? `<search> q </search><answer>${a.toUpperCase()}</answer>` : '']);
    const golds = responses.map((_, i) => [answers[(i * 3) % answers.length]!, answers[Math.floor(i / 4)]!]);
    const em = { responses, golds, rewards: [...computeRewards(core, responses, golds)] };
    expect(em.rewards.filter((r) => r === 1).length).toBeGreaterThan(5);
    expect(em.rewards.filter((r) => r === 0).length).toBeGreaterThan(5);

    const dir = mkdtempSync(`${tmpdir()}/ig-verl-`);
    writeFileSync(`${dir}/advantage.json`, JSON.stringify({ cases, em }));
    writeFileSync(`${dir}/ig.json`, JSON.stringify({ model: `${root}${MODEL}`, steps, scores }));
    const childEnv: NodeJS.ProcessEnv = { ...process.env, IG_SEARCH_GOLDEN: `${dir}/advantage.json`, IG_SEARCH_IG_GOLDEN: `${dir}/ig.json`, PYTHONDONTWRITEBYTECODE: '1' };
    delete childEnv['OPENBLAS_CORETYPE'];
    let output: string;
    try {
      const run = await promisify(execFile)('/usr/bin/python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs', 'integrations/verl/tests'], { cwd: root, env: childEnv, encoding: 'utf8', timeout: 300_000 });
      output = run.stdout + run.stderr;
    } catch (e) {
      const failed = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`pytest failed:\n${failed.stdout ?? ''}${failed.stderr ?? failed.message}`);
    }
    expect(output).toMatch(/\d+ passed/);
    expect(output).not.toMatch(/skipped|SKIPPED/);
  });
});

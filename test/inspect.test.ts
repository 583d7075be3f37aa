import { describe, expect, it } from 'vitest';
import { CausalLM, IgSearchTrainer, inspectStep, loadDemoPolicy, renderInspection, splitQuestions, trainingRun, type Question, type StepMetrics } from '../src/entry/node.js';
import { withGpu } from './helpers/gpu.js';

const env = withGpu({ core: true });

describe('inspecting a step: what each token was credited', () => {
  it('an IG-Search step on the demo policy: query tokens carry Â + λ·IG̃, other policy tokens Â, documents nothing; the HTML shades every token', async () => {
    const policy = await loadDemoPolicy(env.core, 'assets/demo-policy');
    const train = splitQuestions(policy.world, 'train').filter((q) => q.hops === 2);
    const model = await CausalLM.load(env.gpu, 'assets/demo-policy');
    const trainer = new IgSearchTrainer(env.gpu, env.core, model, policy.tokenizer, policy.index, { algo: 'ig-search', groupSize: 4, maxTurns: 3, maxTokens: 384, docsPerSearch: 2, lr: 3e-4, seed: 3 });
    let full: { metrics: StepMetrics; questions: readonly Question[] } | undefined;
    await trainingRun(trainer, { run: 'inspect', train, steps: 1, questionsPerStep: 2, onStep: (metrics, questions) => (full = { metrics, questions }) });
    const { metrics, questions } = full!;
    const rollouts = inspectStep(policy.tokenizer, metrics, questions, 4);
    expect(rollouts.length).toBe(8);
    let queryTokens = 0;
    let credited = 0;
    rollouts.forEach((r, i) => {
      const t = metrics.trajectories[i]!;
      expect(r.pieces.length).toBe(t.tokens.length);
      expect(r.pieces.map((p) => p.text).join('')).toBe(policy.tokenizer.decode(t.tokens));
      expect(r.question).toBe(questions[Math.floor(i / 4)]!.question);
      expect(r.reward).toBe(metrics.rewards[i]);
      // Kinds follow the trajectory's spans and mask.
      r.pieces.forEach((p, j) => {
        const inQuery = t.searches.some((s) => j >= s.span[0] && j < s.span[1]);
        expect(p.kind, `token ${j}`).toBe(inQuery ? 'query' : t.policyMask[j] ? 'policy' : 'information');
        if (p.kind === 'information') expect(p.advantage).toBe(0);
      });
      // One Â per rollout on its policy tokens; a query's tokens share Â + λ·IG̃ of that query.
      const policyValues = new Set(r.pieces.filter((p) => p.kind === 'policy').map((p) => p.advantage));
      expect(policyValues.size).toBeLessThanOrEqual(1);
      const a = [...policyValues][0] ?? 0;
      for (const s of t.searches) {
        const values = new Set(r.pieces.slice(s.span[0], s.span[1]).map((p) => p.advantage));
        expect(values.size).toBe(1);
        queryTokens += s.span[1] - s.span[0];
        const credit = [...values][0]! - a;
        expect(Math.abs(credit)).toBeLessThan(2 + 1e-6); // λ = 1, |IG̃| ≤ 2 (the shaping's clip)
        if (Math.abs(credit) > 1e-6) credited++;
      }
      expect(r.searches.map((s) => s.query)).toEqual(t.searches.map((s) => s.query));
      r.searches.forEach((s) => expect(['precise', 'redundant', 'vague']).toContain(s.cls));
    });
    expect(queryTokens).toBeGreaterThan(0);
    expect(credited).toBeGreaterThan(0); // some query got λ·IG̃ beside Â
    // Â is a z-score within each group: it sums to 0 and orders the rollouts by reward.
    for (let g = 0; g < 2; g++) {
      const group = rollouts.slice(4 * g, 4 * g + 4);
      const hats = group.map((r) => r.pieces.find((p) => p.kind === 'policy')?.advantage ?? 0);
      expect(Math.abs(hats.reduce((x, y) => x + y, 0))).toBeLessThan(1e-4);
      group.forEach((r, i) => group.forEach((q, j) => r.reward > q.reward && expect(hats[i]).toBeGreaterThan(hats[j]!)));
    }
    const igs = rollouts.flatMap((r) => r.searches.map((s) => s.ig));
    expect(igs).toEqual(metrics.ig);
    // Each scored search names the random documents its IG was measured against: as many as it
    // retrieved (or docsPerSearch), none of them its own, none holding a gold answer (what the sampler promises).
    const contents = new Map(policy.world.passages.map((p) => [p.id, p.contents]));
    rollouts.forEach((r, i) => {
      const golds = questions[Math.floor(i / 4)]!.golden_answers;
      for (const s of r.searches) {
        expect(s.counterfactual?.length).toBe(s.documents.length || 2); // a search that found nothing is compared with docsPerSearch random ones
        for (const d of s.counterfactual!) {
          expect(s.documents.map((x) => x.id)).not.toContain(d.id);
          for (const gold of golds) expect(contents.get(d.id)!.toLowerCase()).not.toContain(gold.toLowerCase());
        }
      }
    });
    expect(metrics.igCounterfactuals.length).toBe(metrics.ig.length);

    const html = renderInspection(rollouts, 1);
    expect((html.match(/<span class="tok /g) ?? []).length).toBe(rollouts.filter((r) => r.group === 1).reduce((n, r) => n + r.pieces.length, 0));
    expect(html).toContain('&#60;search&#62;');
    expect(html).toContain('<small class="counterfactual">vs random: ');
    expect(html).not.toContain('<search>');
    expect(html).toContain(`<h3>${questions[1]!.question.replace(/'/g, '&#39;').replace(/"/g, '&#34;')}</h3>`);
    trainer.free();
    model.free();
    policy.index.free();
    policy.tokenizer.free();
  }, 300_000);
});

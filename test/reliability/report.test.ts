import { describe, expect, it } from 'vitest';
import { renderReport, type RunRecord } from '../../src/entry/node.js';

describe('the report with values that cannot be drawn', () => {
  it('NaN and ±∞ IG values are left out of the histogram (and said so), never written as coordinates', () => {
    const step = (ig: number[]): RunRecord =>
      ({ type: 'step', run: 'ig-search', step: 1, algo: 'ig-search', reward: 0, rewards: [0], loss: 0, gradNorm: 1, skipped: false, searchesPerRollout: 1, truncated: 0, allFailGroups: 0, allFailGradNorm: 0, retrievalFailures: 0, ig, stepRewards: [], queryAdvantage: 0, tokens: 10, rows: 20, forwardRows: { rollout: 1, ig: 1, reference: 0, update: 1 }, igTokens: 1, timing: { rollout: 1, reward: 1, ig: 1, advantages: 0, reference: 0, update: 1 }, exactMatch: { all: 0 } }) as RunRecord;
    const html = renderReport([step([0.5, NaN, 1.5, Infinity, -Infinity, 0.2])]);
    expect(html).not.toMatch(/NaN|Infinity/);
    expect(html).toContain('3 not finite, left out');
    expect(html.match(/<rect /g)?.length).toBeGreaterThan(3); // the finite values are drawn
  });
});

describe('the report’s IG-by-query-class chart', () => {
  const step = (n: number, ig: number[], searchClasses?: ('precise' | 'redundant' | 'vague')[]): RunRecord =>
    ({ type: 'step', run: 'ig-search', step: n, algo: 'ig-search', reward: 0, rewards: [0], loss: 0, gradNorm: 1, skipped: false, searchesPerRollout: 1, truncated: 0, allFailGroups: 0, allFailGradNorm: 0, retrievalFailures: 0, ig, stepRewards: [], queryAdvantage: 0, tokens: 10, rows: 20, forwardRows: { rollout: 1, ig: 1, reference: 0, update: 1 }, igTokens: 1, timing: { rollout: 1, reward: 1, ig: 1, advantages: 0, reference: 0, update: 1 }, exactMatch: { all: 0 }, searchClasses }) as RunRecord;

  it('draws each class and puts the AUC of precise vs vague in its title (hand-worked: 0.75 here)', () => {
    // 40 precise at 1 and 40 at 3, 40 vague at 2 and 40 at 0: precise beats vague in 3 of 4 pairs of values.
    const records = [1, 2, 3, 4].map((n) => step(n, [...Array(10).fill(1), ...Array(10).fill(3), ...Array(10).fill(2), ...Array(10).fill(0), 5], [...Array(20).fill('precise'), ...Array(20).fill('vague'), 'redundant']));
    const html = renderReport(records);
    expect(html).toContain('IG by query class, 164 searches: AUC precise/vague 0.75');
    for (const label of ['precise (80)', 'redundant (4)', 'vague (80)']) expect(html).toContain(label);
    expect(html).not.toContain('Information gain of 164 search steps'); // the class chart replaces the plain histogram
  });

  it('says the AUC is not measured with fewer than 30 of a class, and falls back to the plain histogram without classes', () => {
    expect(renderReport([step(1, [1, 0], ['precise', 'vague'])])).toContain('AUC: &#60; 30 of a class');
    expect(renderReport([step(1, [1, 0])])).toContain('Information gain of 2 search steps');
  });
});

describe('the demo report’s interval', () => {
  it('the last evaluation of each run minus the first run’s, over the same questions, per hop group', () => {
    const evalRecord = (run: string, correct: number[]): RunRecord =>
      ({ type: 'eval', run, step: 10, algo: run, em: 0, byHops: {}, searchesPerQuestion: 1, n: correct.length, ms: 1, correct, questionHops: [1, 1, 2, 2, 3, 3, 2, 1] }) as RunRecord;
    const html = renderReport([evalRecord('grpo', [1, 0, 0, 0, 0, 0, 0, 1]), evalRecord('ig-search', [1, 0, 1, 1, 0, 1, 1, 1])]);
    // All: +4 of 8 = +50.0; single-hop (3): 0; multi-hop (5): +4 of 5 = +80.0.
    const row = html.slice(html.indexOf('ig-search − grpo'));
    expect(row).toMatch(/^ig-search − grpo<\/td><td>\+50\.0 <small>\[[^\]]+\]<\/small><\/td><td>\+0\.0 <small>\[\+0\.0, \+0\.0\]<\/small><\/td><td>\+80\.0 /);
  });
});

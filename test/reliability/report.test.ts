import { describe, expect, it } from 'vitest';
import { renderReport, type RunRecord } from '../../src/entry/node.js';

describe('the report with values that cannot be drawn', () => {
  it('NaN and ±∞ IG values are left out of the histogram (and said so), never written as coordinates', () => {
    const step = (ig: number[]): RunRecord =>
      ({ type: 'step', run: 'ig-search', step: 1, algo: 'ig-search', reward: 0, rewards: [0], loss: 0, gradNorm: 1, skipped: false, searchesPerRollout: 1, allFailGroups: 0, allFailGradNorm: 0, retrievalFailures: 0, ig, stepRewards: [], queryAdvantage: 0, tokens: 10, rows: 20, forwardRows: { rollout: 1, ig: 1, reference: 0, update: 1 }, igTokens: 1, timing: { rollout: 1, reward: 1, ig: 1, advantages: 0, reference: 0, update: 1 }, exactMatch: { all: 0 } }) as RunRecord;
    const html = renderReport([step([0.5, NaN, 1.5, Infinity, -Infinity, 0.2])]);
    expect(html).not.toMatch(/NaN|Infinity/);
    expect(html).toContain('3 not finite, left out');
    expect(html.match(/<rect /g)?.length).toBeGreaterThan(3); // the finite values are drawn
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

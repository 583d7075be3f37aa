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

import { describe, expect, it } from 'vitest';
import { ALGORITHM_SPECS, ALGORITHMS, CORPUS_ALGORITHMS, IG_ALGORITHMS, IgSearchError, TURN_CREDIT_DEFAULTS, checkAlgorithm, isAlgorithm } from '../src/entry/node.js';

describe('the algorithm registry', () => {
  it('has one entry per algorithm, and the sets the trainer and the CLI read are derived from it', () => {
    expect(Object.keys(ALGORITHM_SPECS).sort()).toEqual([...ALGORITHMS].sort());
    expect([...IG_ALGORITHMS].sort()).toEqual(['ig-search', 'ig-search-gamma']);
    expect([...CORPUS_ALGORITHMS].sort()).toEqual(['ig-search', 'ig-search-gamma', 'mr-search', 'stepsearch']);
    // Every algorithm that scores IG keeps the rollout's cache (IG probes the policy from it).
    for (const a of ALGORITHMS) if (ALGORITHM_SPECS[a].ig) expect(ALGORITHM_SPECS[a].cache).toBe(true);
    expect(TURN_CREDIT_DEFAULTS.gigpo).toEqual({ gamma: 0.95, omega: 1 });
    expect(ALGORITHM_SPECS.grpo.credit).toBe('outcome');
  });

  it('checks a name with a typed error that lists the algorithms', () => {
    expect(checkAlgorithm('igpo', '--algo')).toBe('igpo');
    expect(isAlgorithm('ppo')).toBe(false);
    let error: unknown;
    try {
      checkAlgorithm('ppo', '--algo');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IgSearchError);
    expect((error as IgSearchError).code).toBe('INVALID_ARGUMENT');
    expect((error as Error).message).toBe(`--algo: "ppo" is not one of ${ALGORITHMS.join(', ')}`);
  });
});

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('errors from a trainer worker', () => {
  it('arrive as IgSearchError with their code and hint, and bad demo options are refused before any work', async () => {
    const ig = await import('ig-search');
    const { api, terminate } = await ig.spawnTrainerWorker();
    try {
      const bad = await api.demo({ policy: `${root}assets/demo-policy`, steps: -3 }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(ig.IgSearchError);
      expect((bad as InstanceType<typeof ig.IgSearchError>).code).toBe('INVALID_ARGUMENT');
      expect((bad as Error).message).toMatch(/demo: steps must be an integer ≥ 1, got -3/);
      const missing = await api.demo({ policy: `${root}no-such-policy` }).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ig.IgSearchError);
      expect((missing as InstanceType<typeof ig.IgSearchError>).hint).toMatch(/ig-search sft --out DIR/);
      expect((missing as Error).message.match(/hint:/g)?.length).toBe(1); // the hint is not doubled
    } finally {
      await terminate();
    }
  });
});

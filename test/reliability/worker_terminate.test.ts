import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('terminating a trainer worker', () => {
  it('while a demo runs ends the work cleanly (abort, release the device, end the thread), never the host process', () => {
    const script = fileURLToPath(new URL('./terminate-during-demo.mjs', import.meta.url));
    // Terminated at different points of a step (a plain thread kill crashed 3 of these 4 delays).
    for (const delay of [100, 900, 1500]) {
      const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DELAY: String(delay) } });
      expect(run.status, `delay ${delay}: ${run.stderr.split('\n').filter((l) => !l.startsWith('Warning')).join('\n')}`).toBe(0);
      const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as { terminated: number; stepsSeen: number; demo: string };
      expect(report.stepsSeen).toBeGreaterThanOrEqual(1);
      expect(report.stepsSeen).toBeLessThan(50); // stopped early, not run to the end
      expect(report.demo).toMatch(/aborted true/); // the run ended by its abort, its records intact
      expect(report.terminated).toBe(1); // worker.terminate()'s exit code for a terminated thread
    }
  }, 300_000);
});

/** Running the CLI in-process in tests: `main` with console output silenced, and a short `train` on the demo policy. */
import { main } from '../../src/cli/main.js';

/** `fn` with console.log / console.error silenced (restored after, also when it throws). */
export async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const [log, error] = [console.log, console.error];
  console.log = console.error = () => {};
  try {
    return await fn();
  } finally {
    [console.log, console.error] = [log, error];
  }
}

const POLICY = 'assets/demo-policy';

/** `ig-search train` on the demo policy and its data: 1 question × G = 2 per step, one turn, into `out`; `more` adds or overrides flags. */
export const trainDemo = (out: string, maxTokens: number, ...more: string[]) =>
  main(['train', '--model', POLICY, '--data', `${POLICY}/train.jsonl`, '--corpus', `${POLICY}/corpus.jsonl`, '--out', out, '--questions', '1', '--group', '2', '--max-tokens', String(maxTokens), '--max-turns', '1', ...more]);

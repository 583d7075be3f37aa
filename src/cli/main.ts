/**
 * The `ig-search` command line (Node). Subcommands grow with the project; today: demo, train, eval, doctor, score, run, sft.
 */
import { IgSearchError } from '../errors.js';
import { demo, DEMO_USAGE } from './demo.js';
import { doctor } from './doctor.js';
import { run, RUN_USAGE } from './run.js';
import { sft, SFT_USAGE } from './sft.js';
import { score, SCORE_USAGE } from './score.js';
import { evalCommand, train, TRAIN_USAGE } from './train.js';

const USAGE = `usage: ig-search <command> [options]

commands:
${DEMO_USAGE}
  doctor [--size N] [--json]   runtime, WebGPU adapter and limits, Wasm check, N³ matmul GFLOP/s (N = 1024)
${SCORE_USAGE}
${RUN_USAGE}
${TRAIN_USAGE}
${SFT_USAGE}
  help                         this text
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'doctor': {
      const json = rest.includes('--json');
      const sizeAt = rest.indexOf('--size');
      const size = sizeAt >= 0 ? Number(rest[sizeAt + 1]) : 1024;
      if (!Number.isInteger(size) || size < 1) throw new IgSearchError('INVALID_ARGUMENT', `--size must be a positive integer, got ${rest[sizeAt + 1]}`);
      const report = await doctor({ size, log: json ? undefined : (line) => console.log(line) });
      if (json) console.log(JSON.stringify(report, null, 2));
      return report.wasm.ok ? 0 : 1;
    }
    case 'demo':
      return demo(rest);
    case 'train':
      return train(rest);
    case 'eval':
      return evalCommand(rest);
    case 'score':
      return score(rest);
    case 'run':
      return run(rest);
    case 'sft':
      return sft(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(`ig-search: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

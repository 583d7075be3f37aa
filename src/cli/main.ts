/**
 * The `ig-search` command line (Node). Subcommands grow with the project; today: demo, compare, train, eval, signal, doctor, score, run, sft, index, serve, studio, export, models.
 */
import { IgSearchError } from '../errors.js';
import { compare, COMPARE_USAGE } from './compare.js';
import { demo, DEMO_USAGE } from './demo.js';
import { doctor } from './doctor.js';
import { run, RUN_USAGE } from './run.js';
import { serve, SERVE_USAGE } from './serve.js';
import { studio, STUDIO_USAGE } from './studio.js';
import { exportCommand, EXPORT_USAGE } from './export.js';
import { models, MODELS_USAGE } from './models.js';
import { sft, SFT_USAGE } from './sft.js';
import { indexCommand, INDEX_USAGE } from './dense_index.js';
import { score, SCORE_USAGE } from './score.js';
import { EVAL_USAGE, evalCommand, SIGNAL_USAGE, signalCommand, train, TRAIN_USAGE } from './train.js';

const DOCTOR_USAGE = '  doctor [--size N] [--json]   runtime, WebGPU adapter and limits, Wasm check, N³ matmul GFLOP/s (N = 1024, at most 8192)';
const USAGE = `usage: ig-search <command> [options]

commands:
${DEMO_USAGE}
${COMPARE_USAGE}
${DOCTOR_USAGE}
${SCORE_USAGE}
${RUN_USAGE}
${TRAIN_USAGE}
${EVAL_USAGE}
${SIGNAL_USAGE}
${SFT_USAGE}
${INDEX_USAGE}
${SERVE_USAGE}
${STUDIO_USAGE}
${EXPORT_USAGE}
${MODELS_USAGE}
  help                         this text
`;

/** `ig-search COMMAND --help`: that command's lines of the usage text (docs/cli.md holds them all, checked by a test). */
export const COMMAND_USAGE: Record<string, string> = { demo: DEMO_USAGE, compare: COMPARE_USAGE, doctor: DOCTOR_USAGE, score: SCORE_USAGE, run: RUN_USAGE, train: TRAIN_USAGE, eval: EVAL_USAGE, signal: SIGNAL_USAGE, sft: SFT_USAGE, index: INDEX_USAGE, serve: SERVE_USAGE, studio: STUDIO_USAGE, export: EXPORT_USAGE, models: MODELS_USAGE };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command && COMMAND_USAGE[command] && (rest.includes('--help') || rest.includes('-h'))) {
    console.log(`usage: ig-search ${COMMAND_USAGE[command]!.trim()}`);
    return 0;
  }
  switch (command) {
    case 'doctor': {
      const json = rest.includes('--json');
      const sizeAt = rest.indexOf('--size');
      const size = sizeAt >= 0 ? Number(rest[sizeAt + 1]) : 1024;
      if (!Number.isInteger(size) || size < 1 || size > 8192) throw new IgSearchError('INVALID_ARGUMENT', `--size must be an integer from 1 to 8192, got ${rest[sizeAt + 1]}`, { hint: 'the N³ matmul needs three N×N buffers; 8192 is 256 MiB each' });
      const report = await doctor({ size, log: json ? undefined : (line) => console.log(line) });
      if (json) console.log(JSON.stringify(report, null, 2));
      return report.wasm.ok ? 0 : 1;
    }
    case 'demo':
      return demo(rest);
    case 'compare':
      return compare(rest);
    case 'train':
      return train(rest);
    case 'signal':
      return signalCommand(rest);
    case 'eval':
      return evalCommand(rest);
    case 'score':
      return score(rest);
    case 'run':
      return run(rest);
    case 'sft':
      return sft(rest);
    case 'index':
      return indexCommand(rest);
    case 'serve':
      return serve(rest);
    case 'studio':
      return studio(rest);
    case 'export':
      return exportCommand(rest);
    case 'models':
      return models(rest);
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

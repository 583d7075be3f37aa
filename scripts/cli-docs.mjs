#!/usr/bin/env node
/**
 * Writes docs/cli.md: each command's `ig-search COMMAND --help`, as the built binary prints it, under
 * a paragraph on when to use it. Run after `npm run build:js`; test/cli_docs.test.ts fails when the
 * page and the binary disagree.
 *
 *   node scripts/cli-docs.mjs [--check]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('../', import.meta.url).pathname;
const ABOUT = {
  demo: 'The main job: GRPO and IG-Search from the embedded warm-started policy on the synthetic world, evaluated on the validation split, with an HTML report. About nine minutes on a 2-core CPU.',
  compare: 'Several credit-assignment algorithms from one warm start, paired by seed, with paired-bootstrap intervals. `--register` writes a pre-registration; `--preregistered` runs exactly that one on the test split. `--resume` continues a stopped run.',
  doctor: 'What this runtime offers: the WebGPU adapter and its limits, the Wasm core, and a matmul\'s GFLOP/s.',
  score: 'Log-probabilities of continuations after a prefix under a model: the scoring pass IG is computed with.',
  run: 'One search-agent rollout of a question: what the policy searches, what it reads, what it answers.',
  train: 'RL training of a Hub or local model on Search-R1 data with any of the seven algorithms; checkpoints, metrics.jsonl, `--resume`, LoRA.',
  eval: 'Greedy exact match of a model (and LoRA adapters) on a question file, by hop count.',
  signal: 'Whether each step signal ranks queries by quality: the AUC of precise against vague and redundant searches, labelled from the data\'s supporting passages. No update.',
  sft: 'Supervised warm start on scripted search trajectories (how the demo policy was made).',
  index: 'A dense index of a corpus with a BERT-family encoder or a decoder embedder; resumable after Ctrl-C.',
  serve: 'Search-R1\'s retrieval API (`POST /retrieve`) over BM25, dense or hybrid search, for verl or any client.',
  studio: 'A web page that trains IG-Search in the tab (a Web Worker on WebGPU) on the demo world and shows, live, the reward, validation EM, IG by query class, and every token of a step with the advantage it was credited.',
  export: 'A question file as Search-R1 / verl training rows (Parquet), for training the same data there.',
  models: 'The models in the Hugging Face cache (`HF_HUB_CACHE`), and removing one.',
};

const main = readFileSync(`${root}src/cli/main.ts`, 'utf8');
const commands = [...main.matchAll(/export const COMMAND_USAGE[^{]*\{([^}]*)\}/g)][0][1].split(',').map((e) => e.split(':')[0].trim()).filter(Boolean);
const help = (command) => execFileSync(process.execPath, [`${root}bin/ig-search.js`, command, '--help'], { encoding: 'utf8' });

let page = `# Command-line reference

\`npx ig-search COMMAND --help\` prints a command's options with their defaults; this page holds the same
text for every command (written by \`node scripts/cli-docs.mjs\` from the binary, checked by a test).
Bad input is a typed error naming the flag, file and line; exit status 0 on success, 130 after Ctrl-C
(the work done so far is kept), 1 on an error, 2 on an unknown command.

${commands.map((c) => `- [\`${c}\`](#${c})`).join('\n')}
`;
for (const command of commands) {
  if (!ABOUT[command]) throw new Error(`scripts/cli-docs.mjs: no paragraph for the command "${command}"`);
  page += `\n## ${command}\n\n${ABOUT[command]}\n\n\`\`\`text\n${help(command).trimEnd()}\n\`\`\`\n`;
}
const path = `${root}docs/cli.md`;
if (process.argv.includes('--check')) {
  if (readFileSync(path, 'utf8') !== page) {
    console.error('docs/cli.md differs from the binary: run node scripts/cli-docs.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(path, page);
  console.log(`wrote docs/cli.md (${commands.length} commands)`);
}

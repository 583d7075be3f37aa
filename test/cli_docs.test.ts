import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMAND_USAGE } from '../src/cli/main.js';

const root = new URL('../', import.meta.url).pathname;
const cli = (args: string[]) => promisify(execFile)(process.execPath, [`${root}bin/ig-search.js`, ...args], { encoding: 'utf8' });

describe('docs/cli.md', () => {
  it('holds, for every command, exactly what the binary prints for COMMAND --help, and the overview lists them all', async () => {
    const page = readFileSync(`${root}docs/cli.md`, 'utf8');
    const commands = Object.keys(COMMAND_USAGE);
    expect(commands.length).toBeGreaterThanOrEqual(13);
    const overview = (await cli(['help'])).stdout;
    for (const command of commands) {
      const { stdout } = await cli([command, '--help']);
      expect(stdout.startsWith(`usage: ig-search ${command} `), command).toBe(true);
      expect(page, `docs/cli.md's ${command} section (node scripts/cli-docs.mjs rewrites it)`).toContain(`\n## ${command}\n`);
      expect(page, `docs/cli.md's ${command} section (node scripts/cli-docs.mjs rewrites it)`).toContain(`\`\`\`text\n${stdout.trimEnd()}\n\`\`\``);
      // The overview (`ig-search help`) carries each command's usage text unchanged.
      expect(overview, command).toContain(stdout.replace(/^usage: ig-search /, '').trimEnd());
    }
    const sections = [...page.matchAll(/^## (\S+)$/gm)].map((m) => m[1]);
    expect(sections).toEqual(commands);
  });
});

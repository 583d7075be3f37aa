// A full-page PNG of an HTML report (what docs/demo-report.png is made from), with Debian's
// chromium through playwright-core — the browser the browser tests use.
//
//   node scripts/report-screenshot.mjs runs/demo/report.html docs/demo-report.png [--width 1100]
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { width: { type: 'string', default: '1100' } } });
const [input, output] = positionals;
if (!input || !output) {
  console.error('usage: node scripts/report-screenshot.mjs REPORT.html OUT.png [--width 1100]');
  process.exit(2);
}
if (!existsSync(input)) {
  console.error(`${input}: no such file`);
  process.exit(1);
}
const executablePath = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => p && existsSync(p));
if (!executablePath) {
  console.error('chromium not found: run scripts/setup.sh (apt package chromium) or set CHROMIUM_PATH');
  process.exit(1);
}
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'] });
try {
  const page = await browser.newPage({ viewport: { width: Number(values.width), height: 900 } });
  await page.goto(pathToFileURL(resolve(input)).href);
  await page.screenshot({ path: output, fullPage: true });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
}

import { setPlatform } from '../platform/platform.js';
import { nodePlatform } from '../platform/node.js';
import { IgSearchError } from '../errors.js';
import { main } from '../cli/main.js';

setPlatform(nodePlatform);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof IgSearchError) console.error(`ig-search: ${e.code}: ${e.message}`);
    else console.error(e);
    process.exitCode = 1;
  },
);

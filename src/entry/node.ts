import { setPlatform } from '../platform/platform.js';
import { nodePlatform } from '../platform/node.js';

setPlatform(nodePlatform);

export * from '../index.js';


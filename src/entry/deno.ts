import { setPlatform } from '../platform/platform.js';
import { denoPlatform } from '../platform/deno.js';

setPlatform(denoPlatform);

export * from '../index.js';

import { defineConfig } from 'vitest/config';
import { wgsl } from './scripts/wgsl-plugin.mjs';

export default defineConfig({
  plugins: [wgsl()],
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/deno/**', 'node_modules/**'],
    // Each test file gets its own process: Dawn holds one Vulkan instance per process, and on a
    // 2-core CPU adapter two files at once only contend for the same cores.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

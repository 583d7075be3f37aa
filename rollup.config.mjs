// Bundles src/ into dist/: one ESM file per runtime entry (they differ only in how they reach
// WebGPU and read the .wasm), the CLI, the .d.ts, and ig_core.wasm copied beside them so that
// `new URL('./ig_core.wasm', import.meta.url)` resolves in every runtime.
import { copyFile, mkdir } from 'node:fs/promises';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import typescript from '@rollup/plugin-typescript';
import { wgsl } from './scripts/wgsl-plugin.mjs';

const copyWasm = {
  name: 'ig-search-copy-wasm',
  async writeBundle() {
    await mkdir('dist', { recursive: true });
    await copyFile('src/wasm/ig_core.wasm', 'dist/ig_core.wasm');
  },
};

// The studio (studio/): its page and styles copied, its script bundled with preact, htm and uPlot;
// the package itself is imported from ../browser.js, the bundle beside it.
const copyStudio = {
  name: 'ig-search-copy-studio',
  async writeBundle() {
    await mkdir('dist/studio', { recursive: true });
    await Promise.all([
      copyFile('studio/index.html', 'dist/studio/index.html'),
      copyFile('studio/studio.css', 'dist/studio/studio.css'),
      copyFile('node_modules/uplot/dist/uPlot.min.css', 'dist/studio/uPlot.min.css'),
    ]);
  },
};

const studio = {
  input: { studio: 'studio/main.js' },
  output: { dir: 'dist/studio', format: 'es', sourcemap: false },
  external: (id) => id === '../browser.js',
  plugins: [nodeResolve({ browser: true }), copyStudio],
};

const library = {
  input: {
    node: 'src/entry/node.ts',
    deno: 'src/entry/deno.ts',
    browser: 'src/entry/browser.ts',
    cli: 'src/entry/cli.ts',
    server: 'src/entry/server.ts',
    index: 'src/index.ts',
    internals: 'src/internals.ts',
    'worker-node': 'src/entry/worker-node.ts',
    'worker-browser': 'src/entry/worker-browser.ts',
  },
  output: { dir: 'dist', format: 'es', chunkFileNames: '[name]-[hash].js', sourcemap: false },
  external: (id) => id === 'webgpu' || id === 'hyparquet-writer' || id.startsWith('node:'),
  plugins: [
    // comlink, @huggingface/jinja and hyparquet (a chunk of its own, loaded when a Parquet upload is read)
    // are bundled in, so the browser files load without an import map or a bundler.
    nodeResolve({ browser: false, resolveOnly: ['comlink', '@huggingface/jinja', 'hyparquet'] }),
    wgsl(),
    typescript({
      tsconfig: './tsconfig.json',
      compilerOptions: { rootDir: 'src', outDir: 'dist', declaration: true, declarationDir: 'dist', noEmit: false },
    }),
    copyWasm,
  ],
};

export default [library, studio];

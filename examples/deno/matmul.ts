// deno run --allow-read examples/deno/matmul.ts — the same through Deno's navigator.gpu.
import { Gpu, loadWasmCore } from '../../dist/deno.js';
import { matmul } from '../../dist/internals.js';

const gpu = await Gpu.request();
const core = await loadWasmCore();
console.log(`adapter: ${gpu.adapter.description}; ig_core ${core.version()}`);
const c = await matmul(gpu, new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), { M: 2, N: 2, K: 2 });
console.log('[[1,2],[3,4]] · [[5,6],[7,8]] =', Array.from(c)); // [19, 22, 43, 50]
gpu.destroy();

// node examples/node/matmul.mjs — a batched matmul on whatever WebGPU adapter Dawn finds.
import { Gpu } from 'ig-search';
import { matmul, matmulRef } from 'ig-search/internals';

const gpu = await Gpu.request();
console.log(`adapter: ${gpu.adapter.description} (${gpu.adapter.isSoftware ? 'CPU' : 'GPU'})`);

const shape = { M: 64, N: 96, K: 128, batch: 4 };
const a = Float32Array.from({ length: 4 * 64 * 128 }, (_, i) => Math.sin(i));
const b = Float32Array.from({ length: 4 * 128 * 96 }, (_, i) => Math.cos(i));
const c = await matmul(gpu, a, b, shape);

const ref = matmulRef(a, b, shape);
const worst = c.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
console.log(`C is ${shape.batch}×${shape.M}×${shape.N}, max |C - f64 reference| = ${worst.toExponential(2)}`);
gpu.destroy();

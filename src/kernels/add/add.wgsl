// out += x, elementwise (residual-stream gradients meet here).

struct Params { n: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocationIndex(gid, 64u);
  if (i < p.n) { out[i] += x[i]; }
}

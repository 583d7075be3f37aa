// SwiGLU backward: out = silu(g)·u with gu = [gate | up] per row.
//   du = dout · silu(g);  dg = dout · u · σ(g)·(1 + g·(1 − σ(g)))

struct Params { T: u32, I: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<storage, read> gu: array<f32>;   // [T, 2I]
@group(0) @binding(1) var<storage, read> dout: array<f32>; // [T, I]
@group(0) @binding(2) var<storage, read_write> dgu: array<f32>; // [T, 2I]
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let t = gid.y;
  if (i >= p.I || t >= p.T) { return; }
  let g = gu[t * 2u * p.I + i];
  let u = gu[t * 2u * p.I + p.I + i];
  let d = dout[t * p.I + i];
  let sig = 1.0 / (1.0 + exp(-g));
  dgu[t * 2u * p.I + i] = d * u * sig * (1.0 + g * (1.0 - sig));
  dgu[t * 2u * p.I + p.I + i] = d * g * sig;
}

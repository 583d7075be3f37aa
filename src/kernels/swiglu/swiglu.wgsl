// SwiGLU: out[t, i] = silu(gu[t, i]) · gu[t, I + i], where gu is the fused gate/up projection.

struct Params { T: u32, I: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<storage, read> gu: array<f32>; // [T, 2I]
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // [T, I]
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let t = gid.y;
  if (i >= p.I || t >= p.T) { return; }
  let g = gu[t * 2u * p.I + i];
  let u = gu[t * 2u * p.I + p.I + i];
  out[t * p.I + i] = g / (1.0 + exp(-g)) * u;
}

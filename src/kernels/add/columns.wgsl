// Column-block copy/add between row-major matrices: for every row t and j < width,
//   out[t·ldo + oOff + j] = beta · out[t·ldo + oOff + j] + scale · x[t·ldx + xOff + j]
// (beta 1: add a LoRA delta into one projection's columns of a fused output; beta 0: extract them).

struct Params { T: u32, width: u32, ldx: u32, xOff: u32, ldo: u32, oOff: u32, beta: f32, scale: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let t = gid.y;
  if (j >= p.width || t >= p.T) { return; }
  let at = t * p.ldo + p.oOff + j;
  let v = p.scale * x[t * p.ldx + p.xOff + j];
  if (p.beta == 0.0) { out[at] = v; } else { out[at] = p.beta * out[at] + v; }
}

// h[t, j] = gelu(h[t, j] + bias[j]) in place, the exact (erf) GELU of BERT's "gelu".
struct Params { T: u32, N: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<storage, read> bias: array<f32>;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// erf(x) to ~1.2e-7 absolute (Numerical Recipes' erfc Chebyshev fit), WGSL having no erf builtin.
fn erf(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = 1.0 - t * exp(poly);
  return select(-r, r, x >= 0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let t = gid.y;
  if (j >= p.N || t >= p.T) { return; }
  let v = h[t * p.N + j] + bias[j];
  h[t * p.N + j] = 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
}

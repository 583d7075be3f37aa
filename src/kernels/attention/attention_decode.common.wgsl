// What both decode-attention kernels share (attention_decode.wgsl, attention_decode.flash.wgsl): one
// interface, so either serves the same call.

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, scale: f32, eps: f32, qkNorm: u32, _a: u32 }

// The head dimension, fixed when the pipeline is created (AttentionDecode always sets it; the
// per-row kernel reads the params' when it is 0).
override HEAD_DIM: u32 = 0u;

@group(0) @binding(0) var<storage, read> qkv: array<f32>;    // [T, (heads + 2 kvHeads) · d], before bias and RoPE
@group(0) @binding(1) var<storage, read> bias: array<f32>;   // [(heads + 2 kvHeads) · d]
@group(0) @binding(2) var<storage, read> qkNormWeight: array<f32>;   // [q_norm (d), k_norm (d)] (Qwen3; read when p.qkNorm)
@group(0) @binding(3) var<storage, read> table: array<f32>;  // [pos, d/2, (cos, sin)]
@group(0) @binding(4) var<storage, read> rows: array<Row>;
@group(0) @binding(5) var<storage, read_write> kCache: array<f32>; // [rows, kvHeads · d]
@group(0) @binding(6) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;    // [T, heads · d]
@group(0) @binding(8) var<uniform> p: Params;

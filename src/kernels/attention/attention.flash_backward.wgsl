// What the flash backward passes share (attention.flash_dq.wgsl, attention.flash_dkv.wgsl): the
// parameters, the head dimension, and the bindings both read — the rows' queries, keys, values and
// upstream gradients — with their four-float loads (storage pointers cannot be passed to functions
// in core WGSL, so one small reader per binding).

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, scale: f32, _a: u32, _b: u32, _c: u32 }

// Fixed at creation: the head dimension, a multiple of 4 up to 256.
override HEAD_DIM: u32;
const MAX_D4: u32 = 64u;

@group(0) @binding(0) var<storage, read> q: array<f32>;      // [T, heads · d]
@group(0) @binding(1) var<storage, read> kCache: array<f32>;   // [T, kvHeads · d]
@group(0) @binding(2) var<storage, read> vCache: array<f32>;
@group(0) @binding(3) var<storage, read> dO: array<f32>;     // [T, heads · d]
@group(0) @binding(8) var<uniform> p: Params;

fn q4(i: u32) -> vec4<f32> { return vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]); }
fn keys4(i: u32) -> vec4<f32> { return vec4<f32>(kCache[i], kCache[i + 1u], kCache[i + 2u], kCache[i + 3u]); }
fn values4(i: u32) -> vec4<f32> { return vec4<f32>(vCache[i], vCache[i + 1u], vCache[i + 2u], vCache[i + 3u]); }
fn dO4(i: u32) -> vec4<f32> { return vec4<f32>(dO[i], dO[i + 1u], dO[i + 2u], dO[i + 3u]); }

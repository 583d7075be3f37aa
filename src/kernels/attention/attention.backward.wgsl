// Backward of causal grouped-query attention for training rows (kvRow = row). A row attends to
// an optional context range — a prefix shared by several sequences, computed once — and then its
// own segment's rows [selfStart, row]. Two entry points:
//
// `dq`: one invocation per (row i, head h), one online-softmax pass over its keys:
//   D = dO_i · O_i,  dS_ij = P_ij (dO_i · V_j − D),  dQ_i = scale · Σ_j dS_ij K_j
// and stores lse_ih and D_ih for the second pass.
// `dkv`: one invocation per (key row j, KV head g). Over the rows i in [j, ends[j]) — every row
// that attends to j: the rest of its segment, and for a shared prefix row every row of the
// sequences that share it — and the heads h of group g:  dV_j = Σ P_ij dO_i,  dK_j = scale · Σ dS_ij Q_i.
// No atomics: every output element has exactly one writer. This file holds what both share; each
// entry point's own bindings follow in attention.dq.wgsl / attention.dkv.wgsl (concatenated by
// attention.ts), so neither binds more than 8 storage buffers (WebGPU's guaranteed minimum).

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, scale: f32, _a: u32, _b: u32, _c: u32 }

const MAX_D: u32 = 256u;
// The head dimension, fixed when the pipeline is created (0: read it from the params). A constant
// lets the compiler unroll the loops over it and keep the per-lane vectors in registers.
override HEAD_DIM: u32 = 0u;

@group(0) @binding(0) var<storage, read> q: array<f32>;     // [T, heads · d] (scaled inside)
@group(0) @binding(1) var<storage, read> kCache: array<f32>;     // [T, kvHeads · d]
@group(0) @binding(2) var<storage, read> vCache: array<f32>;
@group(0) @binding(3) var<storage, read> dO: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

fn headDim() -> u32 {
  return select(p.headDim, HEAD_DIM, HEAD_DIM > 0u);
}

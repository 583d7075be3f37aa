// Grouped-query causal attention over packed ragged rows with a KV cache, one invocation per
// (row, head), online softmax (running max and sum, one pass over the keys). A row attends to
// up to two context ranges of cache rows — shared segments computed once, e.g. a trajectory
// prefix, then the documents after it — then to its own segment's rows [selfStart, kvRow].

struct Params { T: u32, heads: u32, kvHeads: u32, headDim: u32, scale: f32, _a: u32, _b: u32, _c: u32 }

// The head dimension, fixed when the pipeline is created (0: read it from the params), so the
// compiler can unroll the loops over it and keep the per-lane vectors in registers.
override HEAD_DIM: u32 = 0u;

@group(0) @binding(0) var<storage, read> q: array<f32>;      // [T, heads · d]
@group(0) @binding(1) var<storage, read> kCache: array<f32>; // [rows, kvHeads · d]
@group(0) @binding(2) var<storage, read> vCache: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<Row>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [T, heads · d]
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let index = invocationIndex(gid, 64u);
  if (index >= p.T * p.heads) { return; }
  let t = index / p.heads;
  let h = index % p.heads;
  let d = select(p.headDim, HEAD_DIM, HEAD_DIM > 0u);
  let kvh = h / (p.heads / p.kvHeads);
  let stride = p.kvHeads * d;
  var qv: array<f32, MAX_D>;
  var acc: array<f32, MAX_D>;
  for (var i = 0u; i < d; i++) { qv[i] = q[t * p.heads * d + h * d + i] * p.scale; acc[i] = 0.0; }
  let row = rows[t];
  var st = Softmax(-3.0e38, 0.0);
  let total = row.ctxLength + row.ctx2Length + (row.kvSlot + 1u - row.selfStart);
  for (var n = 0u; n < total; n++) { attendCached(&qv, &acc, &st, keySlot(row, n) * stride + kvh * d, d); }
  for (var i = 0u; i < d; i++) { out[t * p.heads * d + h * d + i] = acc[i] / st.l; }
}

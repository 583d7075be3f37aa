// Decode attention with everything between the q/k/v projection and the attention fused in: for
// rows that attend to no other row of their dispatch (one new token per sequence, its context
// already in the cache), each (row, head) invocation takes its query and its own key and value
// straight from the projection's output — Qwen3's q/k RMSNorm, the bias, rotate-half RoPE — writes
// the key and value into the cache slot (the first query head of each KV group does), and attends
// over the cached keys, its own key last from registers. Five kernels in the unfused path (q/k norm,
// bias + RoPE + cache write, attention) become one. Same arithmetic as that path, step for step.

// Params, HEAD_DIM and the bindings: attention_decode.common.wgsl.

// Head `head` of row t's projection: optional per-head RMSNorm (weights at qkNormWeight[w0..]), then the bias,
// then rotate-half RoPE at `pos`; into v.
fn project(v: ptr<function, array<f32, MAX_D>>, t: u32, head: u32, w0: u32, pos: u32, d: u32) {
  let width = (p.heads + 2u * p.kvHeads) * d;
  let base = t * width + head * d;
  for (var i = 0u; i < d; i++) { (*v)[i] = qkv[base + i]; }
  if (p.qkNorm != 0u) {
    var sum = 0.0;
    for (var i = 0u; i < d; i++) { sum = fma((*v)[i], (*v)[i], sum); }
    let s = inverseSqrt(sum / f32(d) + p.eps);
    for (var i = 0u; i < d; i++) { (*v)[i] = (*v)[i] * s * qkNormWeight[w0 + i]; }
  }
  for (var i = 0u; i < d; i++) { (*v)[i] += bias[head * d + i]; }
  let half = d / 2u;
  for (var j = 0u; j < half; j++) {
    let c = table[(pos * half + j) * 2u];
    let s = table[(pos * half + j) * 2u + 1u];
    let x1 = (*v)[j];
    let x2 = (*v)[j + half];
    (*v)[j] = x1 * c - x2 * s;
    (*v)[j + half] = x2 * c + x1 * s;
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let index = invocationIndex(gid, 64u);
  if (index >= p.T * p.heads) { return; }
  let t = index / p.heads;
  let h = index % p.heads;
  let d = select(p.headDim, HEAD_DIM, HEAD_DIM > 0u);
  let group = p.heads / p.kvHeads;
  let kvh = h / group;
  let stride = p.kvHeads * d;
  let width = (p.heads + 2u * p.kvHeads) * d;
  let row = rows[t];
  let kvRow = row.kvSlot;

  var qv: array<f32, MAX_D>;
  project(&qv, t, h, 0u, row.position, d);
  for (var i = 0u; i < d; i++) { qv[i] *= p.scale; }
  var kv: array<f32, MAX_D>; // this row's key
  project(&kv, t, p.heads + kvh, d, row.position, d);
  let vCol = (p.heads + p.kvHeads) * d + kvh * d; // this row's value: projection + bias
  if (h % group == 0u) {
    for (var i = 0u; i < d; i++) {
      kCache[kvRow * stride + kvh * d + i] = kv[i];
      vCache[kvRow * stride + kvh * d + i] = qkv[t * width + vCol + i] + bias[vCol + i];
    }
  }

  var acc: array<f32, MAX_D>;
  for (var i = 0u; i < d; i++) { acc[i] = 0.0; }
  var st = Softmax(-3.0e38, 0.0);
  let cached = row.ctxLength + row.ctx2Length + (kvRow - row.selfStart); // every key but the row's own
  for (var n = 0u; n < cached; n++) { attendCached(&qv, &acc, &st, keySlot(row, n) * stride + kvh * d, d); }
  var s = 0.0;
  for (var i = 0u; i < d; i++) { s = fma(qv[i], kv[i], s); }
  let wc = softmaxStep(&st, s);
  for (var i = 0u; i < d; i++) { acc[i] = fma(wc.x, qkv[t * width + vCol + i] + bias[vCol + i], acc[i] * wc.y); }
  for (var i = 0u; i < d; i++) { out[t * p.heads * d + h * d + i] = acc[i] / st.l; }
}

// Decode attention for GPUs (flash-decoding): the fused step of attention_decode.wgsl — q/k norm,
// bias, RoPE, cache write, attention over the cache — with a workgroup of 64 invocations per
// (row, head) where that kernel has one invocation. A decode step has only rows × heads such pairs
// (224 for 16 sequences of a 0.5B model): one invocation each leaves a GPU nearly idle and walks a
// long context one key at a time; here the projection is spread over the head dimension, the keys
// over the lanes (each scores one key of every 64), and the weighted sum of values over the head
// dimension again, so neighbouring lanes read neighbouring words of each value row. Per block of 64
// keys the online softmax takes the block's max and sum by a tree in workgroup memory.

// Params, HEAD_DIM (set at creation: even, ≤ 256, so each lane holds at most 4 output elements)
// and the bindings: attention_decode.common.wgsl.

const LANES: u32 = 64u;
const OWN: u32 = 0xffffffffu; // a block's key is the row's own, held in workgroup memory

var<workgroup> qS: array<f32, 256>; // the row's query, projected and scaled
var<workgroup> kS: array<f32, 256>; // its own key and value, projected
var<workgroup> vS: array<f32, 256>;
var<workgroup> tree: array<f32, 64>;
var<workgroup> weights: array<f32, 64>; // a block's softmax weights
var<workgroup> bases: array<u32, 64>;   // where each key of a block starts in the cache, or OWN
var<workgroup> keyCount: u32;

// Sum (or max) of one value per lane, returned to every lane.
fn reduce(lane: u32, x: f32, isMax: bool) -> f32 {
  tree[lane] = x;
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lane < s) { tree[lane] = select(tree[lane] + tree[lane + s], max(tree[lane], tree[lane + s]), isMax); }
  }
  let r = workgroupUniformLoad(&tree[0]);
  workgroupBarrier(); // every lane has read it before the tree is written again
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let index = groupIndex(wid);
  if (index >= p.T * p.heads) { return; }
  let t = index / p.heads;
  let h = index % p.heads;
  let d = HEAD_DIM;
  let group = p.heads / p.kvHeads;
  let kvh = h / group;
  let stride = p.kvHeads * d;
  let width = (p.heads + 2u * p.kvHeads) * d;
  let row = rows[t];
  let kvRow = row.kvSlot;
  let qCol = h * d;
  let kCol = (p.heads + kvh) * d;
  let vCol = (p.heads + p.kvHeads) * d + kvh * d;

  // The projection, each lane its elements of the head: optional RMSNorm, bias, then RoPE.
  var sq = 0.0;
  var sk = 0.0;
  for (var i = lane; i < d; i += LANES) {
    let a = qkv[t * width + qCol + i];
    let b = qkv[t * width + kCol + i];
    qS[i] = a;
    kS[i] = b;
    sq = fma(a, a, sq);
    sk = fma(b, b, sk);
    vS[i] = qkv[t * width + vCol + i] + bias[vCol + i];
  }
  var normQ = 1.0;
  var normK = 1.0;
  if (p.qkNorm != 0u) {
    normQ = inverseSqrt(reduce(lane, sq, false) / f32(d) + p.eps);
    normK = inverseSqrt(reduce(lane, sk, false) / f32(d) + p.eps);
  }
  for (var i = lane; i < d; i += LANES) {
    if (p.qkNorm != 0u) {
      qS[i] = qS[i] * normQ * qkNormWeight[i];
      kS[i] = kS[i] * normK * qkNormWeight[d + i];
    }
    qS[i] += bias[qCol + i];
    kS[i] += bias[kCol + i];
  }
  workgroupBarrier();
  let half = d / 2u;
  for (var j = lane; j < half; j += LANES) {
    let c = table[(row.position * half + j) * 2u];
    let s = table[(row.position * half + j) * 2u + 1u];
    let q1 = qS[j];
    let q2 = qS[j + half];
    qS[j] = (q1 * c - q2 * s) * p.scale;
    qS[j + half] = (q2 * c + q1 * s) * p.scale;
    let k1 = kS[j];
    let k2 = kS[j + half];
    kS[j] = k1 * c - k2 * s;
    kS[j + half] = k2 * c + k1 * s;
  }
  workgroupBarrier();
  if (h % group == 0u) {
    for (var i = lane; i < d; i += LANES) {
      kCache[kvRow * stride + kvh * d + i] = kS[i];
      vCache[kvRow * stride + kvh * d + i] = vS[i];
    }
  }

  // Every cached key, then the row's own, in blocks of 64: lane n of a block scores key n.
  if (lane == 0u) { keyCount = row.ctxLength + row.ctx2Length + (kvRow - row.selfStart) + 1u; }
  let total = workgroupUniformLoad(&keyCount);
  let cached = total - 1u;
  var m = -3.0e38;
  var l = 0.0;
  var acc = vec4<f32>(0.0); // elements lane, lane + 64, lane + 128, lane + 192
  for (var n0 = 0u; n0 < total; n0 += LANES) {
    let n = n0 + lane;
    var s = -3.0e38;
    if (n < total) {
      var base = OWN;
      var score = 0.0;
      if (n < cached) {
        base = keySlot(row, n) * stride + kvh * d;
        for (var x = 0u; x < d; x++) { score = fma(qS[x], kCache[base + x], score); }
      } else {
        for (var x = 0u; x < d; x++) { score = fma(qS[x], kS[x], score); }
      }
      bases[lane] = base;
      s = score;
    }
    let mNew = max(m, reduce(lane, s, true));
    let weight = select(0.0, exp(s - mNew), n < total);
    weights[lane] = weight;
    let correction = exp(m - mNew);
    l = l * correction + reduce(lane, weight, false); // its barriers publish weights and bases too
    acc *= correction;
    let block = min(LANES, total - n0);
    for (var c = 0u; c < block; c++) {
      let base = bases[c];
      let w = weights[c];
      for (var e = 0u; e < 4u; e++) {
        let i = lane + e * LANES;
        if (i >= d) { continue; }
        if (base == OWN) { acc[e] = fma(w, vS[i], acc[e]); } else { acc[e] = fma(w, vCache[base + i], acc[e]); }
      }
    }
    m = mNew;
    workgroupBarrier(); // before the next block writes weights and bases
  }
  for (var e = 0u; e < 4u; e++) {
    let i = lane + e * LANES;
    if (i < d) { out[t * p.heads * d + h * d + i] = acc[e] / l; }
  }
}

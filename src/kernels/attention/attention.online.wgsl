// What the forward attention kernels share: which cache slot is a row's n-th key, and one step of
// the online softmax (running max and sum, one pass over the keys) over a cached key and value.

const MAX_D: u32 = 256u;

// The n-th key a row attends to: its context range, then its second context range, then its own segment.
fn keySlot(row: Row, n: u32) -> u32 {
  let contexts = row.ctxLength + row.ctx2Length;
  if (n < row.ctxLength) { return row.ctxStart + n; }
  if (n < contexts) { return row.ctx2Start + (n - row.ctxLength); }
  return row.selfStart + (n - contexts);
}

// The online softmax's running max and sum.
struct Softmax { m: f32, l: f32 }

// Adds the key whose score is s, with weight exp(s − max), to the state and to acc (Σ w·value, rescaled
// when the max moves); returns the weight, for the caller to add its value: acc = w·v + acc·correction.
fn softmaxStep(st: ptr<function, Softmax>, s: f32) -> vec2<f32> {
  let mNew = max((*st).m, s);
  let correction = exp((*st).m - mNew);
  let w = exp(s - mNew);
  (*st).l = (*st).l * correction + w;
  (*st).m = mNew;
  return vec2<f32>(w, correction);
}

// One cached key and value (at kCache/vCache[base..base + d]) into the state and acc.
fn attendCached(qv: ptr<function, array<f32, MAX_D>>, acc: ptr<function, array<f32, MAX_D>>, st: ptr<function, Softmax>, base: u32, d: u32) {
  var s = 0.0;
  for (var i = 0u; i < d; i++) { s = fma((*qv)[i], kCache[base + i], s); }
  let wc = softmaxStep(st, s);
  for (var i = 0u; i < d; i++) { (*acc)[i] = fma(wc.x, vCache[base + i], (*acc)[i] * wc.y); }
}

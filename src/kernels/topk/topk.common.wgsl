// A running top-k of (score, id) pairs held by one invocation, best first: a higher score wins, an
// equal score goes to the lower id (so results do not depend on how the columns were split). NaN
// never beats anything. Empty slots hold (-FLT_MAX, NONE).
const MAX_K: u32 = 64u;
const NONE: u32 = 0xffffffffu;

var<private> topScore: array<f32, MAX_K>;
var<private> topId: array<u32, MAX_K>;

fn better(s: f32, id: u32, t: f32, tid: u32) -> bool {
  return s > t || (s == t && id < tid);
}

fn clearTop(k: u32) {
  for (var i = 0u; i < k; i++) { topScore[i] = bitcast<f32>(0xff7fffffu); topId[i] = NONE; }
}

fn offer(s: f32, id: u32, k: u32) {
  if (!better(s, id, topScore[k - 1u], topId[k - 1u])) { return; }
  var i = k - 1u;
  while (i > 0u && better(s, id, topScore[i - 1u], topId[i - 1u])) {
    topScore[i] = topScore[i - 1u];
    topId[i] = topId[i - 1u];
    i--;
  }
  topScore[i] = s;
  topId[i] = id;
}

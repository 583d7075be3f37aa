// LayerNorm of one row held in `out[base .. base + H)`, one workgroup per row (WG invocations):
// out = (v − mean) / sqrt(var + eps) · gamma + beta, var the biased variance, both over H (BERT's).
const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

fn rowSum(lid: u32, value: f32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier(); // everyone has read partial[0] before it is reused
  return total;
}

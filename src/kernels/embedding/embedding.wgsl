// Embedding gather for one vocabulary shard: out[t] = table[token[t] - rowStart] for the rows
// whose token falls in [rowStart, rowStart + rows). Large vocabularies are split into shards that
// each fit one storage binding; one dispatch per shard fills every row exactly once.

struct Params { T: u32, H: u32, rowStart: u32, rows: u32 }

// The table (binding 0) and its only read, tableAt(i) -> f32, come from embedding.ts: stored as f32, f16 or bf16.
@group(0) @binding(1) var<storage, read> rows: array<Row>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let t = gid.y;
  if (i >= p.H || t >= p.T) { return; }
  let token = rows[t].token;
  if (token < p.rowStart || token - p.rowStart >= p.rows) { return; }
  out[t * p.H + i] = tableAt((token - p.rowStart) * p.H + i);
}

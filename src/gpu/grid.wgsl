// The flat indices of a grid made by grid() (src/gpu/grid.ts): 65,535 workgroups per row, rows in y.
fn groupIndex(wid: vec3<u32>) -> u32 { return wid.x + wid.y * 65535u; }
fn invocationIndex(gid: vec3<u32>, workgroupSize: u32) -> u32 { return gid.x + gid.y * 65535u * workgroupSize; }

/**
 * Dispatch grids for one-dimensional work: `groups` workgroups laid out 65,535 per row (WebGPU's
 * per-dimension limit), rows stacked in y. WGSL recovers the flat index with grid.wgsl's
 * `groupIndex(wid)` / `invocationIndex(gid, size)`; the two sides are this file and that one.
 */
import gridSource from './grid.wgsl';

export const GROUPS_PER_ROW = 65535;

/** [x, y] workgroup counts covering `groups` workgroups. */
export function grid(groups: number): [number, number] {
  return [Math.min(groups, GROUPS_PER_ROW), Math.ceil(groups / GROUPS_PER_ROW)];
}

/** grid.wgsl, to put before a kernel's source. */
export const GRID_WGSL = gridSource;

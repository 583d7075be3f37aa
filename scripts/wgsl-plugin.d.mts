import type { Plugin } from 'rollup';
export function wgsl(): Plugin;

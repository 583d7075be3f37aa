/** WGSL sources are imported as strings (rollup and vitest both use scripts/wgsl-plugin.mjs). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}

// Rollup/Vite plugin: `import source from './op.wgsl'` gives the file's text as a string, so
// shaders live in real .wgsl files (editor support, line numbers in compile errors) and ship
// inside the bundle with no runtime fetch.
export function wgsl() {
  return {
    name: 'ig-search-wgsl',
    transform(code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: { mappings: '' } };
    },
  };
}

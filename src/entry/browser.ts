// Browsers and Web Workers use the default platform (navigator.gpu + fetch).
export * from '../index.js';

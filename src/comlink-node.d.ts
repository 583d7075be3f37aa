// comlink ships its Node adapter as an .mjs beside a .d.ts that TypeScript does not pair with it.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(nep: { on: unknown; off?: unknown; postMessage: unknown }): Endpoint;
}

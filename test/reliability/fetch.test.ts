import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IgSearchError, CausalLM, type Gpu } from '../../src/entry/node.js';

let server: Server;
let url: string;
beforeAll(async () => {
  // Answers the headers, then never sends the body: a stalled download.
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

describe('model and data URLs', () => {
  it('a server that stops sending is a FETCH_FAILED error naming the URL, not a hang', async () => {
    process.env['IG_SEARCH_FETCH_TIMEOUT_MS'] = '300';
    try {
      const error = await CausalLM.load(undefined as unknown as Gpu, `${url}/model`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IgSearchError);
      expect((error as IgSearchError).code).toBe('FETCH_FAILED');
      expect((error as IgSearchError).message).toMatch(new RegExp(`${url}/model/config\\.json: no data for 300 ms`));
    } finally {
      delete process.env['IG_SEARCH_FETCH_TIMEOUT_MS'];
    }
  });
});

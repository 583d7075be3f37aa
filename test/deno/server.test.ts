// `ig-search/server` in Deno (node:http through Deno's Node compatibility): served, queried with
// the package's HttpRetriever, closed.
import { Bm25Index, HttpRetriever, loadWasmCore } from '../../dist/deno.js';
import { serveRetrieval } from '../../dist/server.js';

Deno.test('the retrieval server answers HttpRetriever in Deno exactly as the index does, then closes', async () => {
  const core = await loadWasmCore();
  const corpus = await Deno.readTextFile(new URL('../../assets/demo-policy/corpus.jsonl', import.meta.url));
  const index = Bm25Index.fromJsonl(core, corpus);
  // A name the corpus holds: its first passage's title (a country every city of it names).
  const name = (JSON.parse(corpus.split('\n')[0]!) as { contents: string }).contents.split('\n')[0]!.replace(/"/g, '');
  const server = await serveRetrieval(index, { port: 0 });
  const queries = [name, 'company founded', 'film director'];
  const remote = await new HttpRetriever(server.url).search(queries, 3);
  const local = index.searchBatch(queries, 3);
  const ids = JSON.stringify(remote.map((hits) => hits.map((h) => [h.id, h.score])));
  if (ids !== JSON.stringify(local.map((hits) => hits.map((h) => [h.id, h.score])))) throw new Error(`server answered ${ids}`);
  if (remote[0]!.length !== 3) throw new Error('expected 3 documents');
  await server.close();
  index.free();
});

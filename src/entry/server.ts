/**
 * `ig-search/server` (Node and Deno: it needs `node:http`): the Search-R1-compatible retrieval
 * server over a BM25 index built with the main entry's `Bm25Index`, or over any local retriever
 * (dense, hybrid) through `sourceOfRetriever`.
 */
export { serveRetrieval, sourceOfRetriever, SERVER_DEFAULTS, type RetrievalSource, type RetrievalServer, type RetrievalServerOptions, type RetrievalServerStats } from '../retrieval/server.js';

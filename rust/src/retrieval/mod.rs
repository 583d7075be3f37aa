//! Retrieval over a passage corpus: an Okapi BM25 index and the seeded random-document sampler
//! that supplies IG's counterfactual documents, and TF-IDF similarity (StepSearch's step reward).

pub mod bm25;
pub mod exports;
pub mod format;
pub mod sampler;
pub mod tfidf;

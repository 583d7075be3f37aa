//! Okapi BM25 over a passage corpus (Search-R1 format: `{id, contents}`, title on the first line).
//!
//! score(q, d) = Σ_{t ∈ q} idf(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl)),
//! idf(t) = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))  (Lucene's always-positive idf).
//! Query terms count once per occurrence. Terms: maximal runs of Unicode letters/numbers,
//! lowercased. Defaults k1 = 0.9, b = 0.4 (Pyserini's, which Search-R1's BM25 retriever uses).

use crate::unicode::{is_letter, is_number};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    pub k1: f64,
    pub b: f64,
}

impl Params {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(format!("k1 must be finite and >= 0, got {}", self.k1));
        }
        if !(self.b.is_finite() && (0.0..=1.0).contains(&self.b)) {
            return Err(format!("b must be in [0, 1], got {}", self.b));
        }
        Ok(())
    }
}

/// Strings stored back to back, `offsets[i]..offsets[i+1]` each.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct StringTable {
    pub blob: String,
    pub offsets: Vec<u32>,
}

impl StringTable {
    pub fn from_iter<'a>(items: impl IntoIterator<Item = &'a str>) -> StringTable {
        let mut table = StringTable { blob: String::new(), offsets: vec![0] };
        for s in items {
            table.blob.push_str(s);
            table.offsets.push(table.blob.len() as u32);
        }
        table
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> &str {
        &self.blob[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// Calls `emit` with each term of `text`: maximal runs of letters/numbers, lowercased.
pub fn for_each_term(text: &str, mut emit: impl FnMut(&str)) {
    let mut term = String::new();
    for c in text.chars() {
        if is_letter(c) || is_number(c) {
            if c.is_ascii() {
                term.push(c.to_ascii_lowercase());
            } else {
                term.extend(c.to_lowercase());
            }
        } else if !term.is_empty() {
            emit(&term);
            term.clear();
        }
    }
    if !term.is_empty() {
        emit(&term);
    }
}

pub struct Bm25Index {
    pub params: Params,
    pub ids: StringTable,
    pub contents: StringTable,
    /// Term strings in term-id order.
    pub terms: StringTable,
    pub term_ids: HashMap<String, u32>,
    /// CSR postings: term t's (doc, tf) pairs are `postings_offsets[t]..postings_offsets[t+1]`,
    /// sorted by doc.
    pub postings_offsets: Vec<u32>,
    pub postings_docs: Vec<u32>,
    pub postings_tf: Vec<u32>,
    pub doc_len: Vec<u32>,
    pub avgdl: f64,
    scratch: RefCell<Vec<f64>>,
}

/// One search hit: document index and score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub doc: u32,
    pub score: f64,
}

impl Bm25Index {
    pub fn build(ids: StringTable, contents: StringTable, params: Params) -> Bm25Index {
        let n = contents.len();
        let mut term_ids: HashMap<String, u32> = HashMap::new();
        let mut term_list: Vec<String> = Vec::new();
        let mut doc_len = Vec::with_capacity(n);
        // (term, doc, tf) for every distinct term of every document, in document order.
        let mut triples: Vec<(u32, u32, u32)> = Vec::new();
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for d in 0..n {
            counts.clear();
            let mut len = 0u32;
            for_each_term(contents.get(d), |t| {
                let id = match term_ids.get(t) {
                    Some(&id) => id,
                    None => {
                        let id = term_list.len() as u32;
                        term_ids.insert(t.to_string(), id);
                        term_list.push(t.to_string());
                        id
                    }
                };
                *counts.entry(id).or_insert(0) += 1;
                len += 1;
            });
            doc_len.push(len);
            triples.extend(counts.iter().map(|(&t, &tf)| (t, d as u32, tf)));
        }
        // Counting sort by term keeps each term's postings in document order.
        let n_terms = term_list.len();
        let mut postings_offsets = vec![0u32; n_terms + 1];
        for &(t, _, _) in &triples {
            postings_offsets[t as usize + 1] += 1;
        }
        for t in 0..n_terms {
            postings_offsets[t + 1] += postings_offsets[t];
        }
        let mut cursor: Vec<u32> = postings_offsets[..n_terms].to_vec();
        let mut postings_docs = vec![0u32; triples.len()];
        let mut postings_tf = vec![0u32; triples.len()];
        for &(t, d, tf) in &triples {
            let at = cursor[t as usize] as usize;
            postings_docs[at] = d;
            postings_tf[at] = tf;
            cursor[t as usize] += 1;
        }
        let terms = StringTable::from_iter(term_list.iter().map(|s| s.as_str()));
        Bm25Index::assemble(params, ids, contents, terms, term_ids, postings_offsets, postings_docs, postings_tf, doc_len)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn assemble(
        params: Params,
        ids: StringTable,
        contents: StringTable,
        terms: StringTable,
        term_ids: HashMap<String, u32>,
        postings_offsets: Vec<u32>,
        postings_docs: Vec<u32>,
        postings_tf: Vec<u32>,
        doc_len: Vec<u32>,
    ) -> Bm25Index {
        let total: u64 = doc_len.iter().map(|&l| l as u64).sum();
        let avgdl = if doc_len.is_empty() { 0.0 } else { total as f64 / doc_len.len() as f64 };
        let scratch = RefCell::new(vec![0.0; doc_len.len()]);
        Bm25Index { params, ids, contents, terms, term_ids, postings_offsets, postings_docs, postings_tf, doc_len, avgdl, scratch }
    }

    pub fn len(&self) -> usize {
        self.doc_len.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn idf(&self, df: u32) -> f64 {
        let n = self.len() as f64;
        let df = df as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The `k` best documents for `query`, best first; ties go to the lower document index.
    /// Documents sharing no term with the query are never returned.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit> {
        let mut scores = self.scratch.borrow_mut();
        let mut touched: Vec<u32> = Vec::new();
        let Params { k1, b } = self.params;
        for_each_term(query, |t| {
            if let Some(&id) = self.term_ids.get(t) {
                let range = self.postings_offsets[id as usize] as usize..self.postings_offsets[id as usize + 1] as usize;
                let idf = self.idf(range.len() as u32);
                for p in range {
                    let d = self.postings_docs[p] as usize;
                    let tf = self.postings_tf[p] as f64;
                    let norm = k1 * (1.0 - b + b * self.doc_len[d] as f64 / self.avgdl);
                    if scores[d] == 0.0 {
                        touched.push(d as u32);
                    }
                    scores[d] += idf * tf * (k1 + 1.0) / (tf + norm);
                }
            }
        });
        let mut hits: Vec<Hit> = touched.iter().map(|&d| Hit { doc: d, score: scores[d as usize] }).collect();
        for &d in &touched {
            scores[d as usize] = 0.0;
        }
        let better = |a: &Hit, b: &Hit| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal).then(a.doc.cmp(&b.doc));
        if hits.len() > k && k > 0 {
            hits.select_nth_unstable_by(k - 1, better);
        }
        hits.truncate(k);
        hits.sort_unstable_by(better);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(docs: &[&str]) -> Bm25Index {
        let ids: Vec<String> = (0..docs.len()).map(|i| i.to_string()).collect();
        Bm25Index::build(StringTable::from_iter(ids.iter().map(|s| s.as_str())), StringTable::from_iter(docs.iter().copied()), Params { k1: 0.9, b: 0.4 })
    }

    #[test]
    fn terms_are_lowercased_letter_and_number_runs() {
        let mut terms = Vec::new();
        for_each_term("Élan-42, the CAT's café!", |t| terms.push(t.to_string()));
        assert_eq!(terms, ["élan", "42", "the", "cat", "s", "café"]);
    }

    #[test]
    fn score_is_the_okapi_formula_worked_by_hand() {
        // Two documents: "apple banana" (2 terms) and "banana cherry cherry" (3 terms); avgdl 2.5.
        let ix = index(&["apple banana", "banana cherry cherry"]);
        let hits = ix.search("cherry", 2);
        assert_eq!(hits.len(), 1); // only document 1 holds the term
        let idf = (1.0f64 + (2.0 - 1.0 + 0.5) / (1.0 + 0.5)).ln(); // ln 2
        let (k1, b) = (0.9, 0.4);
        let want = idf * 2.0 * (k1 + 1.0) / (2.0 + k1 * (1.0 - b + b * 3.0 / 2.5));
        assert_eq!(hits[0].doc, 1);
        assert!((hits[0].score - want).abs() < 1e-12, "{} vs {want}", hits[0].score);
        // A term in every document still has a positive idf (Lucene's form).
        assert!(ix.idf(2) > 0.0);
    }

    #[test]
    fn ties_go_to_the_earlier_passage_and_k_bounds_the_hits() {
        let ix = index(&["same words", "same words", "other"]);
        let hits = ix.search("same", 5);
        assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(ix.search("same", 1).len(), 1);
        assert!(ix.search("absent", 3).is_empty());
    }
}

//! TF-IDF vectors and cosine similarity over a BM25 index's corpus statistics: StepSearch's
//! measure of how well a retrieved document matches a gold supporting passage. Weights are
//! tf · idf with the smoothed idf ln((1 + N) / (1 + df)) + 1 (a term the corpus never saw has
//! df 0), terms as BM25 splits them.

use crate::retrieval::bm25::{for_each_term, Bm25Index};
use std::collections::HashMap;

/// A sparse, L2-normalised TF-IDF vector, keyed by term (terms outside the corpus by their text).
pub struct TfIdf(HashMap<String, f64>);

impl TfIdf {
    pub fn new(index: &Bm25Index, text: &str) -> TfIdf {
        let mut tf: HashMap<String, f64> = HashMap::new();
        for_each_term(text, |t| *tf.entry(t.to_string()).or_insert(0.0) += 1.0);
        let n = index.len() as f64;
        for (term, w) in tf.iter_mut() {
            let df = index.term_ids.get(term).map_or(0, |&id| index.postings_offsets[id as usize + 1] - index.postings_offsets[id as usize]) as f64;
            *w *= ((1.0 + n) / (1.0 + df)).ln() + 1.0;
        }
        let norm = tf.values().map(|w| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            for w in tf.values_mut() {
                *w /= norm;
            }
        }
        TfIdf(tf)
    }

    /// Cosine similarity (0 when either text has no terms).
    pub fn cosine(&self, other: &TfIdf) -> f64 {
        let (small, large) = if self.0.len() <= other.0.len() { (self, other) } else { (other, self) };
        small.0.iter().map(|(t, w)| w * large.0.get(t).copied().unwrap_or(0.0)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::bm25::{Params, StringTable};

    #[test]
    fn cosine_worked_by_hand() {
        let docs = ["apple banana", "banana cherry", "cherry"];
        let ids: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        let ix = Bm25Index::build(StringTable::from_iter(ids.iter().map(|s| s.as_str())), StringTable::from_iter(docs.iter().copied()), Params { k1: 0.9, b: 0.4 });
        // N = 3: idf(apple) = ln(4/2) + 1, idf(banana) = idf(cherry) = ln(4/3) + 1.
        let (a, b) = ((2.0f64).ln() + 1.0, (4.0f64 / 3.0).ln() + 1.0);
        // "apple banana" · "banana cherry" = b² / (sqrt(a² + b²) · sqrt(2) b)
        let expected = b * b / ((a * a + b * b).sqrt() * (2.0f64).sqrt() * b);
        let got = TfIdf::new(&ix, "Apple, banana!").cosine(&TfIdf::new(&ix, "banana cherry"));
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        assert!((TfIdf::new(&ix, "cherry cherry").cosine(&TfIdf::new(&ix, "cherry")) - 1.0).abs() < 1e-12);
        assert_eq!(TfIdf::new(&ix, "").cosine(&TfIdf::new(&ix, "cherry")), 0.0);
    }
}

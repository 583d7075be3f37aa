//! The counterfactual for IG: `count` distinct documents drawn uniformly (seeded) from the
//! corpus, skipping documents that contain a gold answer (after SQuAD normalisation, as whole
//! words) and documents the caller excludes (e.g. the ones actually retrieved).

use crate::advantage::reward::normalize_answer;
use crate::retrieval::bm25::Bm25Index;

/// SplitMix64: tiny, fast, and good enough to pick documents; the same seed gives the same draw
/// on every runtime.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift on 32 random bits.
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }
}

fn contains_answer(doc: &str, answers: &[String]) -> bool {
    if answers.is_empty() {
        return false;
    }
    let padded = format!(" {} ", normalize_answer(doc));
    answers.iter().any(|a| padded.contains(&format!(" {a} ")))
}

/// Up to `count` distinct eligible document indices. Fewer only when fewer are eligible.
pub fn sample_random_documents(index: &Bm25Index, count: usize, seed: u64, golds: &[&str], exclude: &[u32]) -> Vec<u32> {
    let n = index.len() as u32;
    let answers: Vec<String> = golds.iter().map(|g| normalize_answer(g)).filter(|g| !g.is_empty()).collect();
    let mut chosen: Vec<u32> = Vec::with_capacity(count);
    if n == 0 || count == 0 {
        return chosen;
    }
    let eligible = |d: u32, chosen: &[u32]| !chosen.contains(&d) && !exclude.contains(&d) && !contains_answer(index.contents.get(d as usize), &answers);
    let mut rng = SplitMix64::new(seed);
    // Rejection sampling is exact and fast while most documents are eligible...
    let mut attempts = 0;
    while chosen.len() < count && attempts < 32 * count + 64 {
        let d = rng.below(n);
        if eligible(d, &chosen) {
            chosen.push(d);
        }
        attempts += 1;
    }
    // ...and a seeded sweep finishes the job when they are not (tiny corpora, common answers).
    if chosen.len() < count {
        let start = rng.below(n);
        for i in 0..n {
            let d = (start + i) % n;
            if eligible(d, &chosen) {
                chosen.push(d);
                if chosen.len() == count {
                    break;
                }
            }
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::bm25::{Bm25Index, Params, StringTable};

    fn corpus(n: usize) -> Bm25Index {
        let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let docs: Vec<String> = (0..n).map(|i| if i % 5 == 0 { format!("\"T{i}\"\nParis is here") } else { format!("\"T{i}\"\nnothing {i}") }).collect();
        Bm25Index::build(StringTable::from_iter(ids.iter().map(|s| s.as_str())), StringTable::from_iter(docs.iter().map(|s| s.as_str())), Params { k1: 0.9, b: 0.4 })
    }

    #[test]
    fn seeded_distinct_and_never_a_gold_answer_or_an_excluded_document() {
        let ix = corpus(40);
        let a = sample_random_documents(&ix, 6, 7, &["paris"], &[1, 2, 3]);
        assert_eq!(a, sample_random_documents(&ix, 6, 7, &["paris"], &[1, 2, 3])); // same seed, same draw
        assert_ne!(a, sample_random_documents(&ix, 6, 8, &["paris"], &[1, 2, 3]));
        assert_eq!(a.len(), 6);
        let mut unique = a.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 6);
        for d in &a {
            assert!(d % 5 != 0, "document {d} contains the answer");
            assert!(![1, 2, 3].contains(d));
        }
    }

    #[test]
    fn a_small_corpus_gives_every_eligible_document_and_no_more() {
        let ix = corpus(10); // 0 and 5 hold the answer
        let mut all = sample_random_documents(&ix, 50, 1, &["Paris"], &[9]);
        all.sort();
        assert_eq!(all, [1, 2, 3, 4, 6, 7, 8]);
    }
}

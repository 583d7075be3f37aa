//! A byte-level BPE trainer: pre-tokenize with the chosen pattern, count words, then merge the
//! most frequent adjacent pair until the vocabulary is full or no pair occurs `min_frequency`
//! times. Ties go to the pair of smaller ids, so training is deterministic. Pair counts are kept
//! incrementally (with an index from pair to the words containing it), so each merge only revisits
//! the words it changes.

use crate::tokenizer::pretokenize::{split, Pattern};
use std::collections::{BTreeSet, HashMap, HashSet};

pub struct Trained {
    /// Byte strings of the learned tokens, after the 256 single bytes, in id order.
    pub tokens: Vec<Vec<u8>>,
    /// (left, right) ids of each merge, ids counted from the first byte token (0..256 are bytes).
    pub merges: Vec<(u32, u32)>,
}

pub fn train(texts: &[&str], pattern: Option<Pattern>, merges_wanted: usize, min_frequency: u64) -> Trained {
    let mut counts: HashMap<&[u8], u64> = HashMap::new();
    for text in texts {
        match pattern {
            Some(p) => split(p, text, |s, e| *counts.entry(text[s..e].as_bytes()).or_insert(0) += 1),
            None => *counts.entry(text.as_bytes()).or_insert(0) += 1,
        }
    }
    let mut words: Vec<(Vec<u32>, u64)> = counts.into_iter().map(|(w, c)| (w.iter().map(|&b| b as u32).collect(), c)).collect();
    words.sort(); // deterministic word order regardless of hash iteration
    let mut pair_counts: HashMap<(u32, u32), u64> = HashMap::new();
    let mut where_: HashMap<(u32, u32), HashSet<usize>> = HashMap::new();
    for (i, (w, c)) in words.iter().enumerate() {
        for p in w.windows(2) {
            *pair_counts.entry((p[0], p[1])).or_insert(0) += c;
            where_.entry((p[0], p[1])).or_default().insert(i);
        }
    }
    // Ordered set of (count, Reverse(pair)) to find the best pair quickly and deterministically.
    let mut ranked: BTreeSet<(u64, std::cmp::Reverse<(u32, u32)>)> = pair_counts.iter().map(|(&p, &c)| (c, std::cmp::Reverse(p))).collect();
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    let mut merges = Vec::new();
    let mut bytes_of: Vec<Vec<u8>> = (0..256u32).map(|b| vec![b as u8]).collect();
    while merges.len() < merges_wanted {
        let (count, pair) = match ranked.iter().next_back() {
            Some(&(count, std::cmp::Reverse(pair))) => (count, pair),
            None => break,
        };
        if count < min_frequency.max(1) {
            break;
        }
        let new_id = bytes_of.len() as u32;
        let mut merged = bytes_of[pair.0 as usize].clone();
        merged.extend_from_slice(&bytes_of[pair.1 as usize]);
        bytes_of.push(merged.clone());
        tokens.push(merged);
        merges.push(pair);
        let mut affected: Vec<usize> = where_.remove(&pair).map(|s| s.into_iter().collect()).unwrap_or_default();
        affected.sort_unstable();
        let mut delta: HashMap<(u32, u32), i64> = HashMap::new();
        for i in affected {
            let (word, c) = &mut words[i];
            let c = *c as i64;
            for p in word.windows(2) {
                *delta.entry((p[0], p[1])).or_insert(0) -= c;
            }
            let mut merged_word = Vec::with_capacity(word.len());
            let mut k = 0;
            while k < word.len() {
                if k + 1 < word.len() && word[k] == pair.0 && word[k + 1] == pair.1 {
                    merged_word.push(new_id);
                    k += 2;
                } else {
                    merged_word.push(word[k]);
                    k += 1;
                }
            }
            *word = merged_word;
            for p in word.windows(2) {
                *delta.entry((p[0], p[1])).or_insert(0) += c;
                where_.entry((p[0], p[1])).or_default().insert(i);
            }
        }
        for (p, d) in delta {
            if d == 0 {
                continue;
            }
            let old = pair_counts.get(&p).copied().unwrap_or(0);
            let new = (old as i64 + d).max(0) as u64;
            ranked.remove(&(old, std::cmp::Reverse(p)));
            if new > 0 {
                pair_counts.insert(p, new);
                ranked.insert((new, std::cmp::Reverse(p)));
            } else {
                pair_counts.remove(&p);
                where_.remove(&p);
            }
        }
    }
    Trained { tokens, merges }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_the_most_frequent_pair_first_and_stops_at_min_frequency() {
        // Without a pattern each text is one word: "ab" 6 times, "abc" 3 times, "xy" once.
        let mut texts = vec!["ab"; 6];
        texts.extend(["abc"; 3]);
        texts.push("xy");
        let t = train(&texts, None, 10, 2);
        assert_eq!(t.tokens.len(), 2);
        assert_eq!(t.tokens[0], b"ab");
        assert_eq!(t.merges[0], (b'a' as u32, b'b' as u32));
        assert_eq!(t.tokens[1], b"abc");
        assert_eq!(t.merges[1], (256, b'c' as u32)); // the new token "ab" (id 256) + "c"
        assert!(!t.tokens.iter().any(|tok| tok == b"xy")); // seen once: under min_frequency
    }

    #[test]
    fn is_deterministic() {
        let texts = ["the cat sat on the mat", "the dog sat on the log"];
        let a = train(&texts, None, 20, 1);
        let b = train(&texts, None, 20, 1);
        assert_eq!(a.tokens, b.tokens);
        assert_eq!(a.merges, b.merges);
    }
}

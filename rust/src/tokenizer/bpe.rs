//! The tokenizer proper: added tokens, pre-tokenization, byte-level BPE, decoding.

use crate::tokenizer::added::{AddedToken, AddedVocab};
use crate::tokenizer::bytes::{byte_to_char, char_to_byte};
use crate::tokenizer::pretokenize::{split, Pattern};
use std::collections::{BinaryHeap, HashMap};

pub struct Tokenizer {
    /// Token strings by id (byte-level alphabet); None for ids without a vocab entry.
    pub tokens: Vec<Option<String>>,
    pub vocab: HashMap<String, u32>,
    /// (left, right) → (rank, merged id).
    pub merges: HashMap<(u32, u32), (u32, u32)>,
    pub byte_ids: [u32; 256],
    /// Bytes each vocabulary id stands for (for offsets).
    token_bytes: Vec<u32>,
    pub pattern: Option<Pattern>,
    pub add_prefix_space: bool,
    pub ignore_merges: bool,
    pub added: AddedVocab,
    cache: std::cell::RefCell<HashMap<String, Vec<u32>>>,
}

const CACHE_LIMIT: usize = 50_000;
const CACHE_MAX_PIECE: usize = 64;

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    // BinaryHeap is a max-heap: compare on negated (rank, position) via Reverse below.
    rank: std::cmp::Reverse<(u32, usize)>,
    left: usize,
    right_id: u32,
    left_id: u32,
}

fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

impl Tokenizer {
    pub fn new(
        tokens: Vec<Option<String>>,
        merges: &[(u32, u32, u32)],
        pattern: Option<Pattern>,
        add_prefix_space: bool,
        ignore_merges: bool,
        added: Vec<AddedToken>,
    ) -> Result<Tokenizer, String> {
        let mut vocab = HashMap::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            if let Some(t) = t {
                vocab.insert(t.clone(), id as u32);
            }
        }
        let table = byte_to_char();
        let mut byte_ids = [0u32; 256];
        for b in 0..256 {
            match vocab.get(&table[b].to_string()) {
                Some(&id) => byte_ids[b] = id,
                None => return Err(format!("model.vocab lacks the byte-level token for byte 0x{b:02x} ({:?})", table[b])),
            }
        }
        let token_bytes = tokens
            .iter()
            .map(|t| t.as_ref().map_or(0, |t| t.chars().map(|c| if char_to_byte(c).is_some() { 1 } else { c.len_utf8() as u32 }).sum()))
            .collect();
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, &(a, b, m)) in merges.iter().enumerate() {
            merge_map.entry((a, b)).or_insert((rank as u32, m));
        }
        Ok(Tokenizer {
            tokens,
            vocab,
            merges: merge_map,
            byte_ids,
            token_bytes,
            pattern,
            add_prefix_space,
            ignore_merges,
            added: AddedVocab::new(added),
            cache: std::cell::RefCell::new(HashMap::new()),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len().max(self.added.id_bound())
    }

    /// Encodes `text`, appending ids to `out`; `allow_special == false` treats special added
    /// tokens as plain text. With `spans`, also appends each token's `(start, end)` byte range in
    /// `text` (a token holding part of a character gets that character's bytes).
    pub fn encode_into(&self, text: &str, allow_special: bool, out: &mut Vec<u32>, spans: Option<&mut Vec<(u32, u32)>>) {
        // Both closures push in text order; they share `out` and `spans` through a RefCell.
        let sink = std::cell::RefCell::new((out, spans));
        self.added.split(
            text,
            allow_special,
            |start, end| {
                let (out, spans) = &mut *sink.borrow_mut();
                self.encode_segment(text, start, end, out, spans.as_deref_mut());
            },
            |id, start, end| {
                let (out, spans) = &mut *sink.borrow_mut();
                out.push(id);
                if let Some(spans) = spans.as_deref_mut() {
                    spans.push((start as u32, end as u32));
                }
            },
        );
    }

    /// Encodes `full[start..end]`; spans are byte ranges in `full`.
    fn encode_segment(&self, full: &str, start: usize, end: usize, out: &mut Vec<u32>, mut spans: Option<&mut Vec<(u32, u32)>>) {
        let text = &full[start..end];
        if text.is_empty() {
            return;
        }
        let owned;
        let (text, shift) = if self.add_prefix_space && !text.starts_with(' ') {
            owned = format!(" {text}");
            (owned.as_str(), 1) // the added space belongs to no input byte
        } else {
            (text, 0)
        };
        let mut piece = |s: usize, e: usize| {
            let first = out.len();
            self.encode_piece(&text[s..e], out);
            if let Some(spans) = spans.as_deref_mut() {
                // Byte ranges in `text` (which may carry the added space) → ranges in `full`.
                let body = text.len() - shift;
                let to_full = |x: usize| start + (x.max(shift) - shift).min(body);
                let mut at = s;
                for &id in &out[first..] {
                    let len = self.token_bytes.get(id as usize).copied().unwrap_or(0) as usize;
                    spans.push((floor_char(full, to_full(at)) as u32, ceil_char(full, to_full(at + len)) as u32));
                    at += len;
                }
            }
        };
        match self.pattern {
            Some(p) => split(p, text, |s, e| piece(s, e)),
            None => piece(0, text.len()),
        }
    }

    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) {
        if piece.len() <= CACHE_MAX_PIECE {
            if let Some(ids) = self.cache.borrow().get(piece) {
                out.extend_from_slice(ids);
                return;
            }
        }
        let start = out.len();
        if self.ignore_merges {
            let table = byte_to_char();
            let mapped: String = piece.bytes().map(|b| table[b as usize]).collect();
            if let Some(&id) = self.vocab.get(&mapped) {
                out.push(id);
                self.remember(piece, &out[start..]);
                return;
            }
        }
        self.bpe(piece.as_bytes(), out);
        self.remember(piece, &out[start..]);
    }

    fn remember(&self, piece: &str, ids: &[u32]) {
        if piece.len() <= CACHE_MAX_PIECE {
            let mut cache = self.cache.borrow_mut();
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(piece.to_string(), ids.to_vec());
        }
    }

    /// Byte-level BPE with a heap of candidate merges over a linked list of symbols: always the
    /// lowest-rank pair first, leftmost among equal ranks — O(n log n) even for long pieces.
    fn bpe(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let n = bytes.len();
        let mut ids: Vec<u32> = bytes.iter().map(|&b| self.byte_ids[b as usize]).collect();
        if n == 1 {
            out.push(ids[0]);
            return;
        }
        let mut next: Vec<usize> = (1..=n).collect(); // n = end
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Candidate>, ids: &[u32], left: usize, right: usize| {
            if let Some(&(rank, _)) = self.merges.get(&(ids[left], ids[right])) {
                heap.push(Candidate { rank: std::cmp::Reverse((rank, left)), left, left_id: ids[left], right_id: ids[right] });
            }
        };
        for i in 0..n - 1 {
            push(&mut heap, &ids, i, i + 1);
        }
        while let Some(c) = heap.pop() {
            let left = c.left;
            let right = next[left];
            // Stale candidates: a side was merged away or changed since this was pushed.
            if !alive[left] || right >= n || ids[left] != c.left_id || ids[right] != c.right_id {
                continue;
            }
            let (_, merged) = self.merges[&(c.left_id, c.right_id)];
            ids[left] = merged;
            alive[right] = false;
            next[left] = next[right];
            if next[left] < n {
                prev[next[left]] = left;
            }
            if prev[left] != usize::MAX {
                push(&mut heap, &ids, prev[left], left);
            }
            if next[left] < n {
                push(&mut heap, &ids, left, next[left]);
            }
        }
        let mut i = 0;
        while i < n {
            out.push(ids[i]);
            i = next[i];
        }
    }

    /// Bytes of the text `ids` stand for; unknown ids are reported by the caller beforehand.
    pub fn decode_bytes(&self, ids: &[u32], skip_special: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            if let Some(t) = self.added.get(id) {
                if !(skip_special && t.special) {
                    out.extend_from_slice(t.content.as_bytes());
                }
                continue;
            }
            if let Some(Some(token)) = self.tokens.get(id as usize) {
                for c in token.chars() {
                    match char_to_byte(c) {
                        Some(b) => out.push(b),
                        None => {
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
            }
        }
        out
    }

    pub fn is_known(&self, id: u32) -> bool {
        self.added.get(id).is_some() || matches!(self.tokens.get(id as usize), Some(Some(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-level vocabulary (id b = byte b) plus the given merges, in rank order: (left, right) → next id.
    fn tokenizer(merges: &[(&str, &str)]) -> Tokenizer {
        let table = byte_to_char();
        let mut tokens: Vec<Option<String>> = (0..256).map(|b| Some(table[b].to_string())).collect();
        let mut list = Vec::new();
        for (left, right) in merges {
            let id = |s: &str, tokens: &[Option<String>]| tokens.iter().position(|t| t.as_deref() == Some(s)).unwrap() as u32;
            let (l, r) = (id(left, &tokens), id(right, &tokens));
            list.push((l, r, tokens.len() as u32));
            tokens.push(Some(format!("{left}{right}")));
        }
        Tokenizer::new(tokens, &list, None, false, false, Vec::new()).unwrap()
    }

    fn encode(t: &Tokenizer, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        t.encode_into(text, false, &mut out, None);
        out
    }

    #[test]
    fn merges_apply_by_rank_and_decode_gives_the_bytes_back() {
        let t = tokenizer(&[("a", "b"), ("ab", "c"), ("b", "c")]);
        assert_eq!(encode(&t, "abcab"), [257, 256]); // (a,b) outranks (b,c), then (ab,c)
        assert_eq!(t.decode_bytes(&[257, 256], false), b"abcab");
        // The other order: (b,c) first leaves "a" + "bc", which no merge joins.
        let u = tokenizer(&[("b", "c"), ("a", "b"), ("a", "bc")]);
        assert_eq!(encode(&u, "abc"), [258]); // a + bc is itself a merge here
        let v = tokenizer(&[("b", "c"), ("a", "b")]);
        assert_eq!(encode(&v, "abc"), [b'a' as u32, 256]);
    }

    #[test]
    fn every_byte_has_a_token_and_unknown_vocabularies_are_refused() {
        let t = tokenizer(&[]);
        let text = "é\u{0}\u{7f}";
        assert_eq!(encode(&t, text), text.bytes().map(|b| b as u32).collect::<Vec<_>>());
        let missing: Vec<Option<String>> = (0..255).map(|b| Some(byte_to_char()[b].to_string())).collect();
        assert!(Tokenizer::new(missing, &[], None, false, false, Vec::new()).is_err()); // byte 0xff has no token
    }
}

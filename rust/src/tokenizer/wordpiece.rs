//! WordPiece tokenizers (the BERT family: BERT, e5, bge, MiniLM) from `tokenizer.json`:
//! `BertNormalizer` → `BertPreTokenizer` (or whitespace splitting, or none) → greedy longest-match
//! WordPiece, with the added tokens split out first. Semantics follow Hugging Face `tokenizers`
//! (the library these models' `tokenizer.json` files were written by):
//! - clean_text drops U+0000, U+FFFD and every control, format and private-use character but tab,
//!   LF and CR (unassigned code points stay, as in HF), and turns whitespace into a space;
//! - handle_chinese_chars puts spaces around the CJK ideograph blocks HF lists (its ranges, including
//!   its U+2B920 where the original BERT code has U+2B820);
//! - strip_accents (on by default when lowercasing) is NFD without the `\p{Mn}` marks, per character
//!   (canonical reordering only moves marks this step removes), then lowercase is Rust's per-character
//!   `to_lowercase` (HF's: no final-sigma rule);
//! - a word longer than `max_input_chars_per_word` characters, or one that no sequence of vocabulary
//!   pieces covers, becomes the unknown token.

use crate::tokenizer::added::{AddedToken, AddedVocab};
use crate::unicode;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BertNormalizer {
    pub clean_text: bool,
    pub handle_chinese_chars: bool,
    pub strip_accents: bool,
    pub lowercase: bool,
}

/// HF's `is_chinese_char`: the CJK ideograph blocks BERT spaces out.
pub fn is_chinese_char(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn is_bert_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_bert_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && unicode::is_other(c)
}

/// BertPreTokenizer's punctuation: ASCII punctuation (symbols like `$` and `+` included) or `\p{P}`.
pub fn is_bert_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || unicode::is_punctuation(c)
}

impl BertNormalizer {
    pub fn normalize(&self, text: &str) -> String {
        self.normalize_aligned(text, None)
    }

    /// `normalize`, and with `origin` the byte span in `text` of the character each byte of the
    /// result came from (`origin.len()` is the result's length).
    pub fn normalize_aligned(&self, text: &str, mut origin: Option<&mut Vec<(u32, u32)>>) -> String {
        let mut out = String::with_capacity(text.len() + 8);
        let mut stripped = String::new();
        for (at, c) in text.char_indices() {
            self.push_normalized(c, &mut out, &mut stripped);
            if let Some(origin) = origin.as_deref_mut() {
                origin.resize(out.len(), (at as u32, (at + c.len_utf8()) as u32));
            }
        }
        out
    }

    fn push_normalized(&self, c: char, out: &mut String, stripped: &mut String) {
        if self.clean_text {
            if c == '\0' || c == '\u{fffd}' || is_bert_control(c) {
                return;
            }
            if is_bert_whitespace(c) {
                return out.push(' ');
            }
        }
        let spaced = self.handle_chinese_chars && is_chinese_char(c);
        if spaced {
            out.push(' ');
        }
        stripped.clear();
        if self.strip_accents {
            unicode::push_unaccented(c, stripped);
        } else {
            stripped.push(c);
        }
        for s in stripped.chars() {
            if self.lowercase {
                out.extend(s.to_lowercase());
            } else {
                out.push(s);
            }
        }
        if spaced {
            out.push(' ');
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PreTokenizer {
    /// Whitespace-separated words, each punctuation character a word of its own.
    Bert,
    /// Whitespace-separated words only.
    WhitespaceSplit,
    /// None: the whole (normalized) text is one word.
    None,
}

/// The words of `text` as byte ranges.
fn words(pre: PreTokenizer, text: &str, mut emit: impl FnMut(usize, usize)) {
    if pre == PreTokenizer::None {
        if !text.is_empty() {
            emit(0, text.len());
        }
        return;
    }
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() || (pre == PreTokenizer::Bert && is_bert_punctuation(c)) {
            if let Some(s) = start.take() {
                emit(s, i);
            }
            if !c.is_whitespace() {
                emit(i, i + c.len_utf8());
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        emit(s, text.len());
    }
}

pub struct WordPieceTokenizer {
    pub tokens: Vec<Option<String>>,
    vocab: HashMap<String, u32>,
    pub unk: u32,
    pub prefix: String,
    pub max_input_chars_per_word: usize,
    pub normalizer: Option<BertNormalizer>,
    pub pre_tokenizer: PreTokenizer,
    pub added: AddedVocab,
    /// The decoder's cleanup (spaces before punctuation and in English contractions removed).
    pub cleanup: bool,
}

impl WordPieceTokenizer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(tokens: Vec<Option<String>>, unk_token: &str, prefix: &str, max_input_chars_per_word: usize, normalizer: Option<BertNormalizer>, pre_tokenizer: PreTokenizer, added: Vec<AddedToken>, cleanup: bool) -> Result<WordPieceTokenizer, String> {
        let mut vocab = HashMap::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            if let Some(t) = t {
                vocab.insert(t.clone(), id as u32);
            }
        }
        let unk = *vocab.get(unk_token).ok_or_else(|| format!("model.unk_token {unk_token:?} is not in model.vocab"))?;
        Ok(WordPieceTokenizer { tokens, vocab, unk, prefix: prefix.to_string(), max_input_chars_per_word, normalizer, pre_tokenizer, added: AddedVocab::new(added), cleanup })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len().max(self.added.id_bound())
    }

    pub fn is_known(&self, id: u32) -> bool {
        self.added.get(id).is_some() || matches!(self.tokens.get(id as usize), Some(Some(_)))
    }

    /// Greedy longest-match-first pieces of one word, with each piece's byte range in `word` pushed
    /// to `pieces`; the unknown token (the whole word) when it cannot be covered.
    fn word(&self, word: &str, out: &mut Vec<u32>, key: &mut String, pieces: &mut Vec<(usize, usize)>) {
        pieces.clear();
        if word.chars().count() > self.max_input_chars_per_word {
            pieces.push((0, word.len()));
            return out.push(self.unk);
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                key.clear();
                if start > 0 {
                    key.push_str(&self.prefix);
                }
                key.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(key.as_str()) {
                    break Some(id);
                }
                end -= word[start..end].chars().next_back().unwrap().len_utf8();
                if end == start {
                    break None;
                }
            };
            match found {
                Some(id) => {
                    out.push(id);
                    pieces.push((start, end));
                }
                None => {
                    out.truncate(first);
                    pieces.clear();
                    pieces.push((0, word.len()));
                    return out.push(self.unk);
                }
            }
            start = end;
        }
    }

    /// Encodes `full[start..end]`; spans are byte ranges in `full` (a piece of a normalized word
    /// covers the original characters its normalized bytes came from).
    fn encode_segment(&self, full: &str, start: usize, end: usize, out: &mut Vec<u32>, mut spans: Option<&mut Vec<(u32, u32)>>) {
        let raw = &full[start..end];
        let mut origin = Vec::new();
        let normalized;
        let text = match &self.normalizer {
            Some(n) => {
                normalized = n.normalize_aligned(raw, spans.is_some().then_some(&mut origin));
                normalized.as_str()
            }
            None => raw,
        };
        let mut key = String::new();
        let mut pieces = Vec::new();
        words(self.pre_tokenizer, text, |a, b| {
            self.word(&text[a..b], out, &mut key, &mut pieces);
            if let Some(spans) = spans.as_deref_mut() {
                for &(s, e) in &pieces {
                    let (s, e) = (a + s, a + e);
                    let (from, to) = if self.normalizer.is_some() { (origin[s].0, origin[e - 1].1) } else { (s as u32, e as u32) };
                    spans.push((start as u32 + from, start as u32 + to));
                }
            }
        });
    }

    /// Ids of `text`; with `spans`, each token's byte range in `text` (added tokens cover their match).
    pub fn encode_into(&self, text: &str, allow_special: bool, out: &mut Vec<u32>, spans: Option<&mut Vec<(u32, u32)>>) {
        let sink = std::cell::RefCell::new((out, spans));
        self.added.split(
            text,
            allow_special,
            |s, e| {
                let (out, spans) = &mut *sink.borrow_mut();
                self.encode_segment(text, s, e, out, spans.as_deref_mut());
            },
            |id, s, e| {
                let (out, spans) = &mut *sink.borrow_mut();
                out.push(id);
                if let Some(spans) = spans.as_deref_mut() {
                    spans.push((s as u32, e as u32));
                }
            },
        );
    }

    /// HF's WordPiece decoder: pieces joined by spaces, continuation pieces glued to the one before.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let mut out = String::new();
        let mut first = true;
        for &id in ids {
            let piece = match self.added.get(id) {
                Some(t) if skip_special && t.special => continue,
                Some(t) => t.content.as_str(),
                None => match self.tokens.get(id as usize) {
                    Some(Some(t)) => t.as_str(),
                    _ => continue,
                },
            };
            match piece.strip_prefix(self.prefix.as_str()).filter(|_| !first && !self.prefix.is_empty()) {
                Some(rest) => out.push_str(rest),
                None => {
                    if !first {
                        out.push(' ');
                    }
                    out.push_str(piece);
                }
            }
            first = false;
        }
        if self.cleanup {
            for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
                out = out.replace(from, to);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(words: &[&str], normalizer: Option<BertNormalizer>, max: usize) -> WordPieceTokenizer {
        let tokens = words.iter().map(|w| Some(w.to_string())).collect();
        let added = vec![AddedToken { content: "[CLS]".into(), id: 1, special: true, ..Default::default() }];
        WordPieceTokenizer::new(tokens, "[UNK]", "##", max, normalizer, PreTokenizer::Bert, added, true).unwrap()
    }

    fn encode(t: &WordPieceTokenizer, text: &str, special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        t.encode_into(text, special, &mut out, None);
        out
    }

    const UNCASED: BertNormalizer = BertNormalizer { clean_text: true, handle_chinese_chars: true, strip_accents: true, lowercase: true };

    #[test]
    fn normalizer_steps() {
        assert_eq!(UNCASED.normalize("Héllo\tWÖRLD\u{0}\u{200b}\u{fffd}!"), "hello world!");
        assert_eq!(UNCASED.normalize("中文ab"), " 中  文 ab");
        assert_eq!(UNCASED.normalize("ΟΔΟΣ İ"), "οδοσ i"); // per-character lowercase; İ loses its dot with the accent
        assert_eq!(UNCASED.normalize("\u{20000}\u{2b820}\u{2b920}"), " \u{20000} \u{2b820} \u{2b920} "); // HF's ranges, astral ones too
        let cased = BertNormalizer { clean_text: true, handle_chinese_chars: true, strip_accents: false, lowercase: false };
        assert_eq!(cased.normalize("Héllo\u{378}\u{e000}"), "Héllo\u{378}"); // unassigned U+0378 stays (as in HF), private use goes
    }

    #[test]
    fn pieces_longest_first_unknown_words_and_punctuation() {
        let t = tokenizer(&["[UNK]", "[CLS]", "un", "##aff", "##able", "aff", "##a", ",", "runn", "##ing", "!"], Some(UNCASED), 10);
        assert_eq!(encode(&t, "Unaffable, running!", false), [2, 3, 4, 7, 8, 9, 10]);
        assert_eq!(encode(&t, "unaffx", false), [0]); // "##x" is missing: the whole word is unknown
        assert_eq!(encode(&t, "unaffableunaff", false), [0]); // 14 chars > 10
        assert_eq!(encode(&t, "[CLS] un", true), [1, 2]);
        assert_eq!(encode(&t, "[CLS]", false), [0, 0, 0]); // as text: "[", "cls", "]", none in the vocabulary
        assert_eq!(t.decode(&[1, 2, 3, 4, 7, 8, 9, 10], true), "unaffable, running!");
    }

    #[test]
    fn a_missing_unknown_token_is_refused() {
        let tokens = vec![Some("a".to_string())];
        assert!(WordPieceTokenizer::new(tokens, "[UNK]", "##", 100, None, PreTokenizer::Bert, Vec::new(), true).is_err());
    }
}

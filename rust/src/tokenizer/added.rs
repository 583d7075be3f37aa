//! Added tokens (`added_tokens` of tokenizer.json): matched leftmost-longest on the raw text before
//! any model runs, with lstrip / rstrip / single_word as Hugging Face applies them. Shared by the
//! byte-level BPE and the WordPiece tokenizers.

use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct AddedToken {
    pub content: String,
    pub id: u32,
    pub special: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    pub single_word: bool,
}

pub struct AddedVocab {
    pub tokens: Vec<AddedToken>,
    /// Added tokens by first char, longest first (leftmost-longest matching).
    by_first: HashMap<char, Vec<usize>>,
    by_id: HashMap<u32, usize>,
}

impl AddedVocab {
    pub fn new(tokens: Vec<AddedToken>) -> AddedVocab {
        let mut by_first: HashMap<char, Vec<usize>> = HashMap::new();
        let mut by_id = HashMap::new();
        for (i, t) in tokens.iter().enumerate() {
            if let Some(c) = t.content.chars().next() {
                by_first.entry(c).or_default().push(i);
            }
            by_id.insert(t.id, i);
        }
        for list in by_first.values_mut() {
            list.sort_by_key(|&i| std::cmp::Reverse(tokens[i].content.len()));
        }
        AddedVocab { tokens, by_first, by_id }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// One past the largest added id (0 when there are none).
    pub fn id_bound(&self) -> usize {
        self.tokens.iter().map(|t| t.id as usize + 1).max().unwrap_or(0)
    }

    pub fn get(&self, id: u32) -> Option<&AddedToken> {
        self.by_id.get(&id).map(|&i| &self.tokens[i])
    }

    /// Leftmost-longest added token starting at byte `at`, honouring single_word; returns
    /// (token index, end of its content).
    fn at(&self, text: &str, at: usize) -> Option<(usize, usize)> {
        let c = text[at..].chars().next()?;
        let list = self.by_first.get(&c)?;
        for &i in list {
            let t = &self.tokens[i];
            if text[at..].starts_with(t.content.as_str()) {
                let end = at + t.content.len();
                if t.single_word {
                    let before = text[..at].chars().next_back().map_or(false, crate::unicode::is_word);
                    let after = text[end..].chars().next().map_or(false, crate::unicode::is_word);
                    if before || after {
                        continue;
                    }
                }
                return Some((i, end));
            }
        }
        None
    }

    /// Splits `text` on its added tokens (special ones only when `allow_special`): `segment(start,
    /// end)` for each stretch of plain text between them, `token(id, start, end)` for each added
    /// token, in order. lstrip / rstrip swallow the whitespace next to their token.
    pub fn split(&self, text: &str, allow_special: bool, mut segment: impl FnMut(usize, usize), mut token: impl FnMut(u32, usize, usize)) {
        let mut segment_start = 0;
        let mut at = 0;
        let mut pending_rstrip = false;
        while at < text.len() {
            if pending_rstrip {
                let ws = text[at..].chars().take_while(|c| c.is_whitespace()).map(|c| c.len_utf8()).sum::<usize>();
                at += ws;
                segment_start = at;
                pending_rstrip = false;
                continue;
            }
            match self.at(text, at).filter(|&(i, _)| allow_special || !self.tokens[i].special) {
                Some((i, end)) => {
                    let t = &self.tokens[i];
                    let mut seg_end = at;
                    if t.lstrip {
                        seg_end = text[segment_start..at].trim_end().len() + segment_start;
                    }
                    if segment_start < seg_end {
                        segment(segment_start, seg_end);
                    }
                    token(t.id, at, end);
                    at = end;
                    segment_start = end;
                    pending_rstrip = t.rstrip;
                }
                None => at += text[at..].chars().next().unwrap().len_utf8(),
            }
        }
        if segment_start < text.len() {
            segment(segment_start, text.len());
        }
    }
}

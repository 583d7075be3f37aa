//! Outcome rewards: SQuAD answer normalisation, exact match and token F1 against several gold
//! answers, and extraction of the final `<answer>…</answer>` from a response.

use crate::ffi::{self, report, ErrorCode};
use crate::header::{self, RewardsHeader};
use crate::unicode::{is_py_space, is_word};

/// SQuAD's `normalize_answer`: lowercase, drop ASCII punctuation, drop the words a/an/the,
/// collapse whitespace. Word boundaries follow Python's `\b` (letters, numbers, underscore).
pub fn normalize_answer(text: &str) -> String {
    // lower() and remove_punc(), in one pass (ASCII text skips the Unicode case tables).
    let mut clean = String::with_capacity(text.len());
    if text.is_ascii() {
        clean.extend(text.bytes().filter(|b| !b.is_ascii_punctuation()).map(|b| b.to_ascii_lowercase() as char));
    } else {
        clean.extend(text.to_lowercase().chars().filter(|c| !c.is_ascii_punctuation()));
    }
    // remove_articles() and white_space_fix() in a second pass: walk maximal runs of word /
    // non-word characters; a word run that is exactly a/an/the counts as whitespace (the regex
    // replaces it by a space); whitespace runs collapse to one space, none at either end.
    let mut out = String::with_capacity(clean.len());
    let mut space = false;
    let mut emit = |c: char, out: &mut String| {
        if is_py_space(c) {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    };
    let mut rest = clean.as_str();
    while let Some(first) = rest.chars().next() {
        let word = is_word(first);
        let end = rest.char_indices().find(|&(_, c)| is_word(c) != word).map_or(rest.len(), |(at, _)| at);
        let run = &rest[..end];
        if word && matches!(run, "a" | "an" | "the") {
            emit(' ', &mut out);
        } else {
            run.chars().for_each(|c| emit(c, &mut out));
        }
        rest = &rest[end..];
    }
    out
}

/// 1.0 if the normalised prediction equals any normalised gold answer.
pub fn exact_match(prediction: &str, golds: &[&str]) -> f64 {
    let p = normalize_answer(prediction);
    if golds.iter().any(|g| normalize_answer(g) == p) {
        1.0
    } else {
        0.0
    }
}

/// SQuAD token F1 (bag of normalised tokens), maximum over the gold answers.
pub fn f1(prediction: &str, golds: &[&str]) -> f64 {
    let p = normalize_answer(prediction);
    let p_tokens: Vec<&str> = p.split(' ').filter(|t| !t.is_empty()).collect();
    golds
        .iter()
        .map(|g| {
            let g = normalize_answer(g);
            let g_tokens: Vec<&str> = g.split(' ').filter(|t| !t.is_empty()).collect();
            token_f1(&p_tokens, &g_tokens)
        })
        .fold(0.0, f64::max)
}

fn token_f1(pred: &[&str], gold: &[&str]) -> f64 {
    if pred.is_empty() || gold.is_empty() {
        // SQuAD v2 convention: both empty → 1, one empty → 0.
        return if pred.is_empty() && gold.is_empty() { 1.0 } else { 0.0 };
    }
    let mut remaining: Vec<&str> = gold.to_vec();
    let mut common = 0usize;
    for t in pred {
        if let Some(at) = remaining.iter().position(|g| g == t) {
            remaining.swap_remove(at);
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / pred.len() as f64;
    let recall = common as f64 / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

const OPEN: &str = "<answer>";
const CLOSE: &str = "</answer>";

/// The text of the last `<answer>` tag, up to the `</answer>` that follows it, stripped as Python's
/// `str.strip()` does (Search-R1 strips the extracted answer). `None`
/// when there is no `<answer>` or the last one is never closed: an answer the model did not
/// finish earns nothing.
pub fn extract_answer(response: &str) -> Option<&str> {
    let start = response.rfind(OPEN)? + OPEN.len();
    let end = response[start..].find(CLOSE)? + start;
    Some(response[start..end].trim_matches(is_py_space)) // Python's str.strip()
}

/// Which score `ig_rewards` computes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    ExactMatch,
    F1,
}

// ---- exports ---------------------------------------------------------------------------------

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, i32> {
    std::str::from_utf8(bytes).map_err(|e| report(ErrorCode::InvalidUtf8, &format!("{what}: invalid UTF-8 at byte {}", e.valid_up_to())))
}

/// `normalize_answer` of `(ptr, len)` into the output slot.
///
/// # Safety
/// `(ptr, len)` must be a live buffer from `ig_alloc`.
#[no_mangle]
pub unsafe extern "C" fn ig_normalize_answer(ptr: *const u8, len: usize) -> i32 {
    match utf8(ffi::bytes(ptr, len), "text") {
        Ok(text) => {
            ffi::set_out(normalize_answer(text).into_bytes());
            0
        }
        Err(status) => status,
    }
}

/// `extract_answer` into the output slot; returns 1 if an answer was found, 0 if not.
///
/// # Safety
/// `(ptr, len)` must be a live buffer from `ig_alloc`.
#[no_mangle]
pub unsafe extern "C" fn ig_extract_answer(ptr: *const u8, len: usize) -> i32 {
    match utf8(ffi::bytes(ptr, len), "response") {
        Ok(text) => match extract_answer(text) {
            Some(answer) => {
                ffi::set_out(answer.as_bytes().to_vec());
                1
            }
            None => {
                ffi::set_out(Vec::new());
                0
            }
        },
        Err(status) => status,
    }
}

/// Outcome rewards for `n` responses. Response `i` is `texts[text_offsets[i]..text_offsets[i+1]]`
/// (a whole response, from which the last answer is extracted, or the bare answer when
/// `extract == 0`); its gold answers are gold strings `gold_index[i]..gold_index[i+1]`, each
/// `golds[gold_offsets[j]..gold_offsets[j+1]]`. `metric`: 0 exact match, 1 token F1. Writes
/// `out[i]`; nothing is written unless every input is valid.
///
/// # Safety
/// `header` points at a whole [`RewardsHeader`] whose pointers cover the counts it gives, inside
/// `ig_alloc` buffers.
#[no_mangle]
pub unsafe extern "C" fn ig_rewards(header: *const RewardsHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_rewards"),
    };
    let (n, n_golds) = (h.n as usize, h.n_golds as usize);
    let metric = match h.metric {
        0 => Metric::ExactMatch,
        1 => Metric::F1,
        m => return report(ErrorCode::InvalidArgument, &format!("metric must be 0 (exact match) or 1 (F1), got {m}")),
    };
    let texts = ffi::bytes(h.texts, h.texts_len as usize);
    let golds = ffi::bytes(h.golds, h.golds_len as usize);
    let text_offsets = ffi::slice(h.text_offsets, n + 1);
    let gold_offsets = ffi::slice(h.gold_offsets, n_golds + 1);
    let gold_index = ffi::slice(h.gold_index, n + 1);
    let texts = match ffi::split_strings(texts, text_offsets, "responses") {
        Ok(v) => v,
        Err(status) => return status,
    };
    let golds = match ffi::split_strings(golds, gold_offsets, "gold answers") {
        Ok(v) => v,
        Err(status) => return status,
    };
    if let Err(status) = ffi::check_offsets(gold_index, n_golds, "gold_index") {
        return status;
    }
    let out = ffi::slice_mut(h.out, n);
    for i in 0..n {
        let gold = &golds[gold_index[i] as usize..gold_index[i + 1] as usize];
        out[i] = match if h.extract != 0 { extract_answer(texts[i]) } else { Some(texts[i]) } {
            None => 0.0,
            Some(answer) => match metric {
                Metric::ExactMatch => exact_match(answer, gold),
                Metric::F1 => f1(answer, gold),
            },
        };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_normalisation() {
        assert_eq!(normalize_answer("The  Eiffel-Tower!"), "eiffeltower");
        assert_eq!(normalize_answer("  A cat, an apple and THE dog "), "cat apple and dog");
        assert_eq!(normalize_answer("theory anthem"), "theory anthem");
        assert_eq!(normalize_answer("Ünïcödé  Straße"), "ünïcödé straße");
    }

    #[test]
    fn extraction() {
        assert_eq!(extract_answer("x <answer> Paris </answer> y"), Some("Paris"));
        assert_eq!(extract_answer("<answer>a</answer> then <answer>b</answer>"), Some("b"));
        assert_eq!(extract_answer("<answer>a</answer> then <answer>b"), None);
        assert_eq!(extract_answer("no tags"), None);
    }

    #[test]
    fn f1_counts_overlap_once() {
        assert!((f1("the big red dog", &["red dog"]) - 0.8).abs() < 1e-12);
        assert_eq!(f1("a", &["the"]), 1.0); // both normalise to empty
        assert_eq!(exact_match("Paris.", &["london", "paris"]), 1.0);
    }
}

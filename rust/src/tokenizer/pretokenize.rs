//! Hand-written matchers with exactly the behaviour of the pre-tokenizer regexes in use (leftmost-
//! first alternation, greedy quantifiers with backtracking, the `\s+(?!\S)` lookahead), so no
//! regex engine is needed. `\s` is Unicode White_Space (as in the Rust/Oniguruma regexes that HF
//! tokenizers and tiktoken run), `\p{L}`/`\p{N}` the general categories.
//!
//! GPT-2:            's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! cl100k / Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! Qwen2 / Qwen2.5:  the same with \p{N} (one digit per piece).
//! o200k (GPT-4o):   [^\r\n\p{L}\p{N}]?U*W+C?|[^\r\n\p{L}\p{N}]?U+W*C?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//!                   with U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}], C = (?i:'s|'t|'re|'ve|'m|'ll|'d)

use crate::unicode::{is_letter, is_lowerish, is_number, is_upperish};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    Gpt2,
    /// cl100k family; `max_digits` is 3 for cl100k/Llama-3 and 1 for Qwen2.
    Cl100k { max_digits: usize },
    O200k,
}

pub const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
pub const CL100K_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
pub const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

fn is_other(c: char) -> bool {
    !is_space(c) && !is_letter(c) && !is_number(c)
}

/// Characters of `text` from byte `at`, as (byte offset, char).
struct Cursor<'a> {
    text: &'a str,
}

impl<'a> Cursor<'a> {
    fn char_at(&self, at: usize) -> Option<char> {
        self.text[at..].chars().next()
    }

    /// End of the maximal run of chars satisfying `f` starting at `at`, at most `max` chars.
    fn run(&self, at: usize, max: usize, f: impl Fn(char) -> bool) -> usize {
        let mut end = at;
        for (n, c) in self.text[at..].chars().enumerate() {
            if n == max || !f(c) {
                break;
            }
            end += c.len_utf8();
        }
        end
    }
}

fn contraction(cur: &Cursor, at: usize, case_insensitive: bool) -> Option<usize> {
    let rest = &cur.text[at..];
    if !rest.starts_with('\'') {
        return None;
    }
    let after = &rest[1..];
    for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
        let mut chars = after.chars();
        let mut len = 1;
        let ok = suffix.chars().all(|want| match chars.next() {
            Some(c) => {
                let hit = c == want || (case_insensitive && (c.to_ascii_lowercase() == want || (want == 's' && c == 'ſ')));
                len += c.len_utf8();
                hit
            }
            None => false,
        });
        if ok {
            return Some(at + len);
        }
    }
    None
}

/// `\s*[\r\n]+`: through the last newline of the whitespace run at `at`.
fn spaces_then_newlines(cur: &Cursor, at: usize) -> Option<usize> {
    let end = cur.run(at, usize::MAX, is_space);
    cur.text[at..end].char_indices().filter(|&(_, c)| is_newline(c)).last().map(|(i, c)| at + i + c.len_utf8())
}

/// `\s+(?!\S)` then `\s+`.
fn trailing_spaces(cur: &Cursor, at: usize) -> Option<usize> {
    let end = cur.run(at, usize::MAX, is_space);
    if end == at {
        return None;
    }
    if end == cur.text.len() {
        return Some(end);
    }
    // Give back the last whitespace char so the lookahead sees whitespace, if one remains.
    let last = cur.text[at..end].chars().last().unwrap();
    if end - last.len_utf8() > at {
        Some(end - last.len_utf8())
    } else {
        Some(end) // `\s+` alone
    }
}

fn next_cl100k(cur: &Cursor, at: usize, max_digits: usize) -> usize {
    let c = cur.char_at(at).unwrap();
    if let Some(end) = contraction(cur, at, true) {
        return end;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if !is_newline(c) && !is_letter(c) && !is_number(c) {
        let next = at + c.len_utf8();
        if cur.char_at(next).map_or(false, is_letter) {
            return cur.run(next, usize::MAX, is_letter);
        }
    }
    if is_letter(c) {
        return cur.run(at, usize::MAX, is_letter);
    }
    if is_number(c) {
        return cur.run(at, max_digits, is_number);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    let body = if c == ' ' && cur.char_at(at + 1).map_or(false, is_other) { at + 1 } else { at };
    if cur.char_at(body).map_or(false, is_other) {
        let end = cur.run(body, usize::MAX, is_other);
        return cur.run(end, usize::MAX, is_newline);
    }
    if let Some(end) = spaces_then_newlines(cur, at) {
        return end;
    }
    trailing_spaces(cur, at).unwrap_or(at + c.len_utf8())
}

/// `[^\r\n\p{L}\p{N}]?`: where the word may start, with the optional leading char first.
fn word_starts(at: usize, c: char) -> [Option<usize>; 2] {
    let prefixed = if !is_newline(c) && !is_letter(c) && !is_number(c) { Some(at + c.len_utf8()) } else { None };
    [prefixed, Some(at)]
}

/// `U*W+C?` from `s`: the U-run is given back one char at a time until a W follows.
fn o200k_lower_word(cur: &Cursor, s: usize) -> Option<usize> {
    let u_end = cur.run(s, usize::MAX, is_upperish);
    let mut k = u_end;
    loop {
        if cur.char_at(k).map_or(false, is_lowerish) {
            let end = cur.run(k, usize::MAX, is_lowerish);
            return Some(contraction(cur, end, true).unwrap_or(end));
        }
        if k == s {
            return None;
        }
        k -= cur.text[..k].chars().next_back().unwrap().len_utf8();
    }
}

/// `U+W*C?` from `s`.
fn o200k_upper_word(cur: &Cursor, s: usize) -> Option<usize> {
    let u_end = cur.run(s, usize::MAX, is_upperish);
    if u_end == s {
        return None;
    }
    let end = cur.run(u_end, usize::MAX, is_lowerish);
    Some(contraction(cur, end, true).unwrap_or(end))
}

fn next_o200k(cur: &Cursor, at: usize) -> usize {
    let c = cur.char_at(at).unwrap();
    let starts = word_starts(at, c);
    for word in [o200k_lower_word, o200k_upper_word] {
        for s in starts.iter().flatten() {
            if let Some(end) = word(cur, *s) {
                return end;
            }
        }
    }
    if is_number(c) {
        return cur.run(at, 3, is_number);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
    let body = if c == ' ' && cur.char_at(at + 1).map_or(false, is_other) { at + 1 } else { at };
    if cur.char_at(body).map_or(false, is_other) {
        let end = cur.run(body, usize::MAX, is_other);
        return cur.run(end, usize::MAX, |c| is_newline(c) || c == '/');
    }
    if let Some(end) = spaces_then_newlines(cur, at) {
        return end;
    }
    trailing_spaces(cur, at).unwrap_or(at + c.len_utf8())
}

fn next_gpt2(cur: &Cursor, at: usize) -> usize {
    let c = cur.char_at(at).unwrap();
    if let Some(end) = contraction(cur, at, false) {
        return end;
    }
    let body = if c == ' ' { at + 1 } else { at };
    if let Some(d) = cur.char_at(body) {
        if is_letter(d) {
            return cur.run(body, usize::MAX, is_letter);
        }
        if is_number(d) {
            return cur.run(body, usize::MAX, is_number);
        }
        if is_other(d) {
            return cur.run(body, usize::MAX, is_other);
        }
    }
    trailing_spaces(cur, at).unwrap_or(at + c.len_utf8())
}

/// Calls `emit(start, end)` for each piece of `text`, in order; pieces cover the text exactly.
pub fn split(pattern: Pattern, text: &str, mut emit: impl FnMut(usize, usize)) {
    let cur = Cursor { text };
    let mut at = 0;
    while at < text.len() {
        let end = match pattern {
            Pattern::Gpt2 => next_gpt2(&cur, at),
            Pattern::Cl100k { max_digits } => next_cl100k(&cur, at, max_digits),
            Pattern::O200k => next_o200k(&cur, at),
        };
        debug_assert!(end > at);
        emit(at, end);
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(p: Pattern, text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split(p, text, |s, e| out.push(&text[s..e]));
        out
    }

    #[test]
    fn qwen_examples() {
        let q = Pattern::Cl100k { max_digits: 1 };
        assert_eq!(pieces(q, "Hello world! 12"), ["Hello", " world", "!", " ", "1", "2"]);
        assert_eq!(pieces(q, "I'M here\n\n  x"), ["I", "'M", " here", "\n\n", " ", " x"]);
        assert_eq!(pieces(q, "a  \n b"), ["a", "  \n", " b"]);
        assert_eq!(pieces(q, "x   "), ["x", "   "]);
        assert_eq!(pieces(q, "x   y"), ["x", "  ", " y"]);
        assert_eq!(pieces(q, " ...\n\nz"), [" ...\n\n", "z"]);
    }

    #[test]
    fn o200k_examples() {
        let o = Pattern::O200k;
        assert_eq!(pieces(o, "HelloWorld isn't GPT4o's"), ["Hello", "World", " isn't", " GPT", "4", "o's"]);
        assert_eq!(pieces(o, "a/b//\n c\u{301}d"), ["a", "/b", "//\n", " c\u{301}d"]);
        assert_eq!(pieces(o, "ABCdef. 12345"), ["ABCdef", ".", " ", "123", "45"]);
    }

    #[test]
    fn cl100k_digits_and_gpt2() {
        assert_eq!(pieces(Pattern::Cl100k { max_digits: 3 }, "12345"), ["123", "45"]);
        assert_eq!(pieces(Pattern::Gpt2, "Hello  world's 2024!!"), ["Hello", " ", " world", "'s", " 2024", "!!"]);
    }
}

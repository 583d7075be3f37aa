//! Character classes shared by answer normalisation, BM25 and (later) the pre-tokenizers.

#[rustfmt::skip]
mod tables {
    include!("unicode_tables.rs");
}

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Unicode general category L (`\p{L}`).
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_ranges(&tables::LETTER, c)
}

/// Unicode general category N (`\p{N}`).
pub fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_ranges(&tables::NUMBER, c)
}

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, the o200k pre-tokenizer's leading word class.
pub fn is_upperish(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    in_ranges(&tables::UPPERISH, c)
}

/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`, the o200k pre-tokenizer's trailing word class.
pub fn is_lowerish(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    in_ranges(&tables::LOWERISH, c)
}

/// Python's `re` `\w` on str: letters, numbers and the underscore.
pub fn is_word(c: char) -> bool {
    c == '_' || is_letter(c) || is_number(c)
}

/// Python's `str.isspace()` / `str.split()` separators: Unicode White_Space plus the ASCII
/// information separators U+001C..U+001F, which Python also treats as whitespace.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_letter('é') && is_letter('検') && is_letter('ß'));
        assert!(!is_letter('1') && !is_letter('_') && !is_letter('\u{0301}'));
        assert!(is_number('٣') && is_number('Ⅻ') && is_number('½'));
        assert!(is_word('_') && !is_word('-'));
        assert!(is_py_space('\u{1f}') && is_py_space('\u{3000}') && !is_py_space('x'));
    }
}

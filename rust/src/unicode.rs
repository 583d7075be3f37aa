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

/// Unicode general category Mn (`\p{Mn}`, nonspacing marks: the accents strip_accents removes).
pub fn is_nonspacing_mark(c: char) -> bool {
    !c.is_ascii() && in_ranges(&tables::MARK_NONSPACING, c)
}

/// Unicode general category P (`\p{P}`).
pub fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '!'..='#' | '%'..='*' | ','..='/' | ':' | ';' | '?' | '@' | '['..=']' | '_' | '{' | '}');
    }
    in_ranges(&tables::PUNCTUATION, c)
}

/// Unicode general category C but unassigned: control, format, private use, surrogate (`[\p{Cc}\p{Cf}\p{Co}\p{Cs}]`,
/// what BertNormalizer's clean_text drops; Hugging Face tokenizers keeps `\p{Cn}`).
pub fn is_other(c: char) -> bool {
    in_ranges(&tables::OTHER, c)
}

/// Appends `c`'s canonical decomposition (NFD) without its nonspacing marks to `out`: 'é' → 'e',
/// 'ǖ' → 'u', a Hangul syllable → its conjoining jamo, a nonspacing mark → nothing.
pub fn push_unaccented(c: char, out: &mut String) {
    let cp = c as u32;
    if c.is_ascii() {
        out.push(c);
    } else if (0xac00..=0xd7a3).contains(&cp) {
        // Hangul syllables decompose by arithmetic (Unicode §3.12): L + V (+ T).
        let s = cp - 0xac00;
        let (l, v, t) = (0x1100 + s / 588, 0x1161 + (s % 588) / 28, 0x11a7 + s % 28);
        for j in [l, v].into_iter().chain((t != 0x11a7).then(|| t)) {
            out.push(char::from_u32(j).unwrap());
        }
    } else if is_nonspacing_mark(c) {
    } else if let Ok(i) = tables::UNACCENTED.binary_search_by_key(&cp, |&(from, _, _)| from) {
        let (_, at, n) = tables::UNACCENTED[i];
        for &x in &tables::UNACCENTED_CHARS[at as usize..(at + n) as usize] {
            out.push(char::from_u32(x).unwrap());
        }
    } else {
        out.push(c);
    }
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
        assert!(is_nonspacing_mark('\u{0301}') && !is_nonspacing_mark('a') && !is_nonspacing_mark('\u{0903}'));
        assert!(is_punctuation('!') && is_punctuation('_') && is_punctuation('「') && is_punctuation('¿'));
        assert!(!is_punctuation('$') && !is_punctuation('+') && !is_punctuation('^') && !is_punctuation('a'));
        assert!(is_other('\u{0}') && is_other('\u{200b}') && is_other('\u{e000}') && !is_other('\u{378}') && !is_other('a'));
    }

    #[test]
    fn unaccented() {
        let strip = |s: &str| {
            let mut out = String::new();
            s.chars().for_each(|c| push_unaccented(c, &mut out));
            out
        };
        assert_eq!(strip("Crème brûlée, Ǖ, naïve"), "Creme brulee, U, naive");
        assert_eq!(strip("e\u{0301}\u{0327}"), "e"); // marks already decomposed are dropped too
        assert_eq!(strip("한국"), "\u{1112}\u{1161}\u{11ab}\u{1100}\u{116e}\u{11a8}");
        assert_eq!(strip("\u{f900}ſ"), "\u{8c48}ſ"); // a compatibility ideograph's canonical form; ſ has none
    }
}

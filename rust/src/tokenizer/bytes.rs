//! GPT-2's byte ↔ unicode table: every byte gets a printable character so that byte-level BPE
//! vocabularies can be stored as JSON strings. Printable Latin-1 bytes map to themselves, the
//! other 68 bytes to U+0100 onwards, in byte order.

pub fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        table[b as usize] = if printable {
            b as char
        } else {
            let c = char::from_u32(next).unwrap();
            next += 1;
            c
        };
    }
    table
}

/// The inverse: char → byte, for the 256 characters of the table.
pub fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff => Some(cp as u8),
        0x100..=0x143 => {
            // The remapped bytes in order: 0x00-0x20, 0x7f-0xa0, 0xad.
            let k = (cp - 0x100) as u8;
            Some(match k {
                0..=32 => k,
                33..=66 => 0x7f + (k - 33),
                67 => 0xad,
                _ => unreachable!(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let table = byte_to_char();
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(table[b as usize]), Some(b));
        }
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
    }
}

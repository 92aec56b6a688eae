//! Licence-plate text: normalisation of what OCR, CSV files or MQTT hand us.
//!
//! Plate text from outside is hostile until normalised: full-width forms become ASCII, the
//! usual separators go, letters are upper-cased, and anything that is not a letter, digit or
//! CJK character (controls, bidi overrides, markup, SQL punctuation) makes the text invalid.

use thiserror::Error;

pub const MAX_PLATE_CHARS: usize = 12;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum PlateError {
    #[error("empty plate")]
    Empty,
    #[error("plate longer than {MAX_PLATE_CHARS} characters")]
    TooLong,
    #[error("plate contains a character that is not a letter, digit or CJK character (U+{0:04X})")]
    BadChar(u32),
}

/// Normalise plate text: full-width to half-width, drop separators (space, `-`, `.`, `·`, `•`),
/// upper-case ASCII letters; reject anything else that is not alphanumeric or CJK.
pub fn normalize(raw: &str) -> Result<String, PlateError> {
    if raw.len() > 4 * MAX_PLATE_CHARS * 4 {
        return Err(PlateError::TooLong);
    }
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = half_width(c);
        match c {
            ' ' | '-' | '.' | '·' | '•' | '・' | '\u{3000}' => continue,
            'a'..='z' => out.push(c.to_ascii_uppercase()),
            'A'..='Z' | '0'..='9' => out.push(c),
            c if is_cjk(c) => out.push(c),
            c => return Err(PlateError::BadChar(c as u32)),
        }
    }
    match out.chars().count() {
        0 => Err(PlateError::Empty),
        n if n > MAX_PLATE_CHARS => Err(PlateError::TooLong),
        _ => Ok(out),
    }
}

fn half_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_separators_case_and_full_width() {
        assert_eq!(normalize("京A·12345").unwrap(), "京A12345");
        assert_eq!(normalize(" ab-12 3.4 ").unwrap(), "AB1234");
        assert_eq!(normalize("ＡＢ１２３").unwrap(), "AB123");
    }

    #[test]
    fn hostile_text_is_rejected() {
        for bad in ["'; DROP TABLE alerts;--", "<script>x</script>", "AB\u{202E}12", "AB\u{0}12", "A\nB"] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
        assert_eq!(normalize(&"A".repeat(10_000)), Err(PlateError::TooLong));
        assert_eq!(normalize(" - "), Err(PlateError::Empty));
    }
}

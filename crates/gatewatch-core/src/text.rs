//! Free text from outside (list labels, later officers' notes): what may be stored and shown.
//!
//! Everything is escaped where it is shown, but some text misleads even escaped: bidi
//! overrides reorder what an officer reads (`ABC\u{202E}321` shows as `ABC123`), zero-width
//! characters make two labels look the same, and markup is never a case note. Such text is
//! refused, with the reason, rather than silently cleaned.

/// Why a piece of free text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("longer than {0} characters")]
    TooLong(usize),
    #[error("control character U+{0:04X}")]
    Control(u32),
    #[error("invisible formatting character U+{0:04X} (bidi override, zero-width or similar)")]
    Format(u32),
    #[error("markup character {0:?} (< and > are not allowed)")]
    Markup(char),
}

/// Check free text: at most `max_chars` characters, no control characters (tab included), no
/// Unicode format characters (bidi controls, zero-width, soft hyphen, tags, line and paragraph
/// separators) and no `<` or `>`.
pub fn check_free_text(s: &str, max_chars: usize) -> Result<(), TextError> {
    if s.chars().nth(max_chars).is_some() {
        return Err(TextError::TooLong(max_chars));
    }
    for c in s.chars() {
        if c.is_control() {
            return Err(TextError::Control(c as u32));
        }
        if is_format(c) {
            return Err(TextError::Format(c as u32));
        }
        if matches!(c, '<' | '>') {
            return Err(TextError::Markup(c));
        }
    }
    Ok(())
}

/// `s` for a terminal: control and format characters (newlines, ANSI escapes, bidi overrides)
/// written as `\u{..}`, everything else, any script, as it is. For text that came from
/// outside (officers' notes, stored messages) shown on a console.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_format(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode general category Cf (format), plus the line and paragraph separators (Zl, Zp).
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_keeps_scripts_and_quotes_and_escapes_controls() {
        assert_eq!(for_terminal("王警官: 'told' to move on"), "王警官: 'told' to move on");
        assert_eq!(for_terminal("a\nb\u{1b}[31m\u{202e}c"), "a\\u{a}b\\u{1b}[31m\\u{202e}c");
    }

    #[test]
    fn ordinary_labels_in_any_script_pass() {
        for ok in
            ["case 2026-114", "5号楼102室的访客", "Müller, flat 3-201", "案件 #7 (armed?)", "'); DROP TABLE x;--", ""]
        {
            assert_eq!(check_free_text(ok, 200), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn bidi_zero_width_markup_and_controls_are_refused() {
        assert_eq!(check_free_text("AB\u{202e}12", 200), Err(TextError::Format(0x202E)));
        assert_eq!(check_free_text("gu\u{200b}est", 200), Err(TextError::Format(0x200B)));
        assert_eq!(check_free_text("\u{2066}x\u{2069}", 200), Err(TextError::Format(0x2066)));
        assert_eq!(check_free_text("a\u{feff}", 200), Err(TextError::Format(0xFEFF)));
        assert_eq!(check_free_text("<img src=x>", 200), Err(TextError::Markup('<')));
        assert_eq!(check_free_text("<script>x</script>", 200), Err(TextError::Markup('<')));
        assert_eq!(check_free_text("bell\u{7}", 200), Err(TextError::Control(7)));
        assert_eq!(check_free_text("two\nlines", 200), Err(TextError::Control(10)));
        assert_eq!(check_free_text(&"字".repeat(201), 200), Err(TextError::TooLong(200)));
        assert_eq!(check_free_text(&"字".repeat(200), 200), Ok(()));
    }
}

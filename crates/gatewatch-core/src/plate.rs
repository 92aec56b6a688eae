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

/// What OCR read, with everything that cannot be on a plate dropped (punctuation, symbols,
/// spaces), ready for [`normalize`].
pub fn keep_plate_chars<'a>(pieces: impl IntoIterator<Item = &'a str>) -> String {
    pieces
        .into_iter()
        .flat_map(str::chars)
        .map(half_width)
        .filter(|c| c.is_ascii_alphanumeric() || is_cjk(*c))
        .take(4 * MAX_PLATE_CHARS)
        .collect()
}

/// Levenshtein distance in characters (for accuracy figures and fuzzy matching).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Characters OCR confuses with each other on plates.
const CONFUSABLE: [&str; 6] = ["0ODQ", "1ILT", "2Z", "5S", "8B", "6G"];

/// Cost of reading `b` where `a` is written: 0 if equal, 0.5 for a known OCR confusion
/// (0/O/D/Q, 1/I/L/T, 2/Z, 5/S, 8/B, 6/G), else 1.
pub fn substitution_cost(a: char, b: char) -> f32 {
    if a == b {
        0.0
    } else if CONFUSABLE.iter().any(|g| g.contains(a) && g.contains(b)) {
        0.5
    } else {
        1.0
    }
}

/// The first character of `c`'s confusion group (`O`, `D`, `Q` give `0`; `B` gives `8`), or `c`
/// itself: texts equal after this differ only by half-cost substitutions.
pub fn confusion_group(c: char) -> char {
    CONFUSABLE.iter().find(|g| g.contains(c)).and_then(|g| g.chars().next()).unwrap_or(c)
}

/// Edit distance where confusable substitutions cost half: "how far apart, to an OCR".
pub fn confusion_distance(a: &str, b: &str) -> f32 {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = (i + 1) as f32;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + substitution_cost(ca, cb)).min(row[j] + 1.0).min(row[j + 1] + 1.0);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Provinces and regions that start a mainland Chinese plate.
pub const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
/// Characters that may end a special plate (driving school, police, trailer, HK/Macau, embassy).
pub const SPECIAL_SUFFIXES: &str = "学警挂港澳使领";

/// What the plate grammar made of a normalised reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Grammar {
    pub text: String,
    /// `Some(true)`: a well-formed Chinese plate; `Some(false)`: starts like one but is not;
    /// `None`: not a Chinese plate, passed through as read.
    pub valid: Option<bool>,
}

/// Apply the mainland Chinese plate grammar to a normalised reading: province character,
/// a letter, then 5 characters (a blue plate; the last may be a special suffix such as 学) or
/// 6 (a green new-energy plate). Serials use no I or O, so there O reads as 0 and I as 1.
/// A reading that does not start with a CJK character is passed through untouched.
pub fn apply_grammar(normalised: &str) -> Grammar {
    let chars: Vec<char> = normalised.chars().collect();
    let Some(&first) = chars.first() else { return Grammar { text: String::new(), valid: Some(false) } };
    if !is_cjk(first) {
        return Grammar { text: normalised.to_string(), valid: None };
    }
    let mut text = String::with_capacity(normalised.len());
    text.push(first);
    if let Some(&c) = chars.get(1) {
        text.push(c);
    }
    let serial: Vec<char> = chars
        .iter()
        .skip(2)
        .map(|&c| match c {
            'O' => '0',
            'I' => '1',
            c => c,
        })
        .collect();
    text.extend(&serial);
    let letter = chars.get(1).is_some_and(|c| c.is_ascii_uppercase());
    let alnum = |c: &char| c.is_ascii_uppercase() || c.is_ascii_digit();
    let serial_ok = match serial.len() {
        5 => serial[..4].iter().all(alnum) && (alnum(&serial[4]) || SPECIAL_SUFFIXES.contains(serial[4])),
        6 => serial.iter().all(alnum),
        _ => false,
    };
    Grammar { text, valid: Some(PROVINCES.contains(first) && letter && serial_ok) }
}

/// What a position of a mainland Chinese plate allows.
fn allowed(position: usize, len: usize, c: char) -> bool {
    match position {
        0 => PROVINCES.contains(c),
        1 => c.is_ascii_uppercase(),
        // Serials use no I or O (they would read as 1 and 0).
        p => {
            let serial = (c.is_ascii_uppercase() && c != 'I' && c != 'O') || c.is_ascii_digit();
            serial || (p == len - 1 && len == 7 && SPECIAL_SUFFIXES.contains(c))
        }
    }
}

/// The plate grammar applied inside the reading: `options` holds, per character read, the
/// recogniser's likeliest characters (normalised, most likely first; see `ctc::CtcChar`). Each
/// position of a Chinese plate (province, letter, 5 or 6 serial characters) takes the likeliest
/// option it allows, so a letter position never keeps a digit (`粤0A2160` with an `O` behind the
/// `0` reads `粤OA2160`) and a serial `O` becomes the `0` the recogniser also saw. A position
/// none of whose options fit keeps the first (with `I`/`O` mapped in the serial) and the plate
/// is not valid. `None`: not a Chinese plate (the first character read is not CJK), for
/// [`apply_grammar`]'s pass-through.
pub fn constrained(options: &[Vec<(char, f32)>]) -> Option<Grammar> {
    constrained_chars(options)
        .map(|c| Grammar { text: c.chars.iter().map(|(c, _)| *c).collect(), valid: Some(c.valid) })
}

/// A plate read through the grammar, character by character.
#[derive(Debug, Clone, PartialEq)]
pub struct Constrained {
    /// Each position's character and the probability the recogniser gave it (what a vote
    /// across reads weighs).
    pub chars: Vec<(char, f32)>,
    pub valid: bool,
    /// The next-best grammatical reads: one position changed to the best other option it
    /// allows, the likeliest change first (the ratio of the two probabilities), at most 3.
    pub alternatives: Vec<String>,
}

/// [`constrained`], keeping each position's probability and the next-best reads.
pub fn constrained_chars(options: &[Vec<(char, f32)>]) -> Option<Constrained> {
    let first = options.first()?.first()?.0;
    if !is_cjk(first) {
        return None;
    }
    let len = options.len();
    let mut chars = Vec::with_capacity(len);
    let mut valid = len == 7 || len == 8;
    // (position, other character, its probability over the chosen one's)
    let mut second = Vec::new();
    for (position, opts) in options.iter().enumerate() {
        let mut fits: Vec<(char, f32)> = opts.iter().copied().filter(|(c, _)| allowed(position, len, *c)).collect();
        fits.sort_by(|a, b| b.1.total_cmp(&a.1));
        match (fits.first(), opts.first()) {
            (Some(&best), _) => {
                chars.push(best);
                if let Some(&(c, p)) = fits.iter().find(|(c, _)| *c != best.0) {
                    second.push((position, c, p / best.1.max(1e-6)));
                }
            }
            (None, Some(&(c, p))) => {
                valid = false;
                let c = match (position, c) {
                    (p, 'O') if p >= 2 => '0',
                    (p, 'I') if p >= 2 => '1',
                    (_, c) => c,
                };
                chars.push((c, p));
            }
            (None, None) => valid = false,
        }
    }
    second.sort_by(|a, b| b.2.total_cmp(&a.2));
    let alternatives = second
        .iter()
        .take(3)
        .map(|&(position, c, _)| {
            let mut alt: Vec<char> = chars.iter().map(|(c, _)| *c).collect();
            alt[position] = c;
            alt.into_iter().collect()
        })
        .collect();
    Some(Constrained { chars, valid, alternatives })
}

/// One character as a plate holds it: half-width, upper-case; `None` for what cannot be on a
/// plate (separators, punctuation, controls).
pub fn plate_char(c: char) -> Option<char> {
    let c = half_width(c).to_ascii_uppercase();
    (c.is_ascii_alphanumeric() || is_cjk(c)).then_some(c)
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

    /// The next-best reads change one position to the best other option it allows, the
    /// closest call first; an option the position does not allow is never one.
    #[test]
    fn alternatives_are_the_next_best_grammatical_reads() {
        let o = |v: &[(char, f32)]| v.to_vec();
        let options = vec![
            o(&[('粤', 0.99)]),
            o(&[('B', 0.55), ('8', 0.40), ('E', 0.05)]),
            o(&[('1', 0.9), ('7', 0.1)]),
            o(&[('2', 0.99)]),
            o(&[('3', 0.6), ('8', 0.4)]),
            o(&[('4', 0.99)]),
            o(&[('5', 0.99)]),
        ];
        let c = constrained_chars(&options).unwrap();
        assert_eq!(c.chars.iter().map(|(c, _)| *c).collect::<String>(), "粤B12345");
        assert!(c.valid);
        assert_eq!(c.chars[1], ('B', 0.55), "each position keeps its probability");
        // '8' is no letter: position 1's next best is 'E' (0.05/0.55), after 8 at 4 (0.67) and 7 at 2 (0.11).
        assert_eq!(c.alternatives, vec!["粤B12845", "粤B72345", "粤E12345"]);
        assert_eq!(constrained(&options).unwrap().text, "粤B12345");
    }

    #[test]
    fn normalises_separators_case_and_full_width() {
        assert_eq!(normalize("京A·12345").unwrap(), "京A12345");
        assert_eq!(normalize(" ab-12 3.4 ").unwrap(), "AB1234");
        assert_eq!(normalize("ＡＢ１２３").unwrap(), "AB123");
    }

    #[test]
    fn ocr_noise_is_dropped_and_distances_count_characters() {
        assert_eq!(keep_plate_chars(["京", "A", "·", "1", "(", "2"]), "京A12");
        assert_eq!(edit_distance("京A12345", "京A12345"), 0);
        assert_eq!(edit_distance("京A12345", "京A1234S"), 1);
        assert_eq!(edit_distance("", "京A"), 2);
        assert_eq!(edit_distance("京A12345", "A123456"), 2);
    }

    #[test]
    fn confusable_characters_are_closer() {
        assert_eq!(confusion_distance("京A12345", "京A12345"), 0.0);
        assert_eq!(confusion_distance("京A1234S", "京A12345"), 0.5);
        assert_eq!(confusion_distance("京AB8O00", "京A88000"), 1.0);
        assert_eq!(confusion_distance("京A12345", "京A12349"), 1.0);
        assert_eq!(confusion_distance("京A1234", "京A12345"), 1.0);
        assert_eq!(confusion_distance("", ""), 0.0);
    }

    #[test]
    fn grammar_fixes_o_and_i_in_the_serial_only() {
        assert_eq!(apply_grammar("京AO1I23"), Grammar { text: "京A01123".into(), valid: Some(true) });
        assert_eq!(apply_grammar("皖AD12345"), Grammar { text: "皖AD12345".into(), valid: Some(true) });
        assert_eq!(apply_grammar("粤B1234学").valid, Some(true));
        // The second character is a letter position: an O there stays an O.
        assert_eq!(apply_grammar("京O12345").text, "京O12345");
        assert_eq!(apply_grammar("京A1234").valid, Some(false), "too short");
        assert_eq!(apply_grammar("京112345").valid, Some(false), "no letter");
        assert_eq!(apply_grammar("中A12345").valid, Some(false), "not a province");
        // Other countries pass through as read.
        assert_eq!(apply_grammar("5AU5341"), Grammar { text: "5AU5341".into(), valid: None });
        assert_eq!(apply_grammar("BOI123"), Grammar { text: "BOI123".into(), valid: None });
    }

    fn read(chars: &[&[(char, f32)]]) -> Vec<Vec<(char, f32)>> {
        chars.iter().map(|o| o.to_vec()).collect()
    }

    #[test]
    fn the_grammar_takes_the_best_character_each_position_allows() {
        // 粤OA2160 read with a 0 in the letter position, an O behind it.
        let opts = read(&[
            &[('粤', 0.99)],
            &[('0', 0.6), ('O', 0.3), ('Q', 0.05)],
            &[('A', 0.9)],
            &[('2', 0.9)],
            &[('1', 0.9), ('I', 0.05)],
            &[('6', 0.9)],
            &[('O', 0.5), ('0', 0.45)],
        ]);
        assert_eq!(constrained(&opts), Some(Grammar { text: "粤OA2160".into(), valid: Some(true) }));
        // A suffix only at the end of a 5-character serial; a green plate has 6.
        let suffix = read(&[
            &[('粤', 0.9)],
            &[('B', 0.9)],
            &[('1', 0.9)],
            &[('2', 0.9)],
            &[('3', 0.9)],
            &[('4', 0.9)],
            &[('学', 0.9)],
        ]);
        assert_eq!(constrained(&suffix).unwrap().valid, Some(true));
        let mut green = suffix.clone();
        green.insert(2, vec![('D', 0.9)]);
        assert_eq!(constrained(&green).unwrap(), Grammar { text: "粤BD1234学".into(), valid: Some(false) });
        // No option fits: the first is kept (I and O mapped in the serial), not valid.
        let bad = read(&[
            &[('京', 0.9)],
            &[('1', 0.9)],
            &[('I', 0.9)],
            &[('2', 0.9)],
            &[('3', 0.9)],
            &[('4', 0.9)],
            &[('5', 0.9)],
        ]);
        assert_eq!(constrained(&bad).unwrap(), Grammar { text: "京112345".into(), valid: Some(false) });
        // Too short; not a Chinese plate at all.
        assert_eq!(constrained(&bad[..5]).unwrap().valid, Some(false));
        assert_eq!(constrained(&read(&[&[('5', 0.9), ('京', 0.01)], &[('A', 0.9)]])), None);
        assert_eq!(constrained(&[]), None);
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

//! The plate lists as CSV: `kind,plate,label,valid_from,valid_to` (RFC 4180 quoting, times in
//! RFC 3339), for `gatewatch lists import/export` and the desk's lists page. An import with one
//! bad row imports nothing and names every bad row; an export defuses spreadsheet formulas.

use chrono::{DateTime, Utc};

use crate::registry::ListEntry;

/// The header line of a lists CSV.
pub const HEADER: &str = "kind,plate,label,valid_from,valid_to";

/// One entry as a CSV line (without the line break).
pub fn to_csv_row(e: &ListEntry) -> String {
    let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    format!("{},{},{},{},{}", e.kind.as_str(), e.plate, csv_field(&e.label), t(e.valid_from), t(e.valid_to))
}

/// Quote a field for CSV; a leading `= + - @` is defused so a spreadsheet will not run it.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// Split one CSV line (RFC 4180 quoting).
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("one field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("one field").push(c),
        }
    }
    if quoted { Err("unterminated quote".into()) } else { Ok(fields) }
}

/// Every row of a lists CSV, or every bad row named by its line.
pub fn parse_csv(text: &str) -> Result<Vec<ListEntry>, Vec<String>> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header = lines.next().map(|(_, l)| l.trim()).unwrap_or_default();
    if header != "kind,plate,label,valid_from,valid_to" {
        return Err(vec![format!("line 1: header must be {HEADER}, not {header:?}")]);
    }
    let (mut entries, mut errors) = (Vec::new(), Vec::new());
    for (n, line) in lines {
        let row = split_csv_line(line).and_then(|f| {
            let [kind, plate, label, from, to] =
                <[String; 5]>::try_from(f).map_err(|f| format!("{} columns, want 5", f.len()))?;
            let time = |s: &str| {
                (!s.trim().is_empty())
                    .then(|| s.trim().parse::<DateTime<Utc>>().map_err(|e| format!("time {s:?}: {e}")))
                    .transpose()
            };
            ListEntry::new(kind.trim().parse()?, &plate, label.trim(), time(&from)?, time(&to)?)
        });
        match row {
            Ok(e) => entries.push(e),
            Err(e) => errors.push(format!("line {}: {e}", n + 1)),
        }
    }
    if errors.is_empty() { Ok(entries) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_import_checks_every_row() {
        let good = "kind,plate,label,valid_from,valid_to\n\
                    wanted,京A·12345,\"case 7, armed\",,\n\
                    visitor,沪C55555,guest,2026-11-28T08:00:00Z,2026-11-28T20:00:00Z\n";
        let entries = parse_csv(good).unwrap();
        assert_eq!(entries[0].plate, "京A12345");
        assert_eq!(entries[0].label, "case 7, armed");
        let bad = "kind,plate,label,valid_from,valid_to\n\
                   wanted,'); DROP TABLE plate_lists;--,,,\n\
                   friend,AB123,,,\n\
                   visitor,AB123,no end,,\n\
                   resident,AB12\u{202e}3,,,\n\
                   resident,AB123,\"open,,\n";
        let errors = parse_csv(bad).unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].starts_with("line 2:"));
    }

    #[test]
    fn export_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(split_csv_line("a,\"b,\"\"c\"\"\",d").unwrap(), vec!["a", "b,\"c\"", "d"]);
    }
}

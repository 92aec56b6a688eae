//! `gatewatch lists`: the plate lists (wanted, stolen, banned, resident, visitor) in the
//! aggregator's database. Every plate and label from outside is checked before it is stored;
//! an import with one bad row imports nothing and names every bad row.
#![allow(clippy::print_stdout)] // a CLI command's output

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_store::Store;

#[derive(Subcommand)]
pub enum ListAction {
    /// Print entries (all lists, or one kind).
    Show {
        #[arg(long)]
        kind: Option<ListKind>,
    },
    /// Add an entry, or replace the one with the same kind and plate.
    Add {
        #[arg(long)]
        kind: ListKind,
        #[arg(long)]
        plate: String,
        #[arg(long, default_value = "")]
        label: String,
        /// RFC 3339, e.g. 2026-11-28T08:00:00+08:00
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        #[arg(long)]
        to: Option<DateTime<Utc>>,
    },
    /// Remove an entry.
    Remove {
        #[arg(long)]
        kind: ListKind,
        #[arg(long)]
        plate: String,
    },
    /// Import a CSV with the header `kind,plate,label,valid_from,valid_to`.
    Import { file: PathBuf },
    /// Write every entry as CSV (same columns) to standard output.
    Export,
}

pub async fn run(db: &str, action: ListAction) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    match action {
        ListAction::Show { kind } => {
            for e in store.list_entries().await?.iter().filter(|e| kind.is_none_or(|k| k == e.kind)) {
                let window = match (e.valid_from, e.valid_to) {
                    (None, None) => String::new(),
                    (f, t) => format!(
                        "  valid {} .. {}",
                        f.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        t.map(|t| t.to_rfc3339()).unwrap_or_default()
                    ),
                };
                println!("{:<9} {:<12} {}{window}", e.kind.as_str(), e.plate, e.label);
            }
        }
        ListAction::Add { kind, plate, label, from, to } => {
            let e = ListEntry::new(kind, &plate, &label, from, to).map_err(anyhow::Error::msg)?;
            let new = store.put_entry(&e).await?;
            println!("{} {} on the {} list", if new { "added" } else { "updated" }, e.plate, kind.as_str());
        }
        ListAction::Remove { kind, plate } => {
            let plate = gatewatch_core::plate::normalize(&plate)?;
            if !store.remove_entry(kind, &plate).await? {
                bail!("{plate} is not on the {} list", kind.as_str());
            }
            println!("removed {plate} from the {} list", kind.as_str());
        }
        ListAction::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let entries = parse_csv(&text).map_err(|errors| {
                anyhow::anyhow!(
                    "{}: {} bad row(s), nothing imported:\n  {}",
                    file.display(),
                    errors.len(),
                    errors.join("\n  ")
                )
            })?;
            let mut added = 0;
            for e in &entries {
                added += usize::from(store.put_entry(e).await?);
            }
            println!("imported {} entries ({added} new)", entries.len());
        }
        ListAction::Export => {
            println!("kind,plate,label,valid_from,valid_to");
            for e in store.list_entries().await? {
                let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
                println!(
                    "{},{},{},{},{}",
                    e.kind.as_str(),
                    e.plate,
                    csv_field(&e.label),
                    t(e.valid_from),
                    t(e.valid_to)
                );
            }
        }
    }
    Ok(())
}

/// Quote a field for CSV; a leading `= + - @` is defused so a spreadsheet will not run it.
fn csv_field(s: &str) -> String {
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

fn parse_csv(text: &str) -> Result<Vec<ListEntry>, Vec<String>> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header = lines.next().map(|(_, l)| l.trim()).unwrap_or_default();
    if header != "kind,plate,label,valid_from,valid_to" {
        return Err(vec![format!("line 1: header must be kind,plate,label,valid_from,valid_to, not {header:?}")]);
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

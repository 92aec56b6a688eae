//! `gatewatch lists`: the plate lists (wanted, stolen, banned, resident, visitor) in the
//! aggregator's database. Every plate and label from outside is checked before it is stored;
//! an import with one bad row imports nothing and names every bad row.
#![allow(clippy::print_stdout)] // a CLI command's output

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use gatewatch_core::lists_csv::{HEADER, parse_csv, to_csv_row};
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
            println!("{HEADER}");
            for e in store.list_entries().await? {
                println!("{}", to_csv_row(&e));
            }
        }
    }
    Ok(())
}

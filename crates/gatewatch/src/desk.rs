//! Watch-desk commands: list alerts, acknowledge one; list refused payloads.

use chrono::Utc;
use clap::Subcommand;
use gatewatch_store::Store;

#[derive(Subcommand)]
pub enum AlertAction {
    /// List alerts, newest first.
    List {
        /// Only alerts nobody has acknowledged.
        #[arg(long)]
        open: bool,
    },
    /// Acknowledge an alert.
    Ack {
        alert_id: String,
        #[arg(long)]
        officer: String,
    },
}

#[allow(clippy::print_stdout)] // a CLI command's report
pub async fn run(db: &str, action: AlertAction) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    match action {
        AlertAction::List { open } => {
            for a in store.alerts(open).await? {
                let state = match (&a.acked_at, &a.acked_by) {
                    (Some(t), Some(by)) => format!("acked by {by} at {}", t.format("%H:%M:%S")),
                    _ => "OPEN".into(),
                };
                println!(
                    "{}  {}  [{}] {}  ({state})",
                    a.alert.alert_id,
                    a.alert.at.format("%Y-%m-%d %H:%M:%S"),
                    a.alert.rule,
                    a.alert.message
                );
            }
        }
        AlertAction::Ack { alert_id, officer } => {
            if !store.ack_alert(&alert_id, &officer, Utc::now()).await? {
                anyhow::bail!("no open alert {alert_id}");
            }
            println!("acknowledged {alert_id}");
        }
    }
    Ok(())
}

/// Print the newest refused payloads: when, why, from whom, how big. The payload itself may
/// hold personal data and stays in the database.
#[allow(clippy::print_stdout)] // a CLI command's report
pub async fn rejected(db: &str, limit: u32) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    for r in store.rejected(limit).await? {
        let from = match &r.origin {
            Some((site, edge, seq)) => format!("{site}/{edge} seq {seq}"),
            None => "unsequenced".into(),
        };
        println!(
            "{}  {:<14} {from}  {} bytes  on {}: {}",
            r.received_at.format("%Y-%m-%d %H:%M:%S"),
            r.reason,
            r.payload_bytes,
            r.topic.escape_debug(),
            r.detail.escape_debug()
        );
    }
    Ok(())
}

//! `gatewatch erase`: take a vehicle's plate out of everything the system keeps, on request
//! (a resident moving out, a court's order). The database is erased at once, in one audited
//! transaction (see `gatewatch_store::erasure`); the aggregator that holds the ingest lease
//! tells every gate box within 2 s (a retained MQTT message: a gate box that is offline gets it
//! when it reconnects) and each box rewrites its spool and acknowledges. `--wait-s` waits for
//! those acknowledgements and prints how long each took; `--status` lists the erasures of the
//! last 30 days with the boxes that have carried them out and those that have not yet.

#![allow(clippy::print_stdout)] // a CLI command's report, for the admin at the terminal

use std::time::{Duration, Instant};

use chrono::Utc;
use gatewatch_store::Store;

#[derive(clap::Args)]
pub struct EraseArgs {
    /// The plate, as written (normalised: "京A·12345" is 京A12345).
    #[arg(long, required_unless_present = "status")]
    plate: Option<String>,
    /// Why: a request or case number, kept in the audit log.
    #[arg(long, required_unless_present = "status")]
    reason: Option<String>,
    /// Who asks for it (kept in the audit log as cli:NAME).
    #[arg(long, required_unless_present = "status")]
    by: Option<String>,
    /// Show the erasures of the last 30 days and which gate boxes have carried them out.
    #[arg(long, conflicts_with_all = ["plate", "reason", "by"])]
    status: bool,
    /// With --plate: wait up to this many seconds for every gate box the centre knows to
    /// acknowledge (0: do not wait).
    #[arg(long, default_value_t = 0)]
    wait_s: u64,
}

pub async fn run(db: &str, args: EraseArgs) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    if args.status {
        return status(&store).await;
    }
    let (Some(plate), Some(reason), Some(by)) = (args.plate, args.reason, args.by) else {
        anyhow::bail!("--plate, --reason and --by are needed");
    };
    let plate = gatewatch_core::plate::normalize(&plate).map_err(|e| anyhow::anyhow!("--plate: {e}"))?;
    for (what, text, max) in [("--reason", &reason, 500), ("--by", &by, 64)] {
        gatewatch_core::text::check_free_text(text, max).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        if text.trim().is_empty() {
            anyhow::bail!("{what} is empty");
        }
    }
    let started = Instant::now();
    let r = store.erase_plate(&plate, &format!("cli:{by}"), &reason, Utc::now()).await?;
    println!(
        "erasure {} (plate sha256 {}): the database took {} ms",
        r.erasure_id,
        &r.plate_sha256[..16],
        started.elapsed().as_millis()
    );
    println!(
        "  plate reads erased {}, pictures of their tracks {}, alerts {}, visits {}, list entries {}, refused payloads {}, audit lines and notes redacted {}",
        r.events, r.pictures, r.alerts, r.visits, r.list_entries, r.rejected, r.redacted
    );
    if !r.kept_on.is_empty() {
        println!(
            "  still on the police's {} list(s): those entries stay until `gatewatch lists remove`",
            r.kept_on.join(", ")
        );
    }
    let edges = store.known_edges().await?;
    println!("  the gate boxes ({}) are told by the aggregator holding the ingest lease", edges.len());
    if args.wait_s == 0 {
        return Ok(());
    }
    let deadline = started + Duration::from_secs(args.wait_s);
    let mut shown = std::collections::BTreeSet::new();
    loop {
        let status = store.erasure_status(Utc::now() - chrono::Duration::days(1)).await?;
        let acks = status.iter().find(|s| s.erasure.id == r.erasure_id).map(|s| s.acks.clone()).unwrap_or_default();
        for (site, edge, at, events) in &acks {
            if shown.insert((site.clone(), edge.clone())) {
                let after = (*at
                    - status
                        .iter()
                        .find(|s| s.erasure.id == r.erasure_id)
                        .map(|s| s.erasure.requested_at)
                        .unwrap_or(*at))
                .num_milliseconds();
                println!(
                    "  {site}/{edge}: spool erased ({events} events) {:.1} s after the request",
                    after as f64 / 1000.0
                );
            }
        }
        let missing: Vec<String> = edges
            .iter()
            .filter(|e| !acks.iter().any(|a| (&a.0, &a.1) == (&e.0, &e.1)))
            .map(|(s, e)| format!("{s}/{e}"))
            .collect();
        if missing.is_empty() {
            println!("  done everywhere in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        if Instant::now() >= deadline {
            println!("  not yet acknowledged (offline? they carry it out when back): {}", missing.join(", "));
            std::process::exit(3);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn status(store: &Store) -> anyhow::Result<()> {
    let edges = store.known_edges().await?;
    let list = store.erasure_status(Utc::now() - chrono::Duration::days(30)).await?;
    println!("{:<38} {:<17} {:<20} {:<24} gate boxes done", "erasure", "plate sha256", "requested (UTC)", "by");
    for s in &list {
        let missing: Vec<String> = edges
            .iter()
            .filter(|e| !s.acks.iter().any(|a| (&a.0, &a.1) == (&e.0, &e.1)))
            .map(|(a, b)| format!("{a}/{b}"))
            .collect();
        println!(
            "{:<38} {:<17} {:<20} {:<24} {}/{}{}",
            s.erasure.id,
            &s.erasure.plate_sha256[..16],
            s.erasure.requested_at.format("%Y-%m-%d %H:%M:%S"),
            gatewatch_core::text::for_terminal(&s.requested_by),
            s.acks.len(),
            edges.len().max(s.acks.len()),
            if missing.is_empty() { String::new() } else { format!(" (waiting for {})", missing.join(", ")) }
        );
    }
    Ok(())
}

//! Watch-desk commands: list and show alerts, acknowledge, resolve or close one as a false
//! alarm; list refused payloads.

use chrono::Utc;
use clap::Subcommand;
use gatewatch_core::incident::{Action, AlertMessage};
use gatewatch_core::text::{check_free_text, for_terminal};
use gatewatch_store::{Store, StoredAlert};

/// Longest officer name and note, in characters.
const MAX_OFFICER: usize = 64;
const MAX_NOTE: usize = 500;

#[derive(Subcommand)]
pub enum AlertAction {
    /// List alerts, newest first: id, time, state, sightings, rule, message.
    List {
        /// Only alerts not yet resolved or called a false alarm.
        #[arg(long)]
        open: bool,
        /// At most this many.
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
    /// One alert whole: its state, sightings and history.
    Show { alert_id: String },
    /// Acknowledge an alert: someone is on it.
    Ack {
        alert_id: String,
        #[arg(long)]
        officer: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve an alert (dealt with). The same incident raises again only after its cooldown.
    Resolve {
        alert_id: String,
        #[arg(long)]
        officer: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Close an alert as a false alarm; say why in the note.
    FalseAlarm {
        alert_id: String,
        #[arg(long)]
        officer: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[allow(clippy::print_stdout)] // a CLI command's report
pub async fn run(db: &str, action: AlertAction) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    let (alert_id, officer, note, act) = match action {
        AlertAction::List { open, limit } => {
            for a in store.alerts_page(open, i64::from(limit)).await? {
                println!("{}", line(&a));
            }
            return Ok(());
        }
        AlertAction::Show { alert_id } => {
            let Some(a) = store.alert(&alert_id).await? else { anyhow::bail!("no alert {alert_id}") };
            println!("{}", line(&a));
            println!("  incident  {}", for_terminal(&a.alert.key));
            println!("  camera    {}/{}/{} (latest sighting)", a.alert.site, a.alert.edge, a.alert.camera);
            println!("  last seen {}", a.status.last_seen.format("%Y-%m-%d %H:%M:%S"));
            for s in store.alert_sightings(&alert_id).await? {
                println!("  seen      {}  {}  event {}", s.at.format("%Y-%m-%d %H:%M:%S"), s.camera, s.event_id);
            }
            for h in store.alert_history(&alert_id).await? {
                println!(
                    "  history   {}  {:<12} {}{}",
                    h.at.format("%Y-%m-%d %H:%M:%S"),
                    h.action,
                    h.by.as_deref().map(|b| format!("by {}", for_terminal(b))).unwrap_or_else(|| "by the rules".into()),
                    h.note.as_deref().map(|n| format!(": {}", for_terminal(n))).unwrap_or_default()
                );
            }
            return Ok(());
        }
        AlertAction::Ack { alert_id, officer, note } => (alert_id, officer, note, Action::Acknowledge),
        AlertAction::Resolve { alert_id, officer, note } => (alert_id, officer, note, Action::Resolve),
        AlertAction::FalseAlarm { alert_id, officer, note } => (alert_id, officer, note, Action::FalseAlarm),
    };
    check_free_text(&officer, MAX_OFFICER).map_err(|e| anyhow::anyhow!("--officer: {e}"))?;
    if officer.trim().is_empty() {
        anyhow::bail!("--officer: say who you are");
    }
    if let Some(n) = &note {
        check_free_text(n, MAX_NOTE).map_err(|e| anyhow::anyhow!("--note: {e}"))?;
    }
    let msg = store.act_on_alert(&alert_id, act, &officer, note.as_deref(), Utc::now()).await?;
    let state = msg.status().state.as_str();
    match msg {
        AlertMessage::Closed { .. } => {
            println!("{alert_id} is now {state} (a running aggregator announces it within a second)")
        }
        _ => println!("{alert_id} is now {state}"),
    }
    Ok(())
}

/// One line per alert. Labels and messages come from configuration and the rules; their
/// control and format characters are printed escaped all the same.
fn line(a: &StoredAlert) -> String {
    format!(
        "{}  {}  {:<12} x{:<3} [{}] {}",
        a.alert.alert_id,
        a.alert.at.format("%Y-%m-%d %H:%M:%S"),
        a.status.state.as_str(),
        a.status.sightings,
        for_terminal(&a.alert.rule),
        for_terminal(&a.alert.message)
    )
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

/// Print in/out counts per gate line, class and hour over the last `hours`, then in, out and
/// in minus out per compound over that time.
#[allow(clippy::print_stdout)] // a CLI command's report
pub async fn counts(db: &str, hours: u32) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    let since = Utc::now() - chrono::Duration::hours(i64::from(hours));
    // No upper bound: a camera whose clock runs ahead still counts.
    let events = store.events_captured("line_crossed", since, gatewatch_core::event::latest()).await?;
    let counts = gatewatch_core::lines::tally(&events);
    println!(
        "{:<16} {:<24} {:<12} {:<10} {:<17} {:>5} {:>5}",
        "site", "camera", "line", "class", "hour (UTC)", "in", "out"
    );
    let mut sites = std::collections::BTreeMap::<&str, (u64, u64)>::new();
    for (k, (i, o)) in &counts {
        println!(
            "{:<16} {:<24} {:<12} {:<10} {:<17} {i:>5} {o:>5}",
            k.site,
            k.camera,
            k.line,
            k.class.as_str(),
            k.hour.format("%Y-%m-%d %H:00")
        );
        let s = sites.entry(&k.site).or_default();
        s.0 += i;
        s.1 += o;
    }
    for (site, (i, o)) in sites {
        println!("{site}: {i} in, {o} out, net {:+} over the last {hours} h", i as i64 - o as i64);
    }
    Ok(())
}

/// Print visits, newest first: state, plate, entry and exit (UTC) with their gates, and how
/// long the vehicle stayed; then how many are inside per compound among those shown.
#[allow(clippy::print_stdout)] // a CLI command's report
pub async fn visits(
    db: &str,
    inside: bool,
    site: Option<String>,
    plate: Option<String>,
    limit: u32,
) -> anyhow::Result<()> {
    if let Some(s) = &site
        && !gatewatch_core::topic::valid_id(s)
    {
        anyhow::bail!("--site {s:?} is not a site id (1-64 of A-Z a-z 0-9 _ -)");
    }
    let plate =
        plate.map(|p| gatewatch_core::plate::normalize(&p).map_err(|e| anyhow::anyhow!("--plate: {e}"))).transpose()?;
    let store = Store::open(db).await?;
    let filter = gatewatch_store::VisitFilter { site, plate, inside_only: inside, limit: i64::from(limit) };
    let visits = store.visits(&filter).await?;
    let when = |t: Option<chrono::DateTime<Utc>>, cam: &Option<String>| match (t, cam) {
        (Some(t), Some(c)) => format!("{} at {}", t.format("%Y-%m-%d %H:%M:%S"), for_terminal(c)),
        _ => "-".to_string(),
    };
    println!("{:<11} {:<10} {:<12} {:<40} {:<40} stayed", "state", "site", "plate", "entered (UTC)", "left (UTC)");
    let mut per_site = std::collections::BTreeMap::<&str, u64>::new();
    for v in &visits {
        let stayed = match (v.entered_at, v.left_at) {
            (Some(a), Some(b)) => format!("{} min", (b - a).num_minutes()),
            (Some(a), None) if v.state == "inside" => format!("{} min so far", (Utc::now() - a).num_minutes()),
            _ => "-".into(),
        };
        println!(
            "{:<11} {:<10} {:<12} {:<40} {:<40} {stayed}",
            v.state,
            v.site,
            for_terminal(&v.plate),
            when(v.entered_at, &v.entry_camera),
            when(v.left_at, &v.exit_camera)
        );
        if v.state == "inside" {
            *per_site.entry(&v.site).or_default() += 1;
        }
    }
    for (site, n) in per_site {
        println!("{site}: {n} vehicles inside");
    }
    Ok(())
}

//! `gatewatch`: one binary, a subcommand per role. It only wires the crates together.

mod bench;
mod demo;
mod desk;
mod erase;
mod eval;
mod eval_clips;
mod eval_controlled;
mod lists;
mod reload;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gatewatch_core::config::{AggregatorConfig, EdgeConfig};

#[derive(Parser)]
#[command(name = "gatewatch", version, about = "Video analytics for residential compound gates")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an edge worker (one gate box): cameras → detection → tracks → events → MQTT.
    Edge {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the aggregator: MQTT events → rules → SQLite or PostgreSQL → alerts.
    Aggregator {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Serve the watch desk (officers' web pages) over the database of an aggregator config
    /// (its `[database]`, `[desk]` and the rules' local time).
    Desk {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run broker, aggregator and an edge on the sample clip with the watch desk; print alerts
    /// live, the desk's address and a one-time login, and keep the desk up until Ctrl-C.
    Demo {
        /// Clip to play instead of media/vtest.avi.
        #[arg(long)]
        clip: Option<String>,
        /// Keep the demo database here instead of a temporary file.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Also read plates of vehicle tracks, ignoring plate detections below this score
        /// (0.7 suits Chinese plates; other countries' plates score about 0.6).
        #[arg(long, num_args = 0..=1, default_missing_value = "0.7")]
        plates: Option<f32>,
        /// Exit when the clip ends instead of keeping the desk up (for scripts and tests).
        #[arg(long)]
        exit_at_end: bool,
        /// Serve the desk on this address (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        desk: String,
    },
    /// Frames per second, measured: decode-only, inference-only and end to end with 1..N
    /// streams, latency, CPU and memory; a table and, with --json, a file.
    Bench(bench::BenchArgs),
    /// Check configuration files; every error is reported. The kind is taken from the content
    /// (an edge file has `cameras`).
    CheckConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The watch desk's users (officers, admins): add, list, disable, reset a password.
    Users {
        /// Database URL, as for `lists` (default $GATEWATCH_DB, else sqlite://gatewatch.db).
        #[arg(long)]
        db: Option<String>,
        #[command(subcommand)]
        action: users::UserAction,
    },
    /// Manage the plate lists (wanted, stolen, banned, resident, visitor) in the database.
    Lists {
        /// Database URL (sqlite://gatewatch.db or postgres://user@host/gatewatch); default
        /// $GATEWATCH_DB, else sqlite://gatewatch.db. A password belongs in GATEWATCH_DB (or
        /// PGPASSWORD), never here: the command line is visible to every user in `ps`.
        #[arg(long)]
        db: Option<String>,
        #[command(subcommand)]
        action: lists::ListAction,
    },
    /// Measure plate reading or the edge pipeline against ground truth.
    Eval {
        #[command(subcommand)]
        what: EvalWhat,
    },
    /// In/out counts at the gates' lines per hour (UTC), and in minus out per compound.
    Counts {
        /// Database URL, as for `alerts`; default $GATEWATCH_DB, else sqlite://gatewatch.db.
        #[arg(long)]
        db: Option<String>,
        /// Hours back from now (default 24).
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// Visits (entries and exits paired across a compound's gates), newest first; plates are
    /// personal data.
    Visits {
        /// Database URL, as for `alerts`; default $GATEWATCH_DB, else sqlite://gatewatch.db.
        #[arg(long)]
        db: Option<String>,
        /// Only vehicles inside now.
        #[arg(long)]
        inside: bool,
        /// Only this compound (site id).
        #[arg(long)]
        site: Option<String>,
        /// Only this plate (as written; normalised, e.g. "京A·12345" is 京A12345).
        #[arg(long)]
        plate: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Payloads the aggregator refused (wrong schema, malformed, ...), newest first.
    Rejected {
        /// Database URL, as for `alerts`; default $GATEWATCH_DB, else sqlite://gatewatch.db.
        #[arg(long)]
        db: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Erase a vehicle's plate everywhere (database, pictures, the gate boxes' spools), on
    /// request; audited. `--status` shows past erasures and which gate boxes carried them out.
    Erase {
        /// Database URL, as for `alerts`; default $GATEWATCH_DB, else sqlite://gatewatch.db.
        #[arg(long)]
        db: Option<String>,
        #[command(flatten)]
        args: erase::EraseArgs,
    },
    /// Watch-desk commands on the alert store.
    Alerts {
        /// Database URL (sqlite://gatewatch.db or postgres://user@host/gatewatch); default
        /// $GATEWATCH_DB, else sqlite://gatewatch.db. A password belongs in GATEWATCH_DB (or
        /// PGPASSWORD), never here: the command line is visible to every user in `ps`.
        #[arg(long)]
        db: Option<String>,
        #[command(subcommand)]
        action: desk::AlertAction,
    },
}

#[derive(Subcommand)]
enum EvalWhat {
    /// Plate detection and reading on a labels.csv (columns as in plates-dev).
    Plates(eval::EvalPlates),
    /// The edge pipeline on labelled clips: counts, zone stays and line crossings against
    /// ground truth (the formats of clips-dev), letterboxed and stretched side by side.
    Clips(eval_clips::EvalClips),
    /// Controlled 16:9 clips with exact ground truth (a person close up, a parked car), for
    /// `eval clips --set DIR/set.toml`.
    MakeControlled(eval_controlled::MakeControlled),
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,ort=warn".into()),
        )
        .with_target(false)
        // Colours only for a person at a terminal: not in journald, files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Edge { config } => run_edge(&config).await,
            Command::Aggregator { config } => run_aggregator(&config).await,
            Command::Demo { clip, db, plates, exit_at_end, desk } => {
                demo::run(demo::DemoArgs { clip, db, plates, exit_at_end, desk }).await
            }
            Command::Desk { config } => run_desk(&config).await,
            Command::CheckConfig { files } => check_config(&files),
            Command::Bench(args) => bench::run(args).await,
            Command::Alerts { db, action } => desk::run(&database_url(db)?, action).await,
            Command::Lists { db, action } => lists::run(&database_url(db)?, action).await,
            Command::Erase { db, args } => erase::run(&database_url(db)?, args).await,
            Command::Users { db, action } => users::run(&database_url(db)?, action).await,
            Command::Rejected { db, limit } => desk::rejected(&database_url(db)?, limit).await,
            Command::Counts { db, hours } => desk::counts(&database_url(db)?, hours).await,
            Command::Visits { db, inside, site, plate, limit } => {
                desk::visits(&database_url(db)?, inside, site, plate, limit).await
            }
            Command::Eval { what: EvalWhat::Plates(args) } => eval::run(args),
            // The pipeline blocks on its threads: off the async workers.
            Command::Eval { what: EvalWhat::Clips(args) } => tokio::task::block_in_place(|| eval_clips::run(args)),
            Command::Eval { what: EvalWhat::MakeControlled(args) } => {
                tokio::task::block_in_place(|| eval_controlled::run(args))
            }
        }
    })
}

/// The database of `alerts` and `lists`: `--db`, else `$GATEWATCH_DB`, else the default file.
/// A password on the command line is refused: `ps` shows it to every user of the machine.
fn database_url(arg: Option<String>) -> anyhow::Result<String> {
    if let Some(url) = arg {
        if gatewatch_core::config::redact_url(&url) != url {
            bail!(
                "--db carries a password, which every user of this machine can read with `ps`: \
                 put the URL in the GATEWATCH_DB environment variable (or the password in PGPASSWORD) instead"
            );
        }
        return Ok(url);
    }
    Ok(std::env::var("GATEWATCH_DB").unwrap_or_else(|_| "sqlite://gatewatch.db".into()))
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn config_error(path: &Path, errors: Vec<String>) -> anyhow::Error {
    anyhow::anyhow!("{} has {} error(s):\n  {}", path.display(), errors.len(), errors.join("\n  "))
}

async fn run_edge(path: &Path) -> anyhow::Result<()> {
    let cfg = EdgeConfig::from_toml(&read(path)?).map_err(|e| config_error(path, e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing tracks and flushing events");
        flag.store(true, Ordering::SeqCst);
    });
    let layouts = gatewatch_edge::layout::Layouts::new(&cfg);
    reload::edge_on_hangup(path.to_owned(), layouts.clone());
    let metrics = gatewatch_edge::metrics::EdgeMetrics::new(&cfg);
    let report = gatewatch_edge::run_with(cfg, stop, Duration::from_secs(30), layouts, metrics).await?;
    tracing::info!(
        frames = report.frames_decoded(),
        inferred = report.frames_inferred(),
        events = report.delivery.spooled,
        refused = report.delivery.refused,
        unacked = report.delivery.unacked,
        dropped = report.delivery.spool.dropped(),
        "edge stopped"
    );
    Ok(())
}

async fn run_aggregator(path: &Path) -> anyhow::Result<()> {
    let mut cfg = AggregatorConfig::from_toml(&read(path)?).map_err(|e| config_error(path, e))?;
    let rules = reload::aggregator_on_hangup(path.to_owned(), cfg.clone());
    let mut aggregator = gatewatch_aggregator::Aggregator::new(cfg.clone()).await?.with_rules_updates(rules.clone());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let desk = if cfg.desk.enabled {
        Some(gatewatch_desk::start(aggregator.store(), &cfg, rx.clone()).await.context("starting the watch desk")?.1)
    } else {
        None
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    // A lost lease (another aggregator took over) makes this one a standby again, with its
    // state read afresh from the database when it next holds the lease.
    let counters = loop {
        match aggregator.run(rx.clone()).await {
            Err(e) if e.is::<gatewatch_aggregator::LeaseLost>() && !*rx.borrow() => {
                tracing::warn!(error = %e, "back to standby");
                cfg.rules = rules.borrow().clone();
                let mut updates = rules.clone();
                updates.mark_unchanged();
                aggregator = gatewatch_aggregator::Aggregator::new(cfg.clone()).await?.with_rules_updates(updates);
            }
            ended => break ended?,
        }
    };
    if let Some(desk) = desk {
        desk.await??;
    }
    tracing::info!(
        stored = counters.stored,
        duplicates = counters.duplicates,
        rejected = counters.rejected_total(),
        alerts = counters.alerts,
        "aggregator stopped"
    );
    Ok(())
}

async fn run_desk(path: &Path) -> anyhow::Result<()> {
    let cfg = AggregatorConfig::from_toml(&read(path)?).map_err(|e| config_error(path, e))?;
    let store = gatewatch_store::Store::open(&cfg.database.url).await?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (_, served) = gatewatch_desk::start(store, &cfg, rx).await.context("starting the watch desk")?;
    shutdown_signal().await;
    let _ = tx.send(true);
    served.await??;
    Ok(())
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[allow(clippy::print_stdout)] // a CLI command's report
fn check_config(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut bad = 0;
    for path in files {
        let text = read(path)?;
        let is_edge = text.parse::<toml::Table>().map(|t| t.contains_key("cameras")).unwrap_or(false);
        let (kind, result) = if is_edge {
            ("edge", EdgeConfig::from_toml(&text).map(|_| ()))
        } else {
            ("aggregator", AggregatorConfig::from_toml(&text).map(|_| ()))
        };
        match result {
            Ok(()) => println!("{}: ok ({kind})", path.display()),
            Err(errors) => {
                bad += 1;
                println!("{}: {} error(s) ({kind})", path.display(), errors.len());
                for e in errors {
                    println!("  - {e}");
                }
            }
        }
    }
    if bad > 0 {
        bail!("{bad} of {} file(s) have errors", files.len());
    }
    Ok(())
}

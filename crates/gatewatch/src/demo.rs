//! `gatewatch demo`: the whole path on one machine, nothing to start by hand.
//!
//! Starts Mosquitto on a free loopback port, the aggregator on a fresh SQLite file, the watch
//! desk on it (with a `demo` admin and a one-time password, printed), and an edge worker on
//! the sample clip; prints alerts as the aggregator raises them, then frames per second, stage
//! timings and counts, and keeps the desk up until Ctrl-C (or exits, with `--exit-at-end`).
#![allow(clippy::print_stdout)] // the demo's output is for a person at a terminal

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use gatewatch_core::config::{AggregatorConfig, EdgeConfig};
use gatewatch_core::incident::AlertMessage;
use gatewatch_harness::Mosquitto;
use gatewatch_vision::detector::Timings;

const EDGE_TOML: &str = include_str!("../../../deploy/demo-edge.toml");
const AGGREGATOR_TOML: &str = include_str!("../../../deploy/demo-aggregator.toml");

/// What `gatewatch demo` was asked for.
pub struct DemoArgs {
    pub clip: Option<String>,
    pub db: Option<PathBuf>,
    pub plates: Option<f32>,
    pub exit_at_end: bool,
    /// The desk's address.
    pub desk: String,
}

/// The desk's login in the demo.
const DEMO_USER: &str = "demo";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let DemoArgs { clip, db, plates, exit_at_end, desk } = args;
    let broker = Mosquitto::start().context("starting mosquitto")?;
    let mut edge = EdgeConfig::from_toml(EDGE_TOML).map_err(|e| anyhow::anyhow!("demo edge config: {e:?}"))?;
    let mut agg =
        AggregatorConfig::from_toml(AGGREGATOR_TOML).map_err(|e| anyhow::anyhow!("demo aggregator config: {e:?}"))?;
    edge.mqtt.port = broker.port();
    agg.mqtt.port = broker.port();
    if let Some(clip) = clip {
        edge.cameras[0].uri = clip;
    }
    if let Some(threshold) = plates {
        edge.plates.enabled = true;
        edge.plates.score_threshold = threshold;
    }
    let tmp = std::env::temp_dir().join(format!("gatewatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    // Without --db, everything is thrown away afterwards. With it, the database and the edge's
    // spool beside it (`DB.spool/`: sequence numbers and track ids) are kept across runs, as a
    // real aggregator and gate box keep theirs: a second run adds its own events and alerts.
    let (db_path, spool_dir) = match db {
        Some(db) => {
            let spool = PathBuf::from(format!("{}.spool", db.display()));
            (db, spool)
        }
        None => (tmp.join("demo.db"), tmp.join("spool")),
    };
    agg.database.url = format!("sqlite://{}", db_path.display());
    edge.spool.dir = spool_dir;
    println!("gatewatch demo: broker on 127.0.0.1:{}, database {}", broker.port(), db_path.display());
    println!("camera {} plays {}", edge.cameras[0].id, edge.cameras[0].uri);

    let (alert_tx, mut alert_rx) = tokio::sync::mpsc::unbounded_channel();
    agg.desk.listen = desk;
    let desk_cfg = agg.clone();
    let aggregator = gatewatch_aggregator::Aggregator::new(agg).await?.with_alert_channel(alert_tx);
    let store = aggregator.store();
    let (desk_stop, desk_stop_rx) = tokio::sync::watch::channel(false);
    let (desk_addr, desk_task) = start_desk(store.clone(), desk_cfg, desk_stop_rx).await?;
    let password = gatewatch_store::one_time_password();
    match store.add_user(DEMO_USER, gatewatch_store::Role::Admin, &password, chrono::Utc::now()).await {
        Err(gatewatch_store::UserError::Exists(_)) => {
            store.set_password(DEMO_USER, &password, chrono::Utc::now()).await?
        }
        other => other?,
    }
    println!("watch desk: http://{desk_addr}/  log in as {DEMO_USER} with the one-time password {password}");
    let counters = aggregator.counters();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let agg_task = tokio::spawn(aggregator.run(stop_rx));
    // Start the camera once the aggregator listens (else the first events wait for a replay).
    for _ in 0..200 {
        if counters.snapshot().subscribed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let printer = tokio::spawn(async move {
        let (mut raised, mut updated) = (0, 0);
        while let Some(msg) = alert_rx.recv().await {
            let a = msg.alert();
            match msg {
                AlertMessage::Raised { .. } => {
                    raised += 1;
                    println!("ALERT  {}  [{}] {}", a.at.format("%H:%M:%S"), a.rule, a.message);
                }
                AlertMessage::Updated { ref status, .. } => {
                    updated += 1;
                    println!(
                        "UPDATE {}  [{}] seen {} times: {}",
                        status.last_seen.format("%H:%M:%S"),
                        a.rule,
                        status.sightings,
                        a.message
                    );
                }
                AlertMessage::Closed { ref change, .. } => println!("CLOSED [{}] {}", a.rule, change.action),
            }
        }
        (raised, updated)
    });

    let spool_dir = edge.spool.dir.clone();
    let report = gatewatch_edge::run(edge, Arc::new(AtomicBool::new(false)), Duration::from_secs(30)).await?;

    // The edge returns once the aggregator has acknowledged every event as stored.
    let _ = stop_tx.send(true);
    let ingest = agg_task.await??;
    let (alerts, updates) = printer.await?;

    let secs = report.elapsed.as_secs_f64();
    let t: Timings = report.timings;
    println!();
    println!(
        "edge: {} frames decoded in {secs:.1} s = {:.1} frames/s; {} inferred = {:.1} inferred/s",
        report.frames_decoded(),
        report.frames_decoded() as f64 / secs,
        report.frames_inferred(),
        report.frames_inferred() as f64 / secs
    );
    println!(
        "detector per inferred frame: preprocess {:.1} ms, inference-only {:.1} ms, decode+NMS {:.2} ms",
        Timings::mean_ms(t.preprocess, t.calls),
        Timings::mean_ms(t.inference, t.calls),
        Timings::mean_ms(t.postprocess, t.calls)
    );
    if plates.is_some() {
        let p = report.plate_timings;
        let ms = |d: Duration, n: u64| if n == 0 { 0.0 } else { d.as_secs_f64() * 1000.0 / n as f64 };
        println!(
            "plates: {} vehicle crops searched ({:.1} ms each), {} plates read ({:.1} ms each), {} plate events",
            p.finds,
            ms(p.find, p.finds),
            p.reads,
            ms(p.read, p.reads),
            report.cameras.iter().map(|c| c.plates).sum::<u64>()
        );
    }
    println!(
        "events: {} spooled, {} refused, {} unacknowledged; aggregator stored {}, duplicates {}, rejected {}",
        report.delivery.spooled,
        report.delivery.refused,
        report.delivery.unacked,
        ingest.stored,
        ingest.duplicates,
        ingest.rejected_total()
    );
    let kinds = store.counts_by_kind().await?;
    println!("stored by kind: {}", kinds.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", "));
    let crossed = store
        .events_captured("line_crossed", gatewatch_core::event::earliest(), gatewatch_core::event::latest())
        .await?;
    let (ins, outs) = gatewatch_core::lines::tally(&crossed).values().fold((0, 0), |(i, o), (a, b)| (i + a, o + b));
    println!("line crossings: {ins} in, {outs} out");
    println!("alerts raised: {alerts}, updated: {updates}");
    drop(broker);
    if !db_path.starts_with(&tmp) {
        println!(
            "alerts are in {} (gatewatch alerts --db sqlite://{} list); the edge's spool is in {}",
            db_path.display(),
            db_path.display(),
            spool_dir.display()
        );
    }
    if !exit_at_end {
        println!("the watch desk stays up at http://{desk_addr}/ (log in as {DEMO_USER}); Ctrl-C to stop");
        crate::shutdown_signal().await;
    }
    let _ = desk_stop.send(true);
    desk_task.await??;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Start the desk on `[desk] listen`; if the default port is taken, on a free one instead.
async fn start_desk(
    store: gatewatch_store::Store,
    mut cfg: AggregatorConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    match gatewatch_desk::start(store.clone(), &cfg, stop.clone()).await {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            println!("{} is taken: the desk takes a free port instead", cfg.desk.listen);
            cfg.desk.listen = "127.0.0.1:0".into();
            Ok(gatewatch_desk::start(store, &cfg, stop).await?)
        }
        other => Ok(other.context("starting the watch desk")?),
    }
}

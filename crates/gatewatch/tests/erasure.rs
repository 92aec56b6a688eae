//! Erasure by plate, everywhere: `gatewatch erase --plate` on a centre (aggregator on SQLite,
//! a real Mosquitto) with two gate boxes on the real delivery path (spool, publisher, MQTT).
//! Gate A is online when asked; gate B was offline then, with events of the plate still in
//! its spool, and comes back later.
//!
//! Checked: the database erases at once (the command says what it took), gate A acknowledges
//! within the minute, the command names gate B as not yet done; when B is back it erases its
//! spool and acknowledges, and whatever it still had to deliver arrives erased. Afterwards the
//! plate's text and its track's picture are in no byte of the database files or of either
//! spool, while another car's plate and pictures are all still there. The times are printed.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use gatewatch_core::event::{Event, EventBody, PlateRead, SCHEMA_V1, Snapshot};
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_store::{AuditEntry, AuditFilter, Store};
use gatewatch_systests::Mosquitto;
use gatewatch_systests::{RunningAggregator, aggregator_config, edge_config, edge_publisher, free_port, init_tracing};

const PLATE: &str = "5AU5341";
const OTHER: &str = "B12345";
/// The promise: done everywhere that is online within this.
const LIMIT: Duration = Duration::from_secs(60);

fn picture(plate: &str) -> Snapshot {
    Snapshot::jpeg(4, 3, format!("\u{ff}\u{d8} the car of {plate}").as_bytes())
}

/// A car's visit on camera `lane` of `edge`: its plate read and its track's end, both with
/// pictures.
fn car(edge: &str, track: u64, plate: &str) -> [Event; 2] {
    let ev = |body| Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: edge.into(),
        camera: "lane".into(),
        seq: 0,
        captured_at: Utc::now(),
        body,
    };
    [
        ev(EventBody::PlateRead(PlateRead {
            track,
            plate: plate.into(),
            confidence: 0.93,
            reads: 3,
            stable: true,
            plate_snapshot: Some(picture(plate)),
            ..Default::default()
        })),
        ev(EventBody::TrackEnded {
            track,
            class: gatewatch_core::detection::ObjectClass::Car,
            duration_s: 4.0,
            detections: 12,
            best_score: 0.8,
            snapshot: Some(picture(plate)),
        }),
    ]
}

/// Every byte of every file under `dir`.
fn bytes_under(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(bytes_under(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap_or_default());
        }
    }
    out
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The plate's traces a byte search can find: its text and its picture (base64 in events).
fn traces(plate: &str) -> [String; 2] {
    [plate.to_string(), picture(plate).data]
}

async fn acked_by(store: &Store, id: &str, edge: &str) -> Option<chrono::DateTime<Utc>> {
    let status = store.erasure_status(Utc::now() - chrono::Duration::days(1)).await.ok()?;
    let s = status.into_iter().find(|s| s.erasure.id == id)?;
    s.acks.iter().find(|a| a.1 == edge).map(|a| a.2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plate_is_erased_from_the_database_and_every_spool_also_one_that_was_offline() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let db = dir.path().join("centre.db");
    let url = format!("sqlite://{}", db.display());
    let agg = RunningAggregator::start(aggregator_config(broker.port(), &db)).await;
    let store = agg.store.clone();

    // Gate A, online throughout: three visits of the plate and one of another car.
    let cfg_a = edge_config("north", "gate-a", broker.port(), &dir.path().join("spool-a"));
    let (tx_a, rx_a) = tokio::sync::mpsc::channel(64);
    let gate_a = tokio::spawn(edge_publisher(&cfg_a).run(rx_a, Duration::from_secs(30)));
    for (track, plate) in [(1, PLATE), (2, PLATE), (3, PLATE), (4, OTHER)] {
        for ev in car("gate-a", track, plate) {
            tx_a.send(ev).await.unwrap();
        }
    }
    // Gate B: one visit of each delivered, then offline with one more of each in its spool.
    let spool_b = dir.path().join("spool-b");
    let cfg_b = edge_config("north", "gate-b", broker.port(), &spool_b);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    for ev in car("gate-b", 11, PLATE).into_iter().chain(car("gate-b", 12, OTHER)) {
        tx.send(ev).await.unwrap();
    }
    drop(tx);
    assert_eq!(edge_publisher(&cfg_b).run(rx, Duration::from_secs(30)).await.unacked, 0);
    let mut offline = cfg_b.clone();
    offline.mqtt.port = free_port(); // nothing listens: the box is cut off
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    for ev in car("gate-b", 13, PLATE).into_iter().chain(car("gate-b", 14, OTHER)) {
        tx.send(ev).await.unwrap();
    }
    drop(tx);
    assert_eq!(edge_publisher(&offline).run(rx, Duration::from_secs(1)).await.unacked, 4, "kept in B's spool");
    let started = Instant::now();
    while store.seqs("north", "gate-a").await.unwrap().len() < 8 {
        assert!(started.elapsed() < LIMIT, "gate A's events were not stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The plate is also on a resident list, and an officer looked it up.
    let entry = ListEntry {
        kind: ListKind::Resident,
        plate: PLATE.into(),
        label: "flat 7".into(),
        valid_from: None,
        valid_to: None,
    };
    store.put_entry(&entry).await.unwrap();
    store
        .audit(&AuditEntry {
            at: Utc::now(),
            user: "officer".into(),
            action: "vehicle_lookup".into(),
            subject: PLATE.into(),
            detail: None,
            source: None,
        })
        .await
        .unwrap();

    // The request, as typed; the command waits 20 s for the gate boxes.
    let asked = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args([
            "erase",
            "--plate",
            "5au 5341",
            "--reason",
            "request 2026-17",
            "--by",
            "admin",
            "--wait-s",
            "20",
            "--db",
            &url,
        ])
        .output()
        .await
        .unwrap();
    let command_s = asked.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "gate B is offline: not done everywhere\n{stdout}");
    assert!(stdout.contains("north/gate-a: spool erased"), "{stdout}");
    assert!(stdout.contains("not yet acknowledged") && stdout.contains("north/gate-b"), "{stdout}");
    assert!(!stdout.contains(PLATE), "the command prints the plate's hash, not the plate:\n{stdout}");
    let erasure = store.erasure_status(Utc::now() - chrono::Duration::days(1)).await.unwrap().pop().unwrap();
    let at_a = acked_by(&store, &erasure.erasure.id, "gate-a").await.expect("gate A acknowledged");
    let online_s = (at_a - erasure.erasure.requested_at).num_milliseconds() as f64 / 1000.0;
    assert!(online_s < LIMIT.as_secs_f64(), "{online_s} s");
    // Gate A's spool holds nothing of the plate (it had acked events of it still on disk).
    drop(tx_a);
    assert_eq!(gate_a.await.unwrap().unacked, 0);
    let a_bytes = bytes_under(&dir.path().join("spool-a"));
    for t in traces(PLATE) {
        assert!(!holds(&a_bytes, &t), "gate A's spool still holds the plate");
    }

    // Gate B comes back: it erases its spool, acknowledges and delivers the rest.
    let back = Instant::now();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let gate_b = tokio::spawn(edge_publisher(&cfg_b).run(rx, Duration::from_secs(30)));
    let b_ack = loop {
        if let Some(at) = acked_by(&store, &erasure.erasure.id, "gate-b").await {
            break at;
        }
        assert!(back.elapsed() < LIMIT, "gate B did not acknowledge after coming back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let b_s = back.elapsed().as_secs_f64();
    assert!(b_ack > erasure.erasure.requested_at);
    drop(tx);
    assert_eq!(gate_b.await.unwrap().unacked, 0, "B delivered the rest");
    let ingest = agg.stop().await;

    // The database: the plate's reads are erased events (ids and sequence kept), the rest stays.
    let kinds: std::collections::BTreeMap<String, i64> = store.counts_by_kind().await.unwrap().into_iter().collect();
    assert_eq!((kinds["erased"], kinds["plate_read"], kinds["track_ended"]), (5, 3, 8), "{kinds:?}");
    assert_eq!(store.seqs("north", "gate-b").await.unwrap(), (1..=8).collect::<Vec<_>>());
    assert!(store.list_entries().await.unwrap().is_empty(), "the resident entry went");
    let audit = store.audit_log(&AuditFilter { limit: 20, ..Default::default() }).await.unwrap();
    assert!(audit.iter().any(|(_, e)| e.action == "plate_erased" && e.user == "cli:admin"), "{audit:?}");
    store.close().await;
    // The database files (the spools are checked on their own).
    let db_files: Vec<u8> = ["centre.db", "centre.db-wal"]
        .iter()
        .flat_map(|f| std::fs::read(dir.path().join(f)).unwrap_or_default())
        .collect();
    for t in traces(PLATE) {
        assert!(!holds(&db_files, &t), "the database files still hold the plate");
    }
    for t in traces(OTHER) {
        assert!(holds(&db_files, &t), "the other car is still there (and the search finds what is there)");
    }
    let b_bytes = bytes_under(&spool_b);
    for t in traces(PLATE) {
        assert!(!holds(&b_bytes, &t), "gate B's spool still holds the plate");
    }
    eprintln!(
        "erasure: request to done on the online gate box {online_s:.1} s (limit {} s); the gate box offline at the \
         request erased its spool and acknowledged {b_s:.1} s after it came back; the command took {command_s:.1} s \
         (waiting 20 s for the offline one); aggregator stored {} events, {} erased",
        LIMIT.as_secs(),
        ingest.stored,
        kinds["erased"],
    );
}

//! The aggregator process is SIGKILLed three times while an edge publishes 200 events/s,
//! and restarted each time: afterwards every event the edge produced is stored exactly once.
//! The aggregator is the real `gatewatch aggregator` binary; the edge is the real delivery
//! path (spool, publisher) fed with synthetic events; the broker is a real Mosquitto.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gatewatch_systests::{KillOnDrop, Mosquitto, edge_config, init_tracing, synthetic_edge};

const KILLS: usize = 3;

fn start_aggregator(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["aggregator", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("gatewatch aggregator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_killed_mid_run_loses_nothing() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let db = dir.path().join("agg.db");
    let config = dir.path().join("aggregator.toml");
    std::fs::write(
        &config,
        format!("[mqtt]\nport = {}\n[database]\nurl = \"sqlite://{}\"\n", broker.port(), db.display()),
    )
    .unwrap();
    let mut aggregator = KillOnDrop(start_aggregator(&config));

    let edge_cfg = edge_config("west", "gate-5", broker.port(), &dir.path().join("spool"));
    let run_for = Duration::from_secs(4 * KILLS as u64);
    let edge = tokio::spawn(async move { synthetic_edge(&edge_cfg, 200.0, run_for, Duration::from_secs(90)).await });
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(3)).await;
        aggregator.0.kill().unwrap(); // SIGKILL, mid-transaction or not
        aggregator.0.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        aggregator = KillOnDrop(start_aggregator(&config));
    }
    let (produced, delivered) = edge.await.unwrap();
    drop(aggregator);

    let store = gatewatch_store::Store::open(&format!("sqlite://{}", db.display())).await.unwrap();
    let seqs = store.seqs("west", "gate-5").await.unwrap();
    let stored: HashSet<String> = store.event_ids().await.unwrap().into_iter().collect();
    eprintln!(
        "aggregator kills: {KILLS}; produced {}, stored {}, publishes {}, replays {}",
        produced.len(),
        stored.len(),
        delivered.publishes,
        delivered.replays
    );
    assert_eq!(delivered.unacked, 0, "{delivered:?}");
    assert_eq!(seqs, (1..=produced.len() as i64).collect::<Vec<_>>(), "every seq once, no gap");
    assert_eq!(stored, produced.iter().map(|u| u.to_string()).collect::<HashSet<_>>());
}

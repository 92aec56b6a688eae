//! Service processes killed for real (SIGKILL), against a real Mosquitto:
//!
//! - the `gatewatch aggregator` process is killed three times while an edge publishes 200
//!   events/s, and restarted each time: afterwards every event the edge produced is stored
//!   exactly once (the edge is the real delivery path fed with synthetic events);
//! - a `gatewatch edge` process announces itself online in its retained status, and when it is
//!   killed the broker publishes its last will: offline, retained for whoever looks later.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gatewatch_core::config::MqttConfig;
use gatewatch_core::delivery::EdgeStatus;
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_systests::{KillOnDrop, Mosquitto, edge_config, free_port, init_tracing, repo_root, synthetic_edge};

const KILLS: usize = 3;

/// `gatewatch SERVICE --config CONFIG` as a child process.
fn start(service: &str, config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args([service, "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("gatewatch {service} starts: {e}"))
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
    let mut aggregator = KillOnDrop(start("aggregator", &config));

    let edge_cfg = edge_config("west", "gate-5", broker.port(), &dir.path().join("spool"));
    let run_for = Duration::from_secs(4 * KILLS as u64);
    let edge = tokio::spawn(async move { synthetic_edge(&edge_cfg, 200.0, run_for, Duration::from_secs(90)).await });
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(3)).await;
        aggregator.0.kill().unwrap(); // SIGKILL, mid-transaction or not
        aggregator.0.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        aggregator = KillOnDrop(start("aggregator", &config));
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

/// The next status message on the observer, decoded.
async fn next_status(obs: &mut MqttClient) -> EdgeStatus {
    let msg = tokio::time::timeout(Duration::from_secs(60), obs.recv()).await.expect("a status in time").unwrap();
    serde_json::from_slice(&msg.payload).expect("a status payload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_edge_leaves_its_retained_last_will() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    // An edge whose camera is away: it runs, reports the camera offline, and keeps retrying.
    let config = dir.path().join("edge.toml");
    let root = repo_root();
    std::fs::write(
        &config,
        format!(
            "site = \"east\"\nedge = \"gate-9\"\n[mqtt]\nport = {}\n[spool]\ndir = \"{}\"\n\
             [vision]\nmodel = \"{}\"\nonnxruntime = \"{}\"\n\
             [[cameras]]\nid = \"cam\"\nuri = \"rtsp://127.0.0.1:{}/none\"\n",
            broker.port(),
            dir.path().join("spool").display(),
            root.join("models/nanodet-m-416.onnx").display(),
            root.join("models/onnxruntime/libonnxruntime.so").display(),
            free_port(),
        ),
    )
    .unwrap();
    let mut edge = KillOnDrop(start("edge", &config));
    let status_topic = topic::status_topic("east", "gate-9");
    let mqtt = MqttConfig { port: broker.port(), ..Default::default() };
    let mut obs =
        MqttClient::connect(&mqtt, "observer", Session { subscribe: vec![status_topic.clone()], ..Default::default() })
            .unwrap();
    let online = next_status(&mut obs).await;
    assert!(online.online && online.floor.is_some(), "{online:?}");

    edge.0.kill().unwrap();
    edge.0.wait().unwrap();
    let will = next_status(&mut obs).await;
    assert_eq!(will, EdgeStatus { online: false, floor: None, spooled: 0, dropped: 0 });
    obs.disconnect().await;

    // Retained: a desk that connects later still learns the gate is gone.
    let mut late =
        MqttClient::connect(&mqtt, "late-observer", Session { subscribe: vec![status_topic], ..Default::default() })
            .unwrap();
    assert!(!next_status(&mut late).await.online);
}

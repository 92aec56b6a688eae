//! Service processes killed for real (SIGKILL), against a real Mosquitto:
//!
//! - the `gatewatch aggregator` process is killed three times while an edge publishes 200
//!   events/s, and restarted each time: afterwards every event the edge produced is stored
//!   exactly once (the edge is the real delivery path fed with synthetic events);
//! - a `gatewatch edge` process announces itself online in its retained status, and when it is
//!   killed the broker publishes its last will: offline, retained for whoever looks later;
//! - a `gatewatch edge` process stopped with SIGTERM publishes its own retained offline status
//!   (a clean disconnect triggers no last will);
//! - the aggregator is SIGKILLed while a person is in a watched zone: after the restart the
//!   loitering alert is raised once, dated when the dwell passed the limit;
//! - an edge with a camera online is SIGKILLed (a power cut at the gate box): from its last will
//!   the aggregator records the camera offline and alerts; the edge back closes the alert.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use gatewatch_core::config::MqttConfig;
use gatewatch_core::delivery::EdgeStatus;
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_systests::{
    KillOnDrop, Mosquitto, aggregator_toml, edge_config, free_port, init_tracing, repo_root, start_service,
    synthetic_edge,
};

const KILLS: usize = 3;

/// `gatewatch SERVICE --config CONFIG` as a child process, killed on drop.
fn start(service: &str, config: &std::path::Path) -> KillOnDrop {
    start_service(env!("CARGO_BIN_EXE_gatewatch"), service, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_killed_mid_run_loses_nothing() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let (config, url) = aggregator_toml(dir.path(), broker.port(), "");
    let mut aggregator = start("aggregator", &config);

    let edge_cfg = edge_config("west", "gate-5", broker.port(), &dir.path().join("spool"));
    let run_for = Duration::from_secs(4 * KILLS as u64);
    let edge = tokio::spawn(async move { synthetic_edge(&edge_cfg, 200.0, run_for, Duration::from_secs(90)).await });
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(3)).await;
        aggregator.0.kill().unwrap(); // SIGKILL, mid-transaction or not
        aggregator.0.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        aggregator = start("aggregator", &config);
    }
    let (produced, delivered) = edge.await.unwrap();
    drop(aggregator);

    let store = gatewatch_store::Store::open(&url).await.unwrap();
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

/// An edge config whose camera is away: the edge runs, reports the camera offline, and keeps
/// retrying until it is stopped.
fn edge_without_camera(dir: &std::path::Path, site: &str, edge: &str, port: u16) -> std::path::PathBuf {
    let config = dir.join(format!("{edge}.toml"));
    let root = repo_root();
    std::fs::write(
        &config,
        format!(
            "site = \"{site}\"\nedge = \"{edge}\"\n[mqtt]\nport = {port}\n[spool]\ndir = \"{}\"\n\
             [vision]\nmodel = \"{}\"\nonnxruntime = \"{}\"\n\
             [[cameras]]\nid = \"cam\"\nuri = \"rtsp://127.0.0.1:{}/none\"\n",
            dir.join(format!("spool-{edge}")).display(),
            root.join("models/nanodet-m-416.onnx").display(),
            root.join("models/onnxruntime/libonnxruntime.so").display(),
            free_port(),
        ),
    )
    .unwrap();
    config
}

/// A client that watches one edge's retained status.
fn status_observer(port: u16, name: &str, site: &str, edge: &str) -> MqttClient {
    let mqtt = MqttConfig { port, ..Default::default() };
    let session = Session { subscribe: vec![topic::status_topic(site, edge)], ..Default::default() };
    MqttClient::connect(&mqtt, name, session).unwrap()
}

/// The next status with this `online` value (an edge repeats its online status every few
/// seconds, so one may come before the one waited for).
async fn next_status_with(obs: &mut MqttClient, online: bool) -> EdgeStatus {
    loop {
        let status = next_status(obs).await;
        if status.online == online {
            return status;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_edge_leaves_its_retained_last_will() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let mut edge = start("edge", &edge_without_camera(dir.path(), "east", "gate-9", broker.port()));
    let mut obs = status_observer(broker.port(), "observer", "east", "gate-9");
    let online = next_status(&mut obs).await;
    assert!(online.online && online.floor.is_some(), "{online:?}");

    edge.0.kill().unwrap();
    edge.0.wait().unwrap();
    let will = next_status_with(&mut obs, false).await;
    assert_eq!(will, EdgeStatus { online: false, floor: None, spooled: 0, dropped: 0 });
    obs.disconnect().await;

    // Retained: a desk that connects later still learns the gate is gone.
    let mut late = status_observer(broker.port(), "late-observer", "east", "gate-9");
    assert!(!next_status(&mut late).await.online);
}

/// `systemctl stop` sends SIGTERM: the edge disconnects cleanly, so the broker sends no last
/// will. The edge must say "offline" itself, retained, before it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanly_stopped_edge_says_it_is_offline() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let mut edge = start("edge", &edge_without_camera(dir.path(), "east", "gate-8", broker.port()));
    let mut obs = status_observer(broker.port(), "observer", "east", "gate-8");
    let online = next_status(&mut obs).await;
    assert!(online.online, "{online:?}");

    let term = Command::new("kill").args(["-TERM", &edge.0.id().to_string()]).status().unwrap();
    assert!(term.success());
    let exit = edge.0.wait().unwrap();
    assert!(exit.success(), "a clean stop exits 0: {exit:?}");
    let stopped = next_status_with(&mut obs, false).await;
    assert!(stopped.floor.is_some(), "the edge's own offline status carries its spool floor: {stopped:?}");
    obs.disconnect().await;

    let mut late = status_observer(broker.port(), "late-observer", "east", "gate-8");
    let retained = next_status(&mut late).await;
    assert!(!retained.online, "the retained status says offline after a clean stop: {retained:?}");
}

/// Publish events as gate `north/gate-1` would (seq stamped), flushed.
async fn publish_events(port: u16, events: &[gatewatch_core::event::Event]) {
    let gate = MqttClient::connect(&MqttConfig { port, ..Default::default() }, "gate", Session::default()).unwrap();
    for ev in events {
        gate.publish(topic::events_topic(&ev.site, &ev.edge, &ev.camera), ev.encode()).await.unwrap();
    }
    gate.flush(Duration::from_secs(30)).await.unwrap();
    gate.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loiterer_present_across_an_aggregator_kill_is_alerted_once_on_time() {
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let rules = "[[rules.loitering]]\nname = \"shed\"\nzone = \"shed\"\nmin_dwell_s = 60.0\n";
    let (config, url) = aggregator_toml(dir.path(), broker.port(), rules);
    // Microseconds, as the store keeps times.
    let entered_at =
        chrono::DateTime::from_timestamp_micros(chrono::Utc::now().timestamp_micros() - 30_000_000).unwrap();
    let mut seq = 0;
    let mut event = |secs: i64, body: EventBody| {
        seq += 1;
        Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "north".into(),
            edge: "gate-1".into(),
            camera: "shed".into(),
            seq,
            captured_at: entered_at + chrono::Duration::seconds(secs),
            body,
        }
    };
    let tick = || EventBody::CameraStats {
        frames_decoded: 10,
        frames_inferred: 5,
        frames_dropped: 0,
        frames_gated: 0,
        period_s: 5.0,
        thumbnail: None,
    };
    let wait_stored = |n: i64| {
        let url = url.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(store) = gatewatch_store::Store::open(&url).await
                    && store.event_count().await.unwrap_or(0) >= n
                {
                    return store;
                }
                assert!(std::time::Instant::now() < deadline, "{n} events not stored in time");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    // A person walks into the shed zone; the camera reports for 30 s: not yet loitering.
    let mut aggregator = start("aggregator", &config);
    let mut sent = vec![event(0, EventBody::ZoneEntered { track: 4, class: ObjectClass::Person, zone: "shed".into() })];
    sent.extend((1..=6).map(|i| event(i * 5, tick())));
    // The aggregator's first connection has no broker session yet: resend until all are in.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        publish_events(broker.port(), &sent).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(store) = gatewatch_store::Store::open(&url).await
            && store.event_count().await.unwrap_or(0) >= sent.len() as i64
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the first events were never stored");
    }
    aggregator.0.kill().unwrap(); // SIGKILL with the person still inside
    aggregator.0.wait().unwrap();

    // Back up; the person stays on: at 60 s the dwell passes the limit.
    let mut aggregator = start("aggregator", &config);
    let later: Vec<Event> = (7..=14).map(|i| event(i * 5, tick())).collect();
    publish_events(broker.port(), &later).await; // queued for the aggregator's persistent session
    let store = wait_stored((sent.len() + later.len()) as i64).await;
    // Killed and restarted once more after the alert: it must not be raised again.
    aggregator.0.kill().unwrap();
    aggregator.0.wait().unwrap();
    let _aggregator = start("aggregator", &config);
    let last: Vec<Event> = (15..=16).map(|i| event(i * 5, tick())).collect();
    publish_events(broker.port(), &last).await;
    wait_stored((sent.len() + later.len() + last.len()) as i64).await;

    let alerts = store.alerts(false).await.unwrap();
    eprintln!("alerts: {:?}", alerts.iter().map(|a| (&a.alert.key, a.alert.at)).collect::<Vec<_>>());
    assert_eq!(alerts.len(), 1, "one loitering alert across two kills");
    assert_eq!(alerts[0].alert.track, Some(4));
    let on_time = entered_at + chrono::Duration::seconds(60);
    assert_eq!(alerts[0].alert.at, on_time, "dated when the dwell passed 60 s");
}

/// A gate box that loses power says nothing about its cameras: the broker's last will is all.
/// A real `gatewatch edge` plays vtest.avi at its own pace to a real `gatewatch aggregator` with a
/// 2 s camera-offline rule; the edge is SIGKILLed: the aggregator records the camera offline for
/// it and alerts; the edge starts again: the camera is back and the alert closes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_box_that_vanishes_raises_a_camera_offline_alert_closed_when_it_is_back() {
    use gatewatch_core::incident::AlertState;
    use gatewatch_core::rules::AlertKind;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let rules = "[[rules.camera_offline]]\nname = \"blind\"\nafter_s = 2.0\n";
    let (config, url) = aggregator_toml(dir.path(), broker.port(), rules);
    // Made (and migrated) before the aggregator starts, so the two never migrate at once.
    let db = gatewatch_store::Store::open(&url).await.unwrap();
    let _aggregator = start("aggregator", &config);
    let root = repo_root();
    let edge_toml = dir.path().join("edge.toml");
    std::fs::write(
        &edge_toml,
        format!(
            "site = \"east\"\nedge = \"gate-4\"\nstats_interval_s = 1.0\n[mqtt]\nport = {}\n[spool]\ndir = \"{}\"\n\
             [vision]\nmodel = \"{}\"\nonnxruntime = \"{}\"\n\
             [[cameras]]\nid = \"lane\"\nuri = \"{}\"\nrealtime = true\ndetect_fps = 2.0\n",
            broker.port(),
            dir.path().join("spool").display(),
            root.join("models/nanodet-m-416.onnx").display(),
            root.join("models/onnxruntime/libonnxruntime.so").display(),
            root.join("media/vtest.avi").display(),
        ),
    )
    .unwrap();
    let until = |what: &'static str, f: fn(&[gatewatch_store::StoredAlert]) -> bool| {
        let db = db.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(90);
            loop {
                let alerts = db.alerts(false).await.unwrap();
                if f(&alerts) {
                    return alerts;
                }
                assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}: {alerts:#?}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };

    let mut edge = start("edge", &edge_toml);
    // The camera is online and heard from (its heartbeats are stored).
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while db.counts_by_kind().await.unwrap().iter().all(|(k, n)| k != "camera_stats" || *n < 2) {
        assert!(std::time::Instant::now() < deadline, "the edge's camera never reported");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    edge.0.kill().unwrap(); // the power cut
    edge.0.wait().unwrap();
    let killed = std::time::Instant::now();
    let alerts = until("the blind-gate alert", |a| a.iter().any(|a| a.alert.kind == AlertKind::CameraOffline)).await;
    eprintln!("alert {:.1} s after the kill: {}", killed.elapsed().as_secs_f64(), alerts[0].alert.message);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!((a.alert.edge.as_str(), a.alert.camera.as_str()), ("gate-4", "lane"));
    assert!(a.alert.message.contains("last will"), "{}", a.alert.message);
    assert!(killed.elapsed() >= Duration::from_secs(2), "not before after_s");

    let _edge = start("edge", &edge_toml);
    let alerts = until("the alert to close", |a| a.iter().all(|a| a.status.state == AlertState::Resolved)).await;
    assert_eq!(alerts.len(), 1, "closed, not raised again: {alerts:#?}");
    let history = db.alert_history(&alerts[0].alert.alert_id.to_string()).await.unwrap();
    assert!(
        history.iter().any(|h| h.action == "ended" && h.note.as_deref().is_some_and(|n| n.starts_with("camera back")))
    );
    assert_eq!(db.seqs("east", "gate-4").await.unwrap().first(), Some(&1), "the record is not in the edge's sequence");
}

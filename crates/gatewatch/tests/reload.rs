//! Changes without a restart: a running `gatewatch aggregator` process gets SIGHUP.
//!
//! - with a bad file (an unknown key, a zero dwell): it refuses the file, logs every error at
//!   once, and keeps running on its old rules (people lingering raise nothing, as before);
//! - with a good file that adds a loitering rule: the same process raises an alert for each
//!   person lingering afterwards, and none for those before.
//!
//! And a running `gatewatch edge` on vtest.avi (played at its own pace) gets SIGHUP: a bad file
//! is refused with its errors while the camera goes on; a file whose zone has another name ends
//! the stays in the old zone and starts them in the new one, without a restart (the camera
//! never goes offline, the sequence goes on).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatewatch_core::event::{Event, EventBody};
use gatewatch_store::Store;
use gatewatch_systests::{KillOnDrop, Mosquitto, asset, edge_config, init_tracing, synthetic_edge};

fn write(config: &Path, port: u16, url: &str, rules: &str) {
    std::fs::write(config, format!("[mqtt]\nport = {port}\n[database]\nurl = \"{url}\"\n{rules}")).unwrap();
}

fn hangup(p: &KillOnDrop) {
    unsafe { libc::kill(p.0.id() as i32, libc::SIGHUP) };
}

/// Wait until the process's log (a file) holds `needle`; the log so far.
async fn log_says(log: &Path, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let mut text = String::new();
        std::fs::File::open(log).unwrap().read_to_string(&mut text).unwrap();
        if text.contains(needle) {
            return text;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the log never said {needle:?}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_good_rules_and_refuses_a_bad_file_keeping_the_old_ones() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let url = format!("sqlite://{}", dir.path().join("agg.db").display());
    let config = dir.path().join("aggregator.toml");
    write(&config, broker.port(), &url, "");
    let log = dir.path().join("aggregator.log");
    let aggregator = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_gatewatch"))
            .args(["aggregator", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    log_says(&log, "aggregator subscribed").await;
    let edge_cfg = edge_config("north", "gate-3", broker.port(), &dir.path().join("spool"));
    // 30 events/s for 2 s: 20 tracks, each entering "gate" and leaving after 1.5 s.
    let linger = || {
        let cfg = edge_cfg.clone();
        async move { synthetic_edge(&cfg, 30.0, Duration::from_secs(2), Duration::from_secs(60)).await }
    };
    let (before, delivered) = linger().await;
    assert_eq!(delivered.unacked, 0);

    // A bad file: refused with all its errors; the process keeps running as it was.
    write(
        &config,
        broker.port(),
        &url,
        "[[rules.loitering]]\nname = \"gate\"\nzone = \"gate\"\nmin_dwell_s = 0\ncolour = 1\n",
    );
    hangup(&aggregator);
    let text = log_says(&log, "configuration refused on reload").await;
    let refused = text.lines().find(|l| l.contains("configuration refused on reload")).unwrap();
    assert!(refused.contains("min_dwell_s") && refused.contains("colour"), "every error at once: {refused}");
    let (during, _) = linger().await;

    // A good file: the new rule applies to what comes next.
    write(&config, broker.port(), &url, "[[rules.loitering]]\nname = \"gate\"\nzone = \"gate\"\nmin_dwell_s = 1.0\n");
    hangup(&aggregator);
    log_says(&log, "rules reloaded").await;
    let (after, delivered) = linger().await;
    assert_eq!(delivered.unacked, 0);
    drop(aggregator);

    let store = Store::open(&url).await.unwrap();
    let alerts = store.alerts(false).await.unwrap();
    let stored = store.event_count().await.unwrap() as usize;
    eprintln!(
        "reload: events {} + {} + {}, stored {stored}, alerts {}",
        before.len(),
        during.len(),
        after.len(),
        alerts.len()
    );
    assert_eq!(stored, before.len() + during.len() + after.len(), "nothing lost across the reloads");
    let after_ids: std::collections::HashSet<String> = after.iter().map(|u| u.to_string()).collect();
    assert_eq!(alerts.len(), (after.len() + 1) / 3, "one alert per person lingering after the reload: {alerts:#?}");
    assert!(alerts.iter().all(|a| after_ids.contains(&a.alert.event_id.to_string())), "none for those before");
}

/// An edge on vtest.avi at its own pace, one zone (the whole picture, people) named `zone`;
/// `extra` goes into the camera's table.
fn write_edge(config: &Path, port: u16, spool: &Path, zone: &str, extra: &str) {
    let text = format!(
        "site = \"north\"\nedge = \"gate-4\"\n[mqtt]\nport = {port}\n[vision]\nmodel = \"{}\"\nonnxruntime = \"{}\"\n\
         [spool]\ndir = \"{}\"\n[[cameras]]\nid = \"plaza\"\nuri = \"{}\"\nrealtime = true\ndetect_fps = 5.0\n{extra}\n\
         [[cameras.zones]]\nname = \"{zone}\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\nclasses = [\"person\"]\n",
        asset("models/nanodet-m-416.onnx").display(),
        asset("models/onnxruntime/libonnxruntime.so").display(),
        spool.display(),
        asset("media/vtest.avi").display(),
    );
    std::fs::write(config, text).unwrap();
}

/// The next event on `sub` that `want` accepts (events before it are kept in `seen`).
async fn next_event(
    sub: &mut gatewatch_mqtt::MqttClient,
    seen: &mut Vec<Event>,
    want: impl Fn(&Event) -> bool,
) -> Event {
    let started = Instant::now();
    loop {
        let left = Duration::from_secs(60).saturating_sub(started.elapsed());
        let msg = tokio::time::timeout(left, sub.recv()).await.expect("the event came in time").expect("subscribed");
        let ev = Event::decode(&msg.payload, 1 << 20).expect("the edge's events decode");
        seen.push(ev.clone());
        if want(&ev) {
            return ev;
        }
    }
}

fn zone_of(ev: &Event) -> Option<(&'static str, &str)> {
    match &ev.body {
        EventBody::ZoneEntered { zone, .. } => Some(("entered", zone)),
        EventBody::ZoneLeft { zone, .. } => Some(("left", zone)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_gives_a_running_edge_new_zones_and_refuses_a_bad_file() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let mqtt = gatewatch_core::config::MqttConfig { port: broker.port(), ..Default::default() };
    let session = gatewatch_mqtt::client::Session {
        subscribe: vec!["gatewatch/v1/north/gate-4/+/events".into()],
        ..Default::default()
    };
    let mut sub = gatewatch_mqtt::MqttClient::connect(&mqtt, "reload-watch", session).unwrap();
    let started = Instant::now();
    while !sub.is_subscribed() {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (config, spool, log) = (dir.path().join("edge.toml"), dir.path().join("spool"), dir.path().join("edge.log"));
    write_edge(&config, broker.port(), &spool, "before", "");
    let edge = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_gatewatch"))
            .args(["edge", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info,ort=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut seen = Vec::new();
    next_event(&mut sub, &mut seen, |e| zone_of(e) == Some(("entered", "before"))).await;

    // A bad file: both errors in one line, the old zones stay.
    write_edge(&config, broker.port(), &spool, "before", "exit_grace_s = -1.0\nbrightness = 3");
    hangup(&edge);
    let text = log_says(&log, "configuration refused on reload").await;
    let refused = text.lines().find(|l| l.contains("configuration refused on reload")).unwrap();
    assert!(refused.contains("exit_grace_s") && refused.contains("brightness"), "every error at once: {refused}");

    // A good file: the zone renamed. Who was inside "before" leaves it; people are in "after".
    write_edge(&config, broker.port(), &spool, "after", "");
    hangup(&edge);
    log_says(&log, "configuration reloaded: zones and lines").await;
    let left = next_event(&mut sub, &mut seen, |e| zone_of(e) == Some(("left", "before"))).await;
    let entered = next_event(&mut sub, &mut seen, |e| zone_of(e) == Some(("entered", "after"))).await;
    // A little more, then stop.
    let until = entered.seq + 10;
    next_event(&mut sub, &mut seen, |e| e.seq >= until).await;
    drop(edge);

    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs[0], 1, "watched from the edge's first event");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "one unbroken sequence: no restart lost or repeated events");
    assert!(!seen.iter().any(|e| matches!(e.body, EventBody::CameraOffline { .. })), "the camera never went offline");
    let after_reload: Vec<_> = seen.iter().filter(|e| e.seq > left.seq).filter_map(zone_of).collect();
    assert!(
        !after_reload.contains(&("entered", "before")),
        "nobody enters the old zone after the reload: {after_reload:?}"
    );
    let before_reload = seen.iter().filter(|e| e.seq < left.seq).filter_map(zone_of).filter(|z| z.1 == "after").count();
    assert_eq!(before_reload, 0, "the new zone exists only after the reload");
    eprintln!(
        "edge reload: {} events, old zone left at seq {}, new zone entered at seq {}; {:?}",
        seen.len(),
        left.seq,
        entered.seq,
        after_reload
    );
}

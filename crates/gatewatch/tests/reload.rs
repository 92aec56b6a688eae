//! Changes without a restart: a running `gatewatch aggregator` process gets SIGHUP.
//!
//! - with a bad file (an unknown key, a zero dwell): it refuses the file, logs every error at
//!   once, and keeps running on its old rules (people lingering raise nothing, as before);
//! - with a good file that adds a loitering rule: the same process raises an alert for each
//!   person lingering afterwards, and none for those before.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatewatch_store::Store;
use gatewatch_systests::{KillOnDrop, Mosquitto, edge_config, init_tracing, synthetic_edge};

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

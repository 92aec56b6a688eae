//! A centre that survives a dead node: two `gatewatch aggregator` processes against one
//! PostgreSQL and one Mosquitto, with a loitering rule. An edge (the real delivery path, fed
//! with synthetic zone events at 100 events/s) publishes while the aggregator holding the ingest
//! lease is SIGKILLed, again and again, and restarted each time (as systemd would).
//!
//! Checked: the standby takes over within 10 s every time (the times are printed); every
//! event the edge produced is stored once; every loitering incident is one alert, stored once
//! and announced on the alerts topic at most once; the edge ends with nothing unacknowledged.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gatewatch_core::incident::AlertMessage;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_store::Store;
use gatewatch_systests::{
    KillOnDrop, LocalPostgres, Mosquitto, edge_config, init_tracing, start_service, synthetic_edge,
};

const KILLS: usize = 4;
/// The promise: a dead holder is replaced within this.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(10);

fn write_config(dir: &Path, node: &str, port: u16, url: &str) -> PathBuf {
    let path = dir.join(format!("{node}.toml"));
    let text = format!(
        "[mqtt]\nport = {port}\n[database]\nurl = \"{url}\"\n[ingest]\nnode = \"{node}\"\n\
         [[rules.loitering]]\nname = \"gate-linger\"\nzone = \"gate\"\nmin_dwell_s = 1.0\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path) -> KillOnDrop {
    start_service(env!("CARGO_BIN_EXE_gatewatch"), "aggregator", config)
}

/// The lease holder's node and epoch, once somebody holds it.
async fn holder(store: &Store) -> Option<(String, i64)> {
    let l = store.lease_state().await.ok().flatten()?;
    (l.remaining_ms > 0).then(|| (l.holder.split('/').next().unwrap_or_default().to_string(), l.epoch))
}

async fn wait_holder(store: &Store, other_than_epoch: i64) -> (String, i64) {
    let started = Instant::now();
    loop {
        if let Some((node, epoch)) = holder(store).await
            && epoch > other_than_epoch
        {
            return (node, epoch);
        }
        assert!(started.elapsed() < Duration::from_secs(60), "nobody took the ingest lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_aggregator_killed_repeatedly_the_standby_takes_over_and_nothing_is_doubled() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let pg = LocalPostgres::start().expect("a throwaway PostgreSQL (deploy/setup.sh installs it)");
    let url = pg.database("failover").await.unwrap();
    let store = Store::open(&url).await.unwrap();
    let configs: BTreeMap<String, PathBuf> =
        ["agg-a", "agg-b"].iter().map(|n| (n.to_string(), write_config(dir.path(), n, broker.port(), &url))).collect();
    let mut running: BTreeMap<String, KillOnDrop> = configs.iter().map(|(n, c)| (n.clone(), start(c))).collect();
    let (mut active, mut epoch) = wait_holder(&store, 0).await;

    let mqtt = gatewatch_core::config::MqttConfig { port: broker.port(), ..Default::default() };
    let watch = Session { subscribe: vec![gatewatch_core::topic::ALERTS_FILTER.into()], ..Default::default() };
    let mut desk = MqttClient::connect(&mqtt, "failover-desk", watch).unwrap();
    let edge_cfg = edge_config("east", "gate-2", broker.port(), &dir.path().join("spool"));
    let run_for = Duration::from_secs(9 * KILLS as u64);
    let edge = tokio::spawn(async move { synthetic_edge(&edge_cfg, 100.0, run_for, Duration::from_secs(120)).await });

    let mut takeovers = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut dead = running.remove(&active).expect("the holder is one of ours");
        dead.0.kill().unwrap(); // SIGKILL, mid-transaction or not
        let killed = Instant::now();
        dead.0.wait().unwrap();
        let (next, next_epoch) = wait_holder(&store, epoch).await;
        takeovers.push(killed.elapsed());
        assert_ne!(next, active, "the survivor took over, not a ghost of the dead one");
        running.insert(active.clone(), start(&configs[&active]));
        (active, epoch) = (next, next_epoch);
    }
    let (produced, delivered) = edge.await.unwrap();
    // Stop both cleanly (SIGTERM): the holder publishes what it has and releases the lease.
    for (_, p) in running.iter() {
        unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    }
    for (_, mut p) in running {
        p.0.wait().unwrap();
    }

    let stored = store.event_ids().await.unwrap();
    let stored_set: HashSet<String> = stored.iter().cloned().collect();
    let alerts = store.alerts(false).await.unwrap();
    let mut per_track: BTreeMap<u64, usize> = BTreeMap::new();
    for a in &alerts {
        *per_track.entry(a.alert.track.expect("a loitering alert names its track")).or_default() += 1;
    }
    // Each third synthetic event (i % 3 == 2) is a track leaving the zone after 1.5 s.
    let expected: HashSet<u64> = (0..produced.len() as u64).filter(|i| i % 3 == 2).map(|i| i / 3).collect();
    let mut announced: BTreeMap<String, usize> = BTreeMap::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), desk.recv()).await {
        if let Ok(AlertMessage::Raised { alert, .. }) = serde_json::from_slice::<AlertMessage>(&msg.payload) {
            *announced.entry(alert.alert_id.to_string()).or_default() += 1;
        }
    }
    eprintln!(
        "failover: {KILLS} SIGKILLs of the lease holder; takeover after {:?} (limit {TAKEOVER_LIMIT:?}); \
         produced {}, stored {}, loitering alerts {} for {} tracks, raised on MQTT {}; publishes {}, replays {}",
        takeovers.iter().map(|d| format!("{:.2} s", d.as_secs_f64())).collect::<Vec<_>>(),
        produced.len(),
        stored.len(),
        alerts.len(),
        expected.len(),
        announced.len(),
        delivered.publishes,
        delivered.replays,
    );
    for t in &takeovers {
        assert!(*t < TAKEOVER_LIMIT, "takeover took {t:?}");
    }
    assert_eq!(delivered.unacked, 0, "everything acknowledged in the end: {delivered:?}");
    assert_eq!(stored.len(), stored_set.len(), "no event stored twice");
    assert_eq!(stored_set, produced.iter().map(|u| u.to_string()).collect::<HashSet<_>>());
    assert_eq!(per_track.keys().copied().collect::<HashSet<_>>(), expected, "one alert per track that lingered");
    assert!(per_track.values().all(|n| *n == 1), "no incident raised twice: {per_track:?}");
    assert!(announced.values().all(|n| *n == 1), "no alert announced twice: {announced:?}");
    let ids: HashSet<String> = alerts.iter().map(|a| a.alert.alert_id.to_string()).collect();
    assert!(announced.keys().all(|id| ids.contains(id)), "only stored alerts are announced");
}

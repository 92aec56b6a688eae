//! A real plate through the whole system: a clip made here from a real photo (a slow zoom
//! onto the car with plate 5AU5341, H.264 by GStreamer) → edge with plate reading → a real
//! Mosquitto → aggregator with the plate on its stolen list → one watchlist alert naming it.
//! The car passes twice with the view blank in between, so the tracker loses it and sees it
//! again as a second track (as a fragmented track or a second pass does): its reads are
//! sightings of the one alert, not a second alert.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gatewatch_aggregator::Aggregator;
use gatewatch_core::config::{AggregatorConfig, CameraConfig, DatabaseConfig, EdgeConfig, MqttConfig};
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_core::rules::AlertKind;
use gatewatch_systests::{Mosquitto, init_tracing, plates_config, vision_config};

const W: u32 = 512;
const H: u32 = 320;
const FPS: u32 = 10;

/// Blank frames between the passes: longer than the tracker's `max_lost_s` (2 s).
const GAP: u32 = 3 * FPS;

/// The zoom onto the car, the view blank for `GAP` frames, the zoom again.
fn two_passes() -> Vec<Vec<u8>> {
    gatewatch_systests::car_two_passes(W, H, FPS, GAP)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_plate_at_the_gate_raises_an_alert_naming_it() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("car-5AU5341.mp4");
    let frames = gatewatch_media::clip::write_mp4(&clip, W, H, FPS, two_passes()).unwrap();
    assert_eq!(frames, 80 + GAP as u64);

    let broker = Mosquitto::start().unwrap();
    let mqtt = MqttConfig { port: broker.port(), ..Default::default() };
    let agg_cfg = AggregatorConfig {
        mqtt: mqtt.clone(),
        database: DatabaseConfig { url: format!("sqlite://{}", dir.path().join("p.db").display()) },
        ..Default::default()
    };
    let aggregator = Aggregator::new(agg_cfg).await.unwrap();
    let store = aggregator.store();
    let entry = ListEntry::new(ListKind::Stolen, "5AU 5341", "reported stolen 2026-11-20", None, None).unwrap();
    store.put_entry(&entry).await.unwrap();
    let counters = aggregator.counters();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let agg = tokio::spawn(aggregator.run(stop_rx));

    let mut edge = EdgeConfig::from_toml(include_str!("../deploy/demo-edge.toml")).unwrap();
    edge.mqtt = mqtt;
    edge.vision = vision_config();
    edge.spool.dir = dir.path().join("spool");
    edge.plates = plates_config();
    edge.cameras = vec![CameraConfig {
        id: "lane-in".into(),
        uri: clip.display().to_string(),
        detect_fps: 10.0,
        zones: vec![],
        ..edge.cameras[0].clone()
    }];
    let report = gatewatch_edge::run(edge, Arc::new(AtomicBool::new(false)), Duration::from_secs(30)).await.unwrap();
    assert_eq!(report.frames_decoded(), 80 + GAP as u64);
    assert!(report.cameras[0].plates >= 2, "a plate per pass: {report:?}");

    assert_eq!(report.delivery.unacked, 0, "the edge returns once the aggregator acked everything");
    assert!(counters.snapshot().handled() >= report.delivery.spooled);
    stop_tx.send(true).unwrap();
    agg.await.unwrap().unwrap();

    let kinds: std::collections::BTreeMap<String, i64> = store.counts_by_kind().await.unwrap().into_iter().collect();
    assert!(kinds.get("plate_read").copied().unwrap_or(0) >= 1, "{kinds:?}");
    let alerts = store.alerts(false).await.unwrap();
    let watch: Vec<_> = alerts.iter().filter(|a| a.alert.kind == AlertKind::Watchlist).collect();
    assert_eq!(watch.len(), 1, "{alerts:#?}");
    let a = &watch[0].alert;
    assert_eq!(a.rule, "stolen");
    assert_eq!(a.plate.as_deref(), Some("5AU5341"));
    let m = a.matched.as_ref().unwrap();
    assert_eq!((m.entry_plate.as_str(), m.label.as_str()), ("5AU5341", "reported stolen 2026-11-20"));
    assert_eq!(m.distance, 0.0);

    // Both passes' reads are sightings of this one alert: two tracks, one incident.
    let tracks: std::collections::BTreeSet<u64> =
        store.track_ids("demo", "gate-1", "plate_read").await.unwrap().into_iter().collect();
    assert!(tracks.len() >= 2, "the car was seen as two tracks: {tracks:?}");
    let status = &watch[0].status;
    assert_eq!(status.sightings, kinds["plate_read"] as u64, "every read is a sighting");
    let seen = store.alert_sightings(&a.alert_id.to_string()).await.unwrap();
    assert_eq!(seen.len() as u64, status.sightings);
    assert!(counters.snapshot().alert_updates >= 1);
    assert_eq!(counters.snapshot().alerts, 1);
}

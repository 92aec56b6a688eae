//! A car parked in a fire lane across an edge restart, through the whole system: a clip made
//! from a real photo (20 s of a parked car; then, after the edge restarted, 17 s more of it and
//! the car moving off) → the real edge, stopped and started again on the same spool → a real
//! Mosquitto → the aggregator with a stationary rule of 15 s. The parking episode survives the
//! restart (the second run's track takes it over, with its first start), so the car raises one
//! alert, not one per run, and the alert closes by itself when the car drives off.
//!
//! Fails without the episode kept on disk: the second run would start the clock again and,
//! 15 s into its 17 still seconds, raise a second alert.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gatewatch_core::config::{CameraConfig, EdgeConfig, SpoolConfig, ZoneConfig};
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{EventBody, StationaryEnd};
use gatewatch_core::incident::AlertState;
use gatewatch_core::rules::{AlertKind, RulesConfig, StationaryRuleConfig};
use gatewatch_systests::{
    Mosquitto, RunningAggregator, aggregator_config, car_drive_off_frames, init_tracing, vision_config,
};

const W: u32 = 512;
const H: u32 = 320;

fn edge_config(clip: &std::path::Path, spool: &std::path::Path, port: u16) -> EdgeConfig {
    let mut edge = EdgeConfig::from_toml(include_str!("../../deploy/demo-edge.toml")).unwrap();
    edge.vision = vision_config();
    edge.plates.enabled = false;
    edge.mqtt.port = port;
    edge.spool = SpoolConfig { dir: spool.to_path_buf(), ..Default::default() };
    edge.cameras = vec![CameraConfig {
        id: "lane-cam".into(),
        uri: clip.display().to_string(),
        detect_fps: 5.0,
        zones: vec![ZoneConfig {
            name: "fire-lane".into(),
            polygon: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
            classes: vec![ObjectClass::Car, ObjectClass::Truck],
        }],
        lines: vec![],
        ..edge.cameras[0].clone()
    }];
    edge
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_car_parked_across_an_edge_restart_raises_one_alert_closed_when_it_drives_off() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = (dir.path().join("parked.mp4"), dir.path().join("parked-then-off.mp4"));
    gatewatch_media::clip::write_mp4(&before, W, H, 10, car_drive_off_frames(W, H, 200, 0, 0)).unwrap();
    gatewatch_media::clip::write_mp4(&after, W, H, 10, car_drive_off_frames(W, H, 170, 30, 20)).unwrap();

    let broker = Mosquitto::start().unwrap();
    let mut cfg = aggregator_config(broker.port(), &dir.path().join("centre.db"));
    cfg.rules = RulesConfig {
        stationary: vec![StationaryRuleConfig {
            name: "fire-lane".into(),
            zone: "fire-lane".into(),
            min_parked_s: 15.0,
            classes: vec![ObjectClass::Car, ObjectClass::Truck],
            window: None,
            cameras: vec![],
        }],
        ..Default::default()
    };
    let agg = RunningAggregator::start(cfg).await;
    let spool = dir.path().join("spool");
    for clip in [&before, &after] {
        let report = gatewatch_edge::run(
            edge_config(clip, &spool, broker.port()),
            Arc::new(AtomicBool::new(false)),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(report.delivery.unacked, 0, "everything delivered: {:?}", report.delivery);
    }

    let all = |kind: &'static str| {
        let store = agg.store.clone();
        async move {
            store
                .events_captured(kind, gatewatch_core::event::earliest(), gatewatch_core::event::latest())
                .await
                .unwrap()
        }
    };
    // (track, episode, since, zones, resumed) of every stationary_started, in capture order.
    let starts: Vec<_> = all("stationary_started")
        .await
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::StationaryStarted { track, episode, since, zones, resumed, .. } => {
                Some((track, episode, since, zones, resumed))
            }
            _ => None,
        })
        .collect();
    let ends: Vec<_> = all("stationary_ended")
        .await
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::StationaryEnded { episode, reason, stationary_s, .. } => Some((episode, reason, stationary_s)),
            _ => None,
        })
        .collect();
    eprintln!("stationary_started: {starts:?}\nstationary_ended: {ends:?}");
    // The photo holds the car and, small behind it, another one: each is its own episode.
    let (first, second): (Vec<_>, Vec<_>) = starts.iter().partition(|s| s.0 < 1000);
    assert!(!first.is_empty(), "the parked car is seen stationary in the first run: {starts:?}");
    assert_eq!(first.len(), second.len(), "each episode once per run: {starts:?}");
    for f in &first {
        assert!(!f.4 && f.0 == f.1, "the first run starts its episode: {f:?}");
        assert_eq!(f.3, vec!["fire-lane".to_string()], "in the zone");
        let s = second.iter().find(|s| s.1 == f.1).unwrap_or_else(|| panic!("episode {} taken over: {starts:?}", f.1));
        assert!(s.4 && s.0 > 1000, "by a track of the second run: {s:?}");
        assert_eq!(s.2, f.2, "with its first start: the clock did not restart");
        let end = ends.iter().find(|e| e.0 == f.1).unwrap_or_else(|| panic!("episode {} ended: {ends:?}", f.1));
        assert_eq!(end.1, StationaryEnd::Moved, "it drove off");
        assert!(end.2 >= 17.0, "parked through both runs: {} s", end.2);
    }
    assert_eq!(ends.len(), first.len(), "{ends:?}");

    let alerts = agg.store.alerts(false).await.unwrap();
    let parked: Vec<_> = alerts.iter().filter(|a| a.alert.kind == AlertKind::Stationary).collect();
    assert_eq!(parked.len(), first.len(), "one alert per parking episode, not one per run: {alerts:#?}");
    for f in &first {
        let key = format!("stationary:fire-lane:demo/gate-1/lane-cam:{}", f.1);
        let a = parked.iter().find(|a| a.alert.key == key).unwrap_or_else(|| panic!("{key}: {parked:#?}"));
        let due = f.2 + chrono::Duration::seconds(15);
        assert!(
            (a.alert.at - due).abs() < chrono::Duration::milliseconds(1),
            "dated when the limit passed: {}",
            a.alert.at
        );
        assert_eq!(a.status.state, AlertState::Resolved, "closed by itself");
        let history = agg.store.alert_history(&a.alert.alert_id.to_string()).await.unwrap();
        let closing = history.iter().find(|h| h.action == "ended").expect("closed by its rule");
        assert!(closing.note.as_deref().is_some_and(|n| n.starts_with("drove off after")), "{history:?}");
    }
    let snapshot = agg.stop().await;
    eprintln!("alerts raised {}, updated {}", snapshot.alerts, snapshot.alert_updates);
    assert_eq!(snapshot.alerts as usize, first.len());
}

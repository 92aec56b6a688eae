//! An alert's life as a desk sees it on MQTT, through a real Mosquitto and a running
//! aggregator: a stolen car read by one track and then by a second one (its track broke)
//! raises one alert and updates it; an officer's resolve, written to the database by another
//! process (the CLI, a desk), is announced as `closed`; a read within the cooldown raises nothing.
//! A camera that went offline is alerted by the aggregator's clock and closed when it is back.

use std::time::Duration;

use chrono::Utc;
use gatewatch_core::event::{Event, EventBody, PlateRead, SCHEMA_V1};
use gatewatch_core::incident::{Action, AlertMessage, AlertState};
use gatewatch_core::rules::{AlertKind, CameraOfflineConfig, RulesConfig, WatchlistConfig};
use gatewatch_core::topic;
use gatewatch_systests::{Centre, PATIENCE, eventually, next_alert as next};

fn read(camera: &str, track: u64, seq: u64, text: &str) -> Event {
    Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: "gate-9".into(),
        camera: camera.into(),
        seq,
        captured_at: Utc::now(),
        body: EventBody::PlateRead(PlateRead {
            track,
            plate: text.into(),
            confidence: 0.8 + track as f32 / 100.0,
            reads: 3,
            stable: true,
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_track_updates_one_alert_and_an_officers_close_is_announced() {
    let Centre { agg, mut desk, gate, _broker, _dir, .. } = Centre::start(RulesConfig {
        watchlist: vec![WatchlistConfig {
            name: "stolen-cfg".into(),
            plates: vec!["沪A77777".into()],
            cooldown_s: 600.0,
        }],
        ..Default::default()
    })
    .await;
    let send = |ev: Event| {
        let gate = &gate;
        async move { gate.publish(topic::events_topic(&ev.site, &ev.edge, &ev.camera), ev.encode()).await.unwrap() }
    };

    // Track 1 at the entry reads the plate; its track breaks and track 2 reads it at the exit.
    send(read("entry", 1, 1, "沪A77777")).await;
    let raised = next(&mut desk).await;
    let AlertMessage::Raised { alert, status } = &raised else { panic!("{raised:?}") };
    assert_eq!((alert.rule.as_str(), alert.camera.as_str(), status.sightings), ("stolen-cfg", "entry", 1));
    let id = alert.alert_id;
    send(read("exit", 2, 2, "沪A77777")).await;
    let updated = next(&mut desk).await;
    let AlertMessage::Updated { alert, status, change: None } = &updated else { panic!("{updated:?}") };
    assert_eq!((alert.alert_id, alert.camera.as_str(), alert.track, status.sightings), (id, "exit", Some(2), 2));

    // An officer resolves it in the database; the aggregator announces it.
    agg.store
        .act_on_alert(&id.to_string(), Action::Resolve, "王警官", Some("stopped at the exit"), Utc::now())
        .await
        .unwrap();
    let closed = next(&mut desk).await;
    let AlertMessage::Closed { alert, status, change } = &closed else { panic!("{closed:?}") };
    assert_eq!((alert.alert_id, status.state), (id, AlertState::Resolved));
    assert_eq!((change.by.as_deref(), change.note.as_deref()), (Some("王警官"), Some("stopped at the exit")));

    // Read again within the cooldown: stored, but no alert and no message.
    send(read("entry", 3, 3, "沪A77777")).await;
    eventually(PATIENCE, "the third read to be stored", || agg.counters.snapshot().stored >= 3).await;
    assert!(tokio::time::timeout(Duration::from_secs(2), desk.recv()).await.is_err(), "nothing announced");
    let all = agg.store.alerts(false).await.unwrap();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!((all[0].status.sightings, all[0].status.state), (2, AlertState::Resolved));
    let snapshot = agg.stop().await;
    assert_eq!((snapshot.alerts, snapshot.alert_updates), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_camera_is_alerted_by_the_clock_and_closed_when_back() {
    let Centre { agg, mut desk, gate, _broker, _dir, .. } = Centre::start(RulesConfig {
        camera_offline: vec![CameraOfflineConfig { name: "blind".into(), after_s: 3.0, cameras: vec![] }],
        ..Default::default()
    })
    .await;
    let event = |seq: u64, body: EventBody| {
        let ev = Event { seq, body, ..read("entry", 1, seq, "x") };
        (topic::events_topic(&ev.site, &ev.edge, &ev.camera), ev.encode())
    };

    let (t, down) = event(1, EventBody::CameraOffline { reason: "rtsp: 401 Unauthorized".into() });
    let sent = std::time::Instant::now();
    gate.publish(t, down).await.unwrap();
    let raised = next(&mut desk).await;
    let waited = sent.elapsed();
    let AlertMessage::Raised { alert, .. } = &raised else { panic!("{raised:?}") };
    assert_eq!((alert.kind, alert.camera.as_str()), (AlertKind::CameraOffline, "entry"));
    assert!(waited >= Duration::from_secs(2), "not before after_s (3 s): {waited:?}");
    let id = alert.alert_id;

    let (t, up) = event(2, EventBody::CameraOnline { width: 1920, height: 1080 });
    gate.publish(t, up).await.unwrap();
    let closed = next(&mut desk).await;
    let AlertMessage::Closed { alert, status, change } = &closed else { panic!("{closed:?}") };
    assert_eq!(
        (alert.alert_id, status.state, change.action.as_str(), change.by.as_deref()),
        (id, AlertState::Resolved, "ended", None)
    );
    assert!(change.note.as_deref().unwrap_or_default().starts_with("camera back after"), "{change:?}");
    assert_eq!(agg.stop().await.alerts, 1);
}

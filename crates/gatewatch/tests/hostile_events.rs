//! A running `gatewatch aggregator` process fed events the schema accepts but nobody sane
//! sends, among good ones: the `zone_left` with `dwell_s: 1e13` that once panicked the rules
//! (and stopped all central ingest), `f64::MAX`, times at the ends of what RFC 3339 can write,
//! ids and seqs at the top of their ranges. The process keeps running and storing, and no alert
//! is dated absurdly.

use std::time::{Duration, Instant};

use chrono::Utc;
use gatewatch_core::config::MqttConfig;
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{Event, EventBody, SCHEMA_V1, earliest, latest};
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_systests::{Mosquitto, aggregator_toml, init_tracing, start_service};

fn event(seq: u64, body: EventBody) -> Event {
    Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: "gate-1".into(),
        camera: "shed".into(),
        seq,
        captured_at: Utc::now(),
        body,
    }
}

fn left(track: u64, dwell_s: f64) -> EventBody {
    EventBody::ZoneLeft { track, class: ObjectClass::Person, zone: "shed".into(), dwell_s }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_valid_events_neither_stop_nor_fool_a_running_aggregator() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let rules = "[[rules.loitering]]\nname = \"shed\"\nzone = \"shed\"\nmin_dwell_s = 10.0\n";
    let (config, url) = aggregator_toml(dir.path(), broker.port(), rules);
    let mut aggregator = start_service(env!("CARGO_BIN_EXE_gatewatch"), "aggregator", &config);
    let gate =
        MqttClient::connect(&MqttConfig { port: broker.port(), ..Default::default() }, "gate", Session::default())
            .unwrap();
    let events_topic = topic::events_topic("north", "gate-1", "shed");
    let publish = |ev: Event| {
        let gate = &gate;
        let t = events_topic.clone();
        async move { gate.publish(t, ev.encode()).await.unwrap() }
    };

    // Until the aggregator listens, a probe is lost: probe until one is stored.
    let mut seq = 0;
    let started = Instant::now();
    let store = loop {
        seq += 1;
        publish(event(seq, left(seq, 1.0))).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Ok(store) = gatewatch_store::Store::open(&url).await
            && store.event_count().await.unwrap_or(0) > 0
        {
            break store;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the aggregator never stored a probe");
    };

    let mut hostile =
        vec![event(100, left(9, 1e13)), event(101, left(10, f64::MAX)), event(u64::MAX, left(u64::MAX, 1e300))];
    for (i, at) in [earliest(), latest()].into_iter().enumerate() {
        let mut ev = event(102 + i as u64, left(11 + i as u64, 1e13));
        ev.captured_at = at;
        hostile.push(ev);
    }
    for ev in &hostile {
        assert!(ev.validate().is_ok(), "schema-valid: {ev:?}");
        publish(ev.clone()).await;
    }
    let good: Vec<Event> = (0..10).map(|i| event(200 + i, left(100 + i, 30.0))).collect();
    for ev in &good {
        publish(ev.clone()).await;
    }
    gate.flush(Duration::from_secs(30)).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut all = true;
        for ev in good.iter().chain(&hostile) {
            all &= store.has_event(ev.event_id).await.unwrap();
        }
        if all {
            break;
        }
        assert!(aggregator.0.try_wait().unwrap().is_none(), "the aggregator process died");
        assert!(Instant::now() < deadline, "good and hostile events not all stored in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(aggregator.0.try_wait().unwrap().is_none(), "still running after the hostile events");

    // Each 30 s visit and each hostile leave is a loitering alert; none dated more than the
    // believed year before its event, none beyond the RFC 3339 range.
    let alerts = store.alerts(false).await.unwrap();
    assert!(alerts.len() >= good.len(), "the good visits still raise alerts: {}", alerts.len());
    for a in &alerts {
        let ev = good.iter().chain(&hostile).find(|e| e.event_id == a.alert.event_id);
        let Some(ev) = ev else { continue };
        let back = ev.captured_at - a.alert.at;
        assert!(back <= chrono::Duration::days(367), "alert dated {} for an event at {}", a.alert.at, ev.captured_at);
        assert!(a.alert.at >= earliest() && a.alert.at <= latest());
        assert!(!a.alert.message.contains("10000000000000"), "{}", a.alert.message);
    }
    assert!(store.rejected(10).await.unwrap().is_empty(), "nothing was refused: these are valid events");
}

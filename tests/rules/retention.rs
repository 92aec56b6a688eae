//! Retention as the aggregator runs it: at start (then hourly), on its own database, with the
//! lists it holds deciding which plate reads are a listed vehicle's.

use chrono::{Duration, Utc};
use gatewatch_core::event::{Event, EventBody, PlateRead, SCHEMA_V1};
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_systests::{Mosquitto, PATIENCE, RunningAggregator, aggregator_config, eventually};

fn read(plate: &str, days_ago: i64) -> Event {
    Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: "gate-1".into(),
        camera: "lane".into(),
        seq: 0,
        captured_at: Utc::now() - Duration::days(days_ago),
        body: EventBody::PlateRead(PlateRead {
            track: 1,
            plate: plate.into(),
            confidence: 0.9,
            valid: Some(true),
            candidates: vec![],
            reads: 3,
            stable: true,
            update: false,
            plate_snapshot: None,
            vehicle_snapshot: None,
        }),
    }
}

#[tokio::test]
async fn the_aggregator_forgets_an_unlisted_plate_after_its_age_and_keeps_a_listed_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let cfg = aggregator_config(broker.port(), &dir.path().join("r.db"));
    // What an earlier run stored: two reads 40 days old, one of a stolen car, and a fresh one.
    let store = gatewatch_store::Store::open(&cfg.database.url).await.unwrap();
    store.put_entry(&ListEntry::new(ListKind::Stolen, "京A12345", "case 7", None, None).unwrap()).await.unwrap();
    let (stranger, listed, fresh) = (read("沪C55555", 40), read("京A12345", 40), read("沪C55555", 1));
    for ev in [&stranger, &listed, &fresh] {
        store.commit(ev, &[]).await.unwrap();
    }
    store.close().await;

    let agg = RunningAggregator::start(cfg).await;
    eventually(PATIENCE, "the first retention pass", || agg.counters.snapshot().retention_runs >= 1).await;
    let ids = agg.store.event_ids().await.unwrap();
    assert!(!ids.contains(&stranger.event_id.to_string()), "an unlisted plate past 30 days is gone");
    assert!(ids.contains(&listed.event_id.to_string()), "the stolen car's read is kept");
    assert!(ids.contains(&fresh.event_id.to_string()));
    agg.stop().await;
}

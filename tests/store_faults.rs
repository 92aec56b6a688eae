//! The store failing under a running aggregator (a real Mosquitto, a real SQLite file held or
//! broken by a second connection):
//!
//! - locked by another writer: ingest waits and retries (backing off), the event is stored once
//!   the lock goes, nothing is lost and nothing is acked before its commit;
//! - locked, and the aggregator is asked to stop meanwhile: the retry loop ends promptly;
//! - broken for good (its events table gone): ingest stops with an error that names the cause,
//!   instead of retrying for ever.

use std::time::{Duration, Instant};

use gatewatch_core::config::MqttConfig;
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_systests::{
    Mosquitto, PATIENCE, RunningAggregator, aggregator_config, eventually, init_tracing, synthetic_event,
};
use sqlx::Connection;

/// Publish the `i`-th synthetic event of `west/gate-2` as its edge would (with a seq).
async fn publish(port: u16, i: u64) -> uuid::Uuid {
    let client =
        MqttClient::connect(&MqttConfig { port, ..Default::default() }, &format!("edge-{i}"), Session::default())
            .unwrap();
    let mut ev = synthetic_event("west", "gate-2", "cam", i);
    ev.seq = i + 1;
    client.publish(topic::events_topic("west", "gate-2", "cam"), ev.encode()).await.unwrap();
    client.flush(Duration::from_secs(30)).await.unwrap();
    client.disconnect().await;
    ev.event_id
}

/// A second connection holding the database's write lock until dropped or committed.
async fn lock(url: &str) -> sqlx::SqliteConnection {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
    conn
}

/// A broker and an aggregator on a fresh SQLite file (its URL); the directory lives as long as
/// the first value.
async fn start() -> (tempfile::TempDir, Mosquitto, String, RunningAggregator) {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start().unwrap();
    let db = dir.path().join("agg.db");
    let url = format!("sqlite://{}", db.display());
    let aggregator = RunningAggregator::start(aggregator_config(broker.port(), &db)).await;
    (dir, broker, url, aggregator)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_delays_ingest_and_a_stop_still_ends_it() {
    let (_dir, broker, url, aggregator) = start().await;
    let counters = aggregator.counters.clone();

    // Locked for longer than the store's 5 s busy timeout: at least one failed, retried write.
    let mut holder = lock(&url).await;
    let first = publish(broker.port(), 0).await;
    eventually(PATIENCE, "the event to arrive", || counters.snapshot().received == 1).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(counters.snapshot().stored, 0, "nothing can be stored while the lock is held");
    assert!(!aggregator.has_ended(), "a lock is transient: ingest waits, it does not give up");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    eventually(PATIENCE, "the event to be stored once the lock is gone", || counters.snapshot().stored == 1).await;
    assert!(aggregator.store.has_event(first).await.unwrap());

    // Locked again, and the service is told to stop (SIGTERM does this): it must not wait for
    // the lock for ever.
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut holder).await.unwrap();
    let second = publish(broker.port(), 1).await;
    eventually(PATIENCE, "the second event to arrive", || counters.snapshot().received == 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(15), aggregator.stop_result()).await;
    let took = asked.elapsed();
    eprintln!("stop during a lock took {took:.1?}");
    let snapshot = ended.expect("the retry loop ends on stop").expect("a stop is not an error");
    assert_eq!(snapshot.stored, 1, "the second event was never committed");
    assert!(took < Duration::from_secs(10), "at most one busy timeout (5 s) after the stop: {took:?}");
    drop(holder);
    let store = gatewatch_store::Store::open(&url).await.unwrap();
    assert!(!store.has_event(second).await.unwrap(), "not stored, so not acked: the edge keeps it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_no_retry_can_fix_stops_ingest_with_its_cause() {
    let (_dir, broker, url, aggregator) = start().await;
    // Someone "tidied" the database under the running service.
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE events RENAME TO events_old").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let started = Instant::now();
    publish(broker.port(), 0).await;
    eventually(Duration::from_secs(30), "ingest to stop by itself", || aggregator.has_ended()).await;
    eprintln!("ingest stopped {:.1?} after the event", started.elapsed());
    let err = aggregator.stop_result().await.expect_err("ingest ends with an error").to_string();
    assert!(err.contains("no such table: events"), "the cause is named: {err}");
    assert!(err.contains("retrying cannot fix"), "{err}");
}

//! The aggregator ingest phases: events through a local Mosquitto into SQLite and PostgreSQL,
//! with the demo's rules on.

use std::time::{Duration, Instant};

use super::measure::Meter;
use super::report::Phase;
use super::{BenchArgs, progress};

/// The aggregator ingest phases: SQLite, then PostgreSQL (`--ingest-pg-url`, else a throwaway
/// local server; skipped with a message when there is none).
pub(super) async fn ingest_phases(args: &BenchArgs) -> anyhow::Result<Vec<Phase>> {
    let mut phases = Vec::new();
    if args.ingest_events == 0 {
        return Ok(phases);
    }
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("ingest.db").display());
    progress(&format!("aggregator ingest: {} events through Mosquitto into SQLite, rules on", args.ingest_events));
    phases.push(ingest(args.ingest_events, &sqlite, "aggregator ingest").await?);
    // Kept alive until the phase is done; dropping it stops the server and removes it.
    let mut local = None;
    let pg_url = match &args.ingest_pg_url {
        Some(url) => Ok(url.clone()),
        None => match gatewatch_harness::LocalPostgres::start() {
            Ok(pg) => {
                let url = pg.database("ingest").await;
                local = Some(pg);
                url.map_err(anyhow::Error::from)
            }
            Err(e) => Err(e.into()),
        },
    };
    match pg_url {
        Ok(url) => {
            progress(&format!("aggregator ingest: {} events into PostgreSQL, rules on", args.ingest_events));
            phases.push(ingest(args.ingest_events, &url, "aggregator ingest postgres").await?);
        }
        Err(e) => progress(&format!("PostgreSQL ingest skipped: {e:#}")),
    }
    drop(local);
    Ok(phases)
}

/// The aggregator storing `n` events from a local Mosquitto into the database at `url` with the
/// demo's rules: events per second from the first publish to the last commit.
pub(super) async fn ingest(n: u64, url: &str, name: &str) -> anyhow::Result<Phase> {
    use gatewatch_core::config::{AggregatorConfig, MqttConfig};
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};
    let broker = gatewatch_harness::Mosquitto::start()?;
    let mqtt = MqttConfig { port: broker.port(), ..Default::default() };
    let mut cfg = AggregatorConfig::from_toml(include_str!("../../../../deploy/demo-aggregator.toml"))
        .map_err(|e| anyhow::anyhow!("demo aggregator config: {}", e.join("; ")))?;
    cfg.mqtt = mqtt.clone();
    cfg.database.url = url.to_string();
    let aggregator = gatewatch_aggregator::Aggregator::new(cfg).await?;
    let counters = aggregator.counters();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(aggregator.run(stop_rx));
    let publisher = gatewatch_mqtt::MqttClient::connect(&mqtt, "bench-gate", Default::default())?;
    let ready = Instant::now() + Duration::from_secs(30);
    while !(counters.snapshot().subscribed && publisher.is_connected()) {
        anyhow::ensure!(Instant::now() < ready, "aggregator or publisher not connected to the local broker");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let topic = gatewatch_core::topic::events_topic("bench", "gate", "cam");
    let start = chrono::Utc::now();
    let meter = Meter::start();
    for i in 0..n {
        let track = i / 3;
        let body = match i % 3 {
            0 => EventBody::ZoneEntered { track, class: ObjectClass::Person, zone: "crossing".into() },
            1 => EventBody::CameraStats {
                frames_decoded: 50,
                frames_inferred: 25,
                frames_dropped: 0,
                frames_gated: 0,
                period_s: 5.0,
                thumbnail: None,
            },
            _ => EventBody::ZoneLeft { track, class: ObjectClass::Person, zone: "crossing".into(), dwell_s: 30.0 },
        };
        let ev = Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "bench".into(),
            edge: "gate".into(),
            camera: "cam".into(),
            seq: i + 1,
            captured_at: start + chrono::Duration::milliseconds(i as i64 * 100),
            body,
        };
        publisher.publish(topic.clone(), ev.encode()).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while counters.snapshot().stored < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored = counters.snapshot().stored;
    let phase = Phase { name: name.into(), inferred: 0, ..meter.finish("ingest", 1, stored, 0) };
    let _ = stop_tx.send(true);
    task.await??;
    publisher.disconnect().await;
    anyhow::ensure!(stored == n, "only {stored} of {n} events stored within 10 minutes");
    Ok(phase)
}

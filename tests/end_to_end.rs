//! The whole path on real parts: vtest.avi → GStreamer → NanoDet (ort) → tracker and zones →
//! MQTT (a real Mosquitto started here) → aggregator → SQLite. Malformed payloads published
//! in the middle of the run are rejected and counted, and no good event is lost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chrono::Utc;
use gatewatch_aggregator::Aggregator;
use gatewatch_core::config::{AggregatorConfig, CameraConfig, DatabaseConfig, EdgeConfig, IngestConfig, MqttConfig};
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{Event, EventBody, PlateRead, SCHEMA_V1};
use gatewatch_core::rules::{AlertKind, LoiteringConfig, RulesConfig, WatchlistConfig};
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_systests::{
    Mosquitto, PATIENCE, asset, eventually, free_port, http_get, init_tracing, sample, vision_config,
};

const MAX_PAYLOAD: usize = 256 * 1024;

fn edge_config(port: u16, spool: &std::path::Path) -> EdgeConfig {
    let text = include_str!("../deploy/demo-edge.toml");
    let mut cfg = EdgeConfig::from_toml(text).expect("demo edge config is valid");
    cfg.site = "north".into();
    cfg.mqtt = MqttConfig { port, ..Default::default() };
    cfg.vision = vision_config();
    cfg.spool.dir = spool.to_path_buf();
    cfg.cameras = vec![CameraConfig {
        id: "plaza".into(),
        uri: asset("media/vtest.avi").display().to_string(),
        zones: cfg.cameras[0].zones.clone(),
        ..cfg.cameras[0].clone()
    }];
    cfg
}

fn aggregator_config(port: u16, db: &std::path::Path) -> AggregatorConfig {
    AggregatorConfig {
        mqtt: MqttConfig { port, ..Default::default() },
        database: DatabaseConfig { url: format!("sqlite://{}", db.display()) },
        ingest: IngestConfig { max_payload_bytes: MAX_PAYLOAD, ..Default::default() },
        rules: RulesConfig {
            loitering: vec![LoiteringConfig {
                name: "crossing-linger".into(),
                zone: "crossing".into(),
                min_dwell_s: 25.0,
                classes: vec![ObjectClass::Person],
                window: None,
                cameras: vec![],
            }],
            watchlist: vec![WatchlistConfig {
                name: "wanted".into(),
                plates: vec!["5AU 5341".into()],
                cooldown_s: 600.0,
            }],
            ..Default::default()
        },
        desk: Default::default(),
        retention: Default::default(),
        metrics: Default::default(),
    }
}

/// An event from a gate that the test itself plays (`north/gate-9/cam`).
fn injected(body: EventBody) -> Event {
    Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: "gate-9".into(),
        camera: "cam".into(),
        seq: 1,
        captured_at: Utc::now(),
        body,
    }
}

/// Bad payloads, each with the reason the aggregator must count it under.
fn bad_payloads() -> Vec<(String, Vec<u8>, &'static str)> {
    let good = injected(EventBody::CameraOnline { width: 1, height: 1 });
    let t = topic::events_topic("north", "gate-9", "cam");
    let json = String::from_utf8(good.encode()).unwrap();
    let mut out = vec![];
    for i in 0..10 {
        out.push((t.clone(), format!("not json {i}").into_bytes(), "malformed"));
        out.push((t.clone(), json.replace(SCHEMA_V1, "gatewatch.event.v2").into_bytes(), "schema"));
        out.push((t.clone(), json.replace("\"seq\":1", "\"seq\":\"one\"").into_bytes(), "malformed"));
        out.push((t.clone(), json.replace("\"cam\"", "\"c/a/m\"").into_bytes(), "invalid"));
        out.push((t.clone(), vec![b'{'; MAX_PAYLOAD + 1], "too_large"));
        out.push((topic::events_topic("north", "gate-8", "cam"), json.clone().into_bytes(), "topic_mismatch"));
    }
    out
}

/// [`http_get`], or none when nothing listens or the connection breaks.
async fn try_http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clip_to_alerts_through_a_real_broker() {
    init_tracing();
    let broker = Mosquitto::start().expect("mosquitto starts");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e2e.db");

    let mut cfg = aggregator_config(broker.port(), &db);
    let metrics_port = free_port();
    cfg.metrics.listen = Some(format!("127.0.0.1:{metrics_port}"));
    let aggregator = Aggregator::new(cfg).await.unwrap();
    let counters = aggregator.counters();
    let store = aggregator.store();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let agg = tokio::spawn(aggregator.run(stop_rx));
    eventually(PATIENCE, "the aggregator to subscribe", || counters.snapshot().subscribed).await;
    let (status, body) = http_get(metrics_port, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"), "subscribed and the database writable");
    assert_eq!(http_get(metrics_port, "/healthz").await.0, 200);
    let (_, before) = http_get(metrics_port, "/metrics").await;
    assert_eq!(sample(&before, "gatewatch_events_stored_total"), Some(0.0), "{before}");

    // A rogue client publishes garbage while the edge runs, and one plate read on the list.
    let rogue =
        MqttClient::connect(&MqttConfig { port: broker.port(), ..Default::default() }, "rogue", Session::default())
            .unwrap();
    let bad = bad_payloads();
    let mut expected_rejects: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (_, _, reason) in &bad {
        *expected_rejects.entry(reason).or_default() += 1;
    }
    let plate_read = injected(EventBody::PlateRead(PlateRead {
        track: 4,
        plate: "5AU5341".into(),
        confidence: 0.93,
        reads: 3,
        stable: true,
        ..Default::default()
    }));
    let injector = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (i, (topic, payload, _)) in bad.into_iter().enumerate() {
            rogue.publish(topic, payload).await.unwrap();
            if i == 20 {
                rogue.publish(topic::events_topic("north", "gate-9", "cam"), plate_read.encode()).await.unwrap();
            }
        }
        rogue.flush(Duration::from_secs(30)).await.unwrap();
        rogue.disconnect().await;
    });

    let mut edge = edge_config(broker.port(), &dir.path().join("spool"));
    let edge_port = free_port();
    edge.metrics.listen = Some(format!("127.0.0.1:{edge_port}"));
    let edge_metrics = gatewatch_edge::metrics::EdgeMetrics::new(&edge);
    let layouts = gatewatch_edge::layout::Layouts::new(&edge);
    // Scraped over HTTP while the edge runs: each counter only grows, and some scrape sees
    // the clip part-way through.
    let scraper = tokio::spawn(async move {
        let mut scrapes: Vec<String> = Vec::new();
        let mut ready = false;
        loop {
            match try_http_get(edge_port, "/metrics").await {
                Some((status, body)) => {
                    assert_eq!(status, 200, "{body}");
                    ready |= try_http_get(edge_port, "/readyz").await.is_some_and(|(s, _)| s == 200);
                    scrapes.push(body);
                }
                // Not yet listening, or the run has ended.
                None if scrapes.is_empty() => {}
                None => return (scrapes, ready),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let report = gatewatch_edge::run_with(
        edge,
        Arc::new(AtomicBool::new(false)),
        Duration::from_secs(30),
        layouts,
        edge_metrics.clone(),
    )
    .await
    .expect("edge runs");
    injector.await.unwrap();
    let (scrapes, edge_was_ready) = scraper.await.unwrap();
    assert!(edge_was_ready, "the edge's /readyz said ready while it ran");
    let decoded = "gatewatch_edge_frames_decoded_total{camera=\"plaza\"}";
    let series = [decoded, "gatewatch_edge_events_spooled_total", "gatewatch_edge_events_acked_total"];
    for pair in scrapes.windows(2) {
        for s in series {
            assert!(sample(&pair[0], s) <= sample(&pair[1], s), "{s} went back between scrapes");
        }
    }
    assert!(
        scrapes.iter().any(|t| sample(t, decoded).is_some_and(|n| n > 0.0 && n < 795.0)),
        "a scrape during the run saw the frames counting up: {} scrapes",
        scrapes.len()
    );
    // After the run the figures are the run's own.
    let last = edge_metrics.encode();
    assert_eq!(sample(&last, decoded), Some(report.frames_decoded() as f64), "{last}");
    assert_eq!(
        sample(&last, "gatewatch_edge_frames_inferred_total{camera=\"plaza\"}"),
        Some(report.frames_inferred() as f64)
    );
    assert_eq!(sample(&last, "gatewatch_edge_events_spooled_total"), Some(report.delivery.spooled as f64));
    assert_eq!(sample(&last, "gatewatch_edge_events_acked_total"), Some(report.delivery.spooled as f64));
    assert_eq!(sample(&last, "gatewatch_edge_spool_unacked_events"), Some(0.0));
    assert_eq!(sample(&last, "gatewatch_edge_inference_seconds_count"), Some(report.timings.calls as f64));
    assert!(sample(&last, "gatewatch_edge_publishes_total").is_some_and(|n| n >= report.delivery.spooled as f64));
    assert_eq!(report.frames_decoded(), 795, "every frame of vtest.avi decoded");
    assert!(report.frames_inferred() >= 390, "5 detect-fps of a 10 fps clip: {}", report.frames_inferred());
    let sent = report.delivery.spooled;
    assert_eq!(report.delivery.refused, 0);
    assert_eq!(report.delivery.unacked, 0, "the edge returns once the aggregator acked everything");

    let total_bad: u64 = expected_rejects.values().sum();
    let want = sent + total_bad + 1;
    eventually(PATIENCE, "the aggregator to handle every message", || counters.snapshot().handled() >= want).await;
    // The endpoint's counters moved as the events did.
    let (status, after) = http_get(metrics_port, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&after, "gatewatch_events_stored_total"), Some((sent + 1) as f64), "{after}");
    for (reason, n) in &expected_rejects {
        let series = format!("gatewatch_payloads_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&after, &series), Some(*n as f64), "{series} in\n{after}");
    }
    assert!(sample(&after, "gatewatch_alerts_raised_total").is_some_and(|n| n >= 2.0), "{after}");
    assert!(sample(&after, "gatewatch_store_commit_seconds_count").is_some_and(|n| n >= 1.0), "{after}");
    let seen = sample(&after, "gatewatch_edge_last_event_received_seconds{site=\"north\",edge=\"gate-1\"}");
    assert!(seen.is_some_and(|t| (Utc::now().timestamp() as f64 - t).abs() < 600.0), "{after}");
    let kinds_stored: f64 = after
        .lines()
        .filter(|l| l.starts_with("gatewatch_events_stored_by_kind_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(kinds_stored, (sent + 1) as f64, "every stored event under its kind:\n{after}");
    assert!(sample(&after, "gatewatch_events_stored_by_kind_total{kind=\"plate_read\"}") >= Some(1.0), "{after}");
    assert_eq!(sample(&after, "gatewatch_edge_ack_lag_events{site=\"north\",edge=\"gate-1\"}"), Some(0.0), "{after}");
    // Every series the Grafana dashboard plots is one of the two endpoints'.
    let dashboard = include_str!("../deploy/grafana/gatewatch.json");
    let both = format!("{after}\n{last}");
    let mut plotted: Vec<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("gatewatch_"))
        .collect();
    plotted.sort();
    plotted.dedup();
    assert!(plotted.len() >= 15, "{plotted:?}");
    for name in plotted {
        assert!(
            both.lines().any(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{'])),
            "the dashboard plots {name}, which neither endpoint has"
        );
    }
    stop_tx.send(true).unwrap();
    let ingest = agg.await.unwrap().unwrap();

    // Every good event stored exactly once: the edge's sequence 1..=N, no gap, no duplicate.
    let seqs = store.seqs("north", "gate-1").await.unwrap();
    assert_eq!(seqs, (1..=sent as i64).collect::<Vec<_>>());
    assert_eq!(ingest.stored, sent + 1);
    assert_eq!(ingest.rejected, expected_rejects, "every bad payload counted under its reason");

    let kinds: BTreeMap<String, i64> = store.counts_by_kind().await.unwrap().into_iter().collect();
    assert_eq!(kinds["track_started"], kinds["track_ended"], "{kinds:?}");
    assert_eq!(kinds["zone_entered"], kinds["zone_left"], "{kinds:?}");
    assert!(kinds["track_started"] >= 20, "people walk through vtest.avi: {kinds:?}");

    let alerts = store.alerts(false).await.unwrap();
    let loitering: Vec<_> = alerts.iter().filter(|a| a.alert.kind == AlertKind::Loitering).collect();
    assert!(!loitering.is_empty(), "someone lingers on the crossing in vtest.avi");
    for a in &loitering {
        assert_eq!(a.alert.zone.as_deref(), Some("crossing"));
        assert_eq!(
            (a.alert.site.as_str(), a.alert.edge.as_str(), a.alert.camera.as_str()),
            ("north", "gate-1", "plaza")
        );
    }
    let tracks: std::collections::HashSet<_> = loitering.iter().map(|a| a.alert.track).collect();
    assert_eq!(tracks.len(), loitering.len(), "one alert per (rule, track)");
    let watch: Vec<_> = alerts.iter().filter(|a| a.alert.kind == AlertKind::Watchlist).collect();
    assert_eq!(watch.len(), 1);
    assert_eq!(watch[0].alert.plate.as_deref(), Some("5AU5341"));

    // Track snapshots arrive as real JPEGs.
    let ended = store.event_ids().await.unwrap();
    let mut jpegs = 0;
    for id in &ended {
        if let Some(bytes) = store.snapshot(id).await.unwrap() {
            assert!(bytes.starts_with(&[0xff, 0xd8]), "JPEG magic");
            jpegs += 1;
        }
    }
    assert!(jpegs as i64 >= kinds["track_ended"] / 2, "{jpegs} snapshots for {} tracks", kinds["track_ended"]);
    drop(broker);
}

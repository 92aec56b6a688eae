//! Plates and list labels are personal data: the whole pipeline with a stolen plate at the gate
//! (clip → edge reading plates → Mosquitto → aggregator → alert), plus a payload that carries
//! the plate where a number belongs, logs neither at INFO or above, from any crate. At DEBUG
//! gatewatch's own lines may carry them, and then say so (`personal_data`).
//!
//! Its own test binary: the log capture is the process's one global subscriber (the edge logs
//! from its own threads).

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatewatch_aggregator::Aggregator;
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_core::topic;
use gatewatch_systests::{Mosquitto, aggregator_config, car_two_passes, plate_lane_edge};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

const PLATE: &str = "5AU5341";
const LABEL: &str = "reported stolen 2026-11-20, case 4471";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plate_or_list_label_reaches_the_info_logs() {
    let (info, debug) = (Captured::default(), Captured::default());
    let (i, d) = (info.clone(), debug.clone());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || i.clone())
                .with_filter(LevelFilter::INFO),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || d.clone())
                .with_filter(Targets::new().with_target("gatewatch", tracing::Level::DEBUG)),
        )
        .init();

    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("car.mp4");
    gatewatch_media::clip::write_mp4(&clip, 512, 320, 10, car_two_passes(512, 320, 10, 30)).unwrap();
    let broker = Mosquitto::start().unwrap();
    let aggregator = Aggregator::new(aggregator_config(broker.port(), &dir.path().join("p.db"))).await.unwrap();
    let store = aggregator.store();
    store.put_entry(&ListEntry::new(ListKind::Stolen, PLATE, LABEL, None, None).unwrap()).await.unwrap();
    let counters = aggregator.counters();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let agg = tokio::spawn(aggregator.run(stop_rx));
    while !counters.snapshot().subscribed {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A payload with the plate where the sequence number belongs: refused, and logged.
    let raw = rumqttc::MqttOptions::new("hostile", "127.0.0.1", broker.port());
    let (client, mut el) = rumqttc::AsyncClient::new(raw, 10);
    let poll = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let hostile = format!(
        r#"{{"schema":"gatewatch.event.v1","event_id":"01a24273-d37b-7627-8956-303c85540b96","site":"demo","edge":"gate-1","camera":"lane-in","seq":"{PLATE}"}}"#
    );
    let t = topic::events_topic("demo", "gate-1", "lane-in");
    client.publish(t, rumqttc::QoS::AtLeastOnce, false, hostile).await.unwrap();

    let (edge, _) = plate_lane_edge(broker.port(), &dir.path().join("spool"), &clip);
    let report = gatewatch_edge::run(edge, Arc::new(AtomicBool::new(false)), Duration::from_secs(30)).await.unwrap();
    assert!(report.cameras[0].plates >= 1, "the plate was read: {report:?}");
    stop_tx.send(true).unwrap();
    agg.await.unwrap().unwrap();
    poll.abort();
    assert_eq!(counters.snapshot().alerts, 1, "the stolen car raised its alert");
    assert!(counters.snapshot().rejected_total() >= 1, "the hostile payload was refused");

    let info = info.text();
    assert!(info.contains("alert_id=") && info.contains("payload rejected"), "both paths logged:\n{info}");
    for secret in [PLATE, "5AU 5341", LABEL, "case 4471"] {
        let lines: Vec<&str> = info.lines().filter(|l| l.contains(secret)).collect();
        assert!(lines.is_empty(), "{secret:?} at INFO or above:\n{}", lines.join("\n"));
    }
    let debug = debug.text();
    let carrying: Vec<&str> = debug.lines().filter(|l| l.contains(PLATE) || l.contains(LABEL)).collect();
    assert!(!carrying.is_empty(), "DEBUG says which plate raised the alert");
    for line in carrying {
        assert!(line.contains("personal_data"), "a DEBUG line with a plate or label is marked: {line}");
    }
}

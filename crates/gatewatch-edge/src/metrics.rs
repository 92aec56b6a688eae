//! The edge's Prometheus endpoint and health checks, on `[metrics] listen` of `edge.toml`:
//!
//! - `GET /metrics`: per camera frames decoded, inferred, dropped (a newer frame replaced one
//!   the detectors had no time for) and gated (the motion gate found the view still), whether it
//!   is online, its source restarts and the frames waiting for the detectors; the inference
//!   time histogram; events waiting for the spool; events spooled, refused, published
//!   (replays included) and acknowledged; the spool's unacknowledged events, bytes and the age
//!   of its oldest unacknowledged event; events the spool dropped, by why; the broker link;
//! - `GET /healthz`: 200 while the process serves requests (it is alive);
//! - `GET /readyz`: 200 when the broker connection is up and the spool took its last write;
//!   otherwise 503 saying which is not. A camera that is offline does not make the edge
//!   unready (its events still go out); it shows in `gatewatch_edge_camera_online` and raises
//!   a `camera_offline` alert at the centre.
//!
//! Camera threads and the publisher write plain atomics ([`CameraMeter`], [`DeliveryMeter`]);
//! a scrape reads them. Nothing here is personal data: no plate, no picture.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use gatewatch_core::config::EdgeConfig;
use gatewatch_core::event::Event;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

/// One camera's figures since the edge started.
#[derive(Debug, Default)]
pub struct CameraMeter {
    pub(crate) decoded: AtomicU64,
    pub(crate) inferred: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) gated: AtomicU64,
    pub(crate) restarts: AtomicU64,
    /// Frames of this camera submitted to the detectors or queued behind them.
    pub(crate) waiting: AtomicU64,
    pub(crate) online: AtomicBool,
}

impl CameraMeter {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }
}

/// The publisher's figures, as of its last loop (every 100 ms at least).
#[derive(Debug, Default)]
pub struct DeliveryMeter {
    pub(crate) spooled: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) publishes: AtomicU64,
    pub(crate) replays: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) unacked: AtomicU64,
    pub(crate) spool_bytes: AtomicU64,
    /// Unix ms of the oldest unacknowledged event; 0 when there is none.
    pub(crate) oldest_unacked_ms: AtomicI64,
    pub(crate) dropped_full_routine: AtomicU64,
    pub(crate) dropped_full_important: AtomicU64,
    pub(crate) dropped_old: AtomicU64,
    pub(crate) connected: AtomicBool,
    /// The spool's last append or fsync succeeded.
    pub(crate) spool_ok: AtomicBool,
}

/// Everything the endpoint shows, shared by the camera threads, the detectors and the publisher.
#[derive(Debug)]
pub struct EdgeMetrics {
    site: String,
    edge: String,
    cameras: BTreeMap<String, Arc<CameraMeter>>,
    /// Seconds of ONNX Runtime `run` per detection call (both tiles of a tiled frame in one).
    pub(crate) inference: Histogram,
    pub(crate) delivery: DeliveryMeter,
    /// The camera threads' event channel, to read its depth without keeping it open.
    events: Mutex<Option<mpsc::WeakSender<Event>>>,
}

impl EdgeMetrics {
    pub fn new(cfg: &EdgeConfig) -> Arc<Self> {
        Arc::new(Self {
            site: cfg.site.clone(),
            edge: cfg.edge.clone(),
            cameras: cfg.cameras.iter().map(|c| (c.id.clone(), Arc::default())).collect(),
            // 1 ms to 8 s.
            inference: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            delivery: DeliveryMeter { spool_ok: AtomicBool::new(true), ..Default::default() },
            events: Mutex::new(None),
        })
    }

    /// The meter of a camera (a fresh one for a camera the configuration did not have).
    pub(crate) fn camera(&self, id: &str) -> Arc<CameraMeter> {
        self.cameras.get(id).cloned().unwrap_or_default()
    }

    pub(crate) fn watch_events(&self, tx: &mpsc::Sender<Event>) {
        *self.events.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx.downgrade());
    }

    /// The exposition, in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut r = Registry::default();
        let info = Family::<Labels, Gauge>::default();
        info.get_or_create(&vec![
            ("site", self.site.clone()),
            ("edge", self.edge.clone()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
        ])
        .set(1);
        r.register("gatewatch_edge_info", "This gate box: site, edge id, gatewatch version", info);
        let per_camera = |r: &mut Registry, name: &str, help: &str, of: fn(&CameraMeter) -> &AtomicU64| {
            let f = Family::<Labels, Counter>::default();
            for (id, m) in &self.cameras {
                f.get_or_create(&vec![("camera", id.clone())]).inc_by(of(m).load(Ordering::Relaxed));
            }
            r.register(name, help, f);
        };
        per_camera(&mut r, "gatewatch_edge_frames_decoded", "Frames decoded", |m| &m.decoded);
        per_camera(&mut r, "gatewatch_edge_frames_inferred", "Frames the detector ran on", |m| &m.inferred);
        per_camera(
            &mut r,
            "gatewatch_edge_frames_dropped",
            "Due frames a newer one replaced while the detectors were busy",
            |m| &m.dropped,
        );
        per_camera(
            &mut r,
            "gatewatch_edge_frames_gated",
            "Due frames the motion gate found still (not detected)",
            |m| &m.gated,
        );
        per_camera(&mut r, "gatewatch_edge_camera_restarts", "Times a live source was rebuilt", |m| &m.restarts);
        let online = Family::<Labels, Gauge>::default();
        let waiting = Family::<Labels, Gauge>::default();
        for (id, m) in &self.cameras {
            online.get_or_create(&vec![("camera", id.clone())]).set(i64::from(m.online.load(Ordering::Relaxed)));
            waiting.get_or_create(&vec![("camera", id.clone())]).set(gauge(m.waiting.load(Ordering::Relaxed)));
        }
        r.register("gatewatch_edge_camera_online", "1 while the camera's frames flow", online);
        r.register("gatewatch_edge_frames_waiting", "Frames in or queued for the detectors, per camera", waiting);
        r.register(
            "gatewatch_edge_inference_seconds",
            "ONNX Runtime run time per detection call",
            self.inference.clone(),
        );
        let depth = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|w| w.upgrade())
            .map_or(0, |tx| tx.max_capacity() - tx.capacity());
        let g = Gauge::<i64>::default();
        g.set(depth as i64);
        r.register("gatewatch_edge_event_queue_depth", "Events waiting for the spool", g);

        let d = &self.delivery;
        let counter = |r: &mut Registry, name: &str, help: &str, v: &AtomicU64| {
            let c = Counter::<u64>::default();
            c.inc_by(v.load(Ordering::Relaxed));
            r.register(name, help, c);
        };
        counter(&mut r, "gatewatch_edge_events_spooled", "Events taken into the spool", &d.spooled);
        counter(
            &mut r,
            "gatewatch_edge_events_refused",
            "Events refused before the spool (too big, disk failed)",
            &d.refused,
        );
        counter(&mut r, "gatewatch_edge_publishes", "Events published to the broker, replays included", &d.publishes);
        counter(
            &mut r,
            "gatewatch_edge_replays",
            "Times publishing started again from the oldest unacked event",
            &d.replays,
        );
        counter(&mut r, "gatewatch_edge_events_acked", "Events the aggregator acknowledged", &d.acked);
        let dropped = Family::<Labels, Counter>::default();
        for (why, v) in [
            ("full_routine", &d.dropped_full_routine),
            ("full_important", &d.dropped_full_important),
            ("too_old", &d.dropped_old),
        ] {
            dropped.get_or_create(&vec![("why", why.to_string())]).inc_by(v.load(Ordering::Relaxed));
        }
        r.register("gatewatch_edge_spool_dropped", "Unacknowledged events the spool dropped, by why", dropped);
        let set = |r: &mut Registry, name: &str, help: &str, v: i64| {
            let g = Gauge::<i64>::default();
            g.set(v);
            r.register(name, help, g);
        };
        set(
            &mut r,
            "gatewatch_edge_spool_unacked_events",
            "Events in the spool not yet acknowledged",
            gauge(d.unacked.load(Ordering::Relaxed)),
        );
        set(
            &mut r,
            "gatewatch_edge_spool_bytes",
            "Bytes the spool holds on disk",
            gauge(d.spool_bytes.load(Ordering::Relaxed)),
        );
        let oldest = d.oldest_unacked_ms.load(Ordering::Relaxed);
        let age =
            if oldest > 0 { (chrono::Utc::now().timestamp_millis() - oldest).max(0) as f64 / 1000.0 } else { 0.0 };
        let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        g.set(age);
        r.register(
            "gatewatch_edge_spool_oldest_unacked_age_seconds",
            "Age of the oldest unacknowledged event (0: none)",
            g,
        );
        set(
            &mut r,
            "gatewatch_edge_mqtt_connected",
            "1 while the broker connection is up",
            i64::from(d.connected.load(Ordering::Relaxed)),
        );
        let mut text = String::new();
        // Writing to a String cannot fail; an empty exposition would say so if it did.
        let _ = encode(&mut text, &r);
        text
    }

    /// `Ok` when ready, else why not.
    pub fn readiness(&self) -> Result<(), &'static str> {
        let d = &self.delivery;
        match (d.connected.load(Ordering::Relaxed), d.spool_ok.load(Ordering::Relaxed)) {
            (true, true) => Ok(()),
            (false, true) => Err("not ready: no broker connection (events wait in the spool)\n"),
            (true, false) => Err("not ready: the spool's last write failed\n"),
            (false, false) => Err("not ready: no broker connection, and the spool's last write failed\n"),
        }
    }
}

type Labels = Vec<(&'static str, String)>;

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The endpoint's routes.
pub fn router(metrics: Arc<EdgeMetrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(metrics)
}

async fn scrape(State(m): State<Arc<EdgeMetrics>>) -> impl IntoResponse {
    (StatusCode::OK, [(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.encode())
}

async fn ready(State(m): State<Arc<EdgeMetrics>>) -> impl IntoResponse {
    match m.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EdgeConfig {
        EdgeConfig::from_toml(
            "site = \"north\"\nedge = \"gate-1\"\n[[cameras]]\nid = \"entry\"\nuri = \"rtsp://127.0.0.1:9/x\"\n\
             [[cameras]]\nid = \"exit\"\nuri = \"rtsp://127.0.0.1:9/y\"\n",
        )
        .unwrap()
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split_whitespace().next()?.parse().ok())
    }

    #[test]
    fn the_exposition_shows_what_the_meters_hold() {
        let m = EdgeMetrics::new(&cfg());
        let entry = m.camera("entry");
        for _ in 0..7 {
            CameraMeter::add(&entry.decoded);
        }
        CameraMeter::add(&entry.dropped);
        entry.online.store(true, Ordering::Relaxed);
        m.inference.observe(0.02);
        m.delivery.spooled.store(5, Ordering::Relaxed);
        m.delivery.acked.store(3, Ordering::Relaxed);
        m.delivery.unacked.store(2, Ordering::Relaxed);
        m.delivery.oldest_unacked_ms.store(chrono::Utc::now().timestamp_millis() - 4000, Ordering::Relaxed);
        let (tx, _rx) = mpsc::channel::<Event>(8);
        m.watch_events(&tx);
        for _ in 0..3 {
            tx.try_send(Event {
                schema: gatewatch_core::event::SCHEMA_V1.into(),
                event_id: uuid::Uuid::now_v7(),
                site: "north".into(),
                edge: "gate-1".into(),
                camera: "entry".into(),
                seq: 0,
                captured_at: chrono::Utc::now(),
                body: gatewatch_core::event::EventBody::CameraOnline { width: 1, height: 1 },
            })
            .unwrap();
        }
        let text = m.encode();
        assert_eq!(sample(&text, "gatewatch_edge_frames_decoded_total{camera=\"entry\"}"), Some(7.0), "{text}");
        assert_eq!(sample(&text, "gatewatch_edge_frames_decoded_total{camera=\"exit\"}"), Some(0.0));
        assert_eq!(sample(&text, "gatewatch_edge_frames_dropped_total{camera=\"entry\"}"), Some(1.0));
        assert_eq!(sample(&text, "gatewatch_edge_camera_online{camera=\"entry\"}"), Some(1.0));
        assert_eq!(sample(&text, "gatewatch_edge_camera_online{camera=\"exit\"}"), Some(0.0));
        assert_eq!(sample(&text, "gatewatch_edge_inference_seconds_count"), Some(1.0));
        assert_eq!(sample(&text, "gatewatch_edge_events_spooled_total"), Some(5.0));
        assert_eq!(sample(&text, "gatewatch_edge_events_acked_total"), Some(3.0));
        assert_eq!(sample(&text, "gatewatch_edge_spool_unacked_events"), Some(2.0));
        let age = sample(&text, "gatewatch_edge_spool_oldest_unacked_age_seconds").unwrap();
        assert!((4.0..10.0).contains(&age), "{age}");
        assert_eq!(sample(&text, "gatewatch_edge_event_queue_depth"), Some(3.0));
        assert!(text.contains("gatewatch_edge_info{site=\"north\",edge=\"gate-1\""), "{text}");
        // A closed channel reads as empty, and never keeps the channel open.
        drop(tx);
        assert_eq!(sample(&m.encode(), "gatewatch_edge_event_queue_depth"), Some(0.0));
    }

    #[test]
    fn ready_needs_the_broker_and_the_spool() {
        let m = EdgeMetrics::new(&cfg());
        assert!(m.readiness().unwrap_err().contains("no broker connection"));
        m.delivery.connected.store(true, Ordering::Relaxed);
        assert_eq!(m.readiness(), Ok(()));
        m.delivery.spool_ok.store(false, Ordering::Relaxed);
        assert!(m.readiness().unwrap_err().contains("spool"));
    }
}

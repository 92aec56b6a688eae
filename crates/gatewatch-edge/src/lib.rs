//! The edge worker: one process per gate box.
//!
//! ```text
//! per camera: reader thread                 tracker thread                    publisher task (tokio)
//!   FrameSource ─ due frame ─▶ FrameQueue ─▶ DetectorPool ─▶ Tracker, zones,
//!   (every 1/detect_fps s)     (newest wins)  (shared, N      snapshots, plates ─ Event ─ channel ─▶
//!                                             sessions)                           spool ─▶ MQTT QoS 1
//! ```
//!
//! Readers, trackers and detectors are plain threads (GStreamer and ONNX Runtime block); the
//! publisher is a tokio task. Decoding (GStreamer's threads), inference and tracking overlap.
//! Under overload a live camera's due frame replaces the one still waiting (counted in
//! `frames_dropped`); a file played as fast as it goes waits instead. The bounded event
//! channel is the back-pressure from delivery. See `pipeline`.

mod camera;
mod envelope;
pub mod layout;
pub mod metrics;
mod parking_file;
mod pipeline;
mod plates;
pub mod publisher;
pub mod replay;
pub mod spool;
pub mod track_ids;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gatewatch_core::config::EdgeConfig;
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_vision::detector::Timings;
use gatewatch_vision::plates::PlateTimings;

pub use camera::CameraReport;
pub use envelope::Envelopes;
pub use publisher::{Delivered, Publisher};

/// What a run of the edge did, for the closing summary and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct EdgeReport {
    pub cameras: Vec<CameraReport>,
    pub delivery: Delivered,
    pub elapsed: Duration,
    pub timings: Timings,
    pub plate_timings: PlateTimings,
}

impl EdgeReport {
    pub fn frames_decoded(&self) -> u64 {
        self.cameras.iter().map(|c| c.frames_decoded).sum()
    }
    pub fn frames_inferred(&self) -> u64 {
        self.cameras.iter().map(|c| c.frames_inferred).sum()
    }
}

/// The MQTT connection of an edge: subscribed to its own acks and the erasures in force, with
/// an offline last will.
pub fn connect(cfg: &EdgeConfig) -> anyhow::Result<MqttClient> {
    let session = Session {
        subscribe: vec![topic::ack_topic(&cfg.site, &cfg.edge), topic::ERASURES_TOPIC.to_string()],
        persistent: false,
        last_will: Some(Publisher::offline_will(&cfg.site, &cfg.edge)),
    };
    Ok(MqttClient::connect(&cfg.mqtt, &format!("gatewatch-edge-{}-{}", cfg.site, cfg.edge), session)?)
}

/// Run every configured camera until its stream ends or `stop` is set, delivering events;
/// then wait for the aggregator's acks (up to `flush_timeout`). What is not acked by then
/// stays in the spool and goes out on the next start. With `[metrics] listen`, the endpoint
/// is served while it runs.
pub async fn run(cfg: EdgeConfig, stop: Arc<AtomicBool>, flush_timeout: Duration) -> anyhow::Result<EdgeReport> {
    let (layouts, metrics) = (layout::Layouts::new(&cfg), metrics::EdgeMetrics::new(&cfg));
    run_with(cfg, stop, flush_timeout, layouts, metrics).await
}

/// [`run`], with each camera's zones and lines taken from `layouts` as they change (the
/// caller applies a reloaded configuration to them; see [`layout::Layouts::apply`]), and its
/// figures kept in `metrics` (which the caller may read after the run).
pub async fn run_with(
    cfg: EdgeConfig,
    stop: Arc<AtomicBool>,
    flush_timeout: Duration,
    layouts: layout::Layouts,
    metrics: Arc<metrics::EdgeMetrics>,
) -> anyhow::Result<EdgeReport> {
    let start = Instant::now();
    gatewatch_media::init()?;
    let spool = spool::Spool::open(&cfg.spool)?;
    // Beside the spool (under its lock): ids unique across cameras, reconnects and restarts.
    let track_ids: Arc<dyn gatewatch_core::tracker::TrackIds> = Arc::new(
        track_ids::TrackIdFile::open(&cfg.spool.dir)
            .map_err(|e| anyhow::anyhow!("track ids in {}: {e}", cfg.spool.dir.display()))?,
    );
    // Served until this function returns, whichever way.
    let _endpoint = match &cfg.metrics.listen {
        Some(addr) => Some(serve_metrics(addr, metrics.clone()).await?),
        None => None,
    };
    let pool = Arc::new(pipeline::DetectorPool::new(&cfg.vision, Some(metrics.inference.clone()))?);
    let plates = if cfg.plates.enabled { Some(plates::load(&cfg.plates, &cfg.vision.onnxruntime)?) } else { None };
    let mqtt = connect(&cfg)?;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    metrics.watch_events(&tx);
    let envelopes = Arc::new(Envelopes::new(&cfg.site, &cfg.edge));

    let mut threads = Vec::new();
    for cam in cfg.cameras.clone() {
        let worker = camera::CameraWorker {
            layout: layouts.cell(&cam.id),
            meter: metrics.camera(&cam.id),
            camera: cam,
            tracker: cfg.tracker,
            track_ids: track_ids.clone(),
            stationary: cfg.stationary.clone(),
            state_dir: cfg.spool.dir.clone(),
            snapshot: cfg.snapshot.clone(),
            stats_interval_s: cfg.stats_interval_s,
            pool: pool.clone(),
            envelopes: envelopes.clone(),
            events: tx.clone(),
            stop: stop.clone(),
            plates: plates.clone().map(|p| (p, cfg.plates.clone())),
            tap: None,
        };
        let name = format!("camera-{}", worker.camera.id);
        threads.push(std::thread::Builder::new().name(name).spawn(move || worker.run())?);
    }
    drop(tx);
    let delivery = Publisher::new(&cfg.site, &cfg.edge, &cfg.spool, spool, mqtt)
        .with_metrics(metrics.clone())
        .run(rx, flush_timeout)
        .await;
    let mut cameras = Vec::new();
    for t in threads {
        cameras.push(t.join().map_err(|_| anyhow::anyhow!("a camera thread panicked"))?);
    }
    let timings = pool.finish();
    let plate_timings = plates.and_then(|p| p.lock().ok().map(|p| p.timings)).unwrap_or_default();
    Ok(EdgeReport { cameras, delivery, elapsed: start.elapsed(), timings, plate_timings })
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until the task is aborted; an
/// address that cannot be bound fails the start.
async fn serve_metrics(addr: &str, metrics: Arc<metrics::EdgeMetrics>) -> anyhow::Result<AbortOnDrop> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("metrics on {addr}: {e}"))?;
    tracing::info!(addr = %addr, "metrics on /metrics, health on /healthz and /readyz");
    let app = metrics::router(metrics);
    Ok(AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    })))
}

/// A task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

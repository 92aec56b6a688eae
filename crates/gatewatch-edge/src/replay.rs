//! One camera of the edge run on a file with its events kept in memory: no spool, no broker.
//! For measuring the real pipeline against ground truth (`gatewatch eval clips`): the same
//! reader, detectors, tracker, zones, lines and parking as `gatewatch edge`, plus a look at
//! what the tracker saw in every frame.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, Utc};
use gatewatch_core::config::{CameraConfig, EdgeConfig};
use gatewatch_core::detection::{Detection, ObjectClass};
use gatewatch_core::event::Event;
use gatewatch_core::tracker::{Counter, TrackId};
use gatewatch_vision::detector::Timings;

use crate::camera::{CameraReport, CameraWorker};
use crate::envelope::Envelopes;
use crate::pipeline::DetectorPool;

/// What the tracker had in one frame that went through it.
#[derive(Debug, Clone)]
pub struct FrameView {
    /// Stream time, seconds from the first frame.
    pub t: f64,
    pub captured_at: DateTime<Utc>,
    pub width: u32,
    pub height: u32,
    /// Whether the detector ran on this frame (false: the motion gate kept the last result).
    pub detected: bool,
    /// The detector's boxes, above its score threshold.
    pub detections: Vec<Detection>,
    /// Confirmed tracks updated in this frame.
    pub tracks: Vec<(TrackId, ObjectClass, Detection)>,
}

/// Everything one camera produced on a file.
#[derive(Debug)]
pub struct Replay {
    pub events: Vec<Event>,
    pub frames: Vec<FrameView>,
    pub report: CameraReport,
    pub timings: Timings,
}

/// Play `camera` (a file; `realtime` off: every due frame is detected) through the edge
/// pipeline of `cfg` (vision, tracker, stationary, snapshot settings; plates off). Parking
/// episodes are kept in `state_dir`, which should be empty.
pub fn replay(cfg: &EdgeConfig, mut camera: CameraConfig, state_dir: &Path) -> anyhow::Result<Replay> {
    gatewatch_media::init()?;
    camera.realtime = false;
    let pool = Arc::new(DetectorPool::new(&cfg.vision, None)?);
    let (events_tx, mut events_rx) = tokio::sync::mpsc::channel(256);
    let (tap_tx, tap_rx) = std::sync::mpsc::channel();
    let worker = CameraWorker {
        layout: None,
        meter: Default::default(),
        camera,
        tracker: cfg.tracker,
        track_ids: Arc::new(Counter::default()),
        stationary: cfg.stationary.clone(),
        state_dir: state_dir.to_path_buf(),
        snapshot: cfg.snapshot.clone(),
        stats_interval_s: cfg.stats_interval_s,
        pool: pool.clone(),
        envelopes: Arc::new(Envelopes::new(&cfg.site, &cfg.edge)),
        events: events_tx,
        stop: Arc::new(AtomicBool::new(false)),
        plates: None,
        tap: Some(tap_tx),
    };
    let thread = std::thread::Builder::new().name("replay".into()).spawn(move || worker.run())?;
    let mut events = Vec::new();
    while let Some(ev) = events_rx.blocking_recv() {
        events.push(ev);
    }
    let report = thread.join().map_err(|_| anyhow::anyhow!("the camera thread panicked"))?;
    let frames = tap_rx.try_iter().collect();
    let timings = pool.finish();
    Ok(Replay { events, frames, report, timings })
}

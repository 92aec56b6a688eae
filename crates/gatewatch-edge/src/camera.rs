//! One camera's loop: frames in, events out. Runs on its own thread.
//!
//! Every frame is decoded; a frame goes through the detector when `1 / detect_fps` seconds of
//! stream time have passed since the last one. Tracks and zones run on stream time, so a file
//! replayed faster than real time gives the same dwell times as the live camera would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gatewatch_core::config::{CameraConfig, PlatesConfig, SnapshotConfig};
use gatewatch_core::event::{Event, EventBody, Snapshot};
use gatewatch_core::frame::Frame;
use gatewatch_core::tracker::{EndedTrack, TrackId, Tracker, TrackerConfig};
use gatewatch_core::zones::{ZoneChange, ZoneTracker};
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use gatewatch_vision::{Detector, snapshot};
use tokio::sync::mpsc;

use crate::envelope::Envelopes;
use crate::plates::{PlateTracks, SharedPlateReader};

/// What one camera did in a run.
#[derive(Debug, Clone, Default)]
pub struct CameraReport {
    pub camera: String,
    pub frames_decoded: u64,
    pub frames_inferred: u64,
    pub tracks: u64,
    /// Plate reads published.
    pub plates: u64,
    /// Times a live source was rebuilt after an error, end or silence.
    pub restarts: u64,
    /// Wall-clock seconds from the first frame to the last (benchmarks: frames expected).
    pub streamed_s: f64,
    /// Why the camera stopped: "end of stream", "stopped", or the error.
    pub ended_by: String,
}

pub(crate) struct CameraWorker {
    pub camera: CameraConfig,
    pub tracker: TrackerConfig,
    pub snapshot: SnapshotConfig,
    pub stats_interval_s: f64,
    pub detector: Arc<Mutex<Detector>>,
    pub envelopes: Arc<Envelopes>,
    pub events: mpsc::Sender<Event>,
    pub stop: Arc<AtomicBool>,
    /// Plate reading, when `[plates] enabled`.
    pub plates: Option<(SharedPlateReader, PlatesConfig)>,
}

/// The best view of a track so far, raw RGB until the track ends.
struct BestView {
    score: f32,
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

/// Per-stream state: tracker, zones, best views, counters.
struct Stream {
    tracker: Tracker,
    zones: ZoneTracker,
    best: HashMap<TrackId, BestView>,
    last_inferred: Option<f64>,
    last_stats: Option<(f64, u64, u64)>,
    plates: Option<PlateTracks>,
    report: CameraReport,
}

/// When to rebuild a failed live source: 1 s, doubling up to a cap, reset by a frame.
struct Retry {
    delay: Duration,
    max: Duration,
    at: Instant,
}

impl Retry {
    fn new(max: Duration) -> Self {
        Self { delay: Duration::from_secs(1), max, at: Instant::now() }
    }

    /// The source just failed: count a restart and set the next attempt.
    fn schedule(&mut self, report: &mut CameraReport) {
        report.restarts += 1;
        self.at = Instant::now() + self.delay;
        self.delay = (self.delay * 2).min(self.max);
    }

    fn reset(&mut self) {
        self.delay = Duration::from_secs(1);
    }
}

impl Stream {
    fn new(w: &CameraWorker, report: CameraReport) -> Self {
        Stream {
            tracker: Tracker::new(w.tracker),
            zones: ZoneTracker::new(w.camera.zones.iter().map(|z| z.to_zone()).collect(), w.camera.exit_grace_s),
            best: HashMap::new(),
            last_inferred: None,
            last_stats: None,
            plates: w.plates.as_ref().map(|(_, cfg)| PlateTracks::new(cfg.clone(), w.camera.plate_camera)),
            report,
        }
    }
}

impl CameraWorker {
    /// Run until the stream ends (files), `stop` is set, or a file cannot be played or stalls
    /// (no frame for `watchdog_s`). A live source that errs, ends, or sends no frame for
    /// `watchdog_s` is reported offline and rebuilt with exponential backoff (1 s up to
    /// `max_backoff_s`) until frames flow again.
    pub fn run(self) -> CameraReport {
        let id = self.camera.id.clone();
        let live = gatewatch_media::to_uri(&id, &self.camera.uri).is_ok_and(|u| gatewatch_media::is_live_uri(&u));
        let opts = SourceOptions { realtime: self.camera.realtime };
        let watchdog = Duration::from_secs_f64(self.camera.watchdog_s);
        let mut stream = Stream::new(&self, CameraReport { camera: id.clone(), ..Default::default() });
        let mut source: Option<FrameSource> = None;
        let mut online = false;
        let mut outage_reported = false;
        let mut last_frame = Instant::now();
        let mut retry = Retry::new(Duration::from_secs_f64(self.camera.max_backoff_s));
        let mut last_time = Utc::now();
        let mut first_frame: Option<Instant> = None;
        let ended_by = loop {
            if self.stop.load(Ordering::SeqCst) {
                break "stopped".to_string();
            }
            let Some(src) = source.as_mut() else {
                if let Some(wait) = retry.at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait.min(Duration::from_millis(200)));
                    continue;
                }
                match FrameSource::open(&id, &self.camera.uri, &opts) {
                    Ok(s) => {
                        source = Some(s);
                        last_frame = Instant::now();
                    }
                    Err(e) if !live => {
                        tracing::error!(camera = %id, error = %e, "camera did not start");
                        break e.to_string();
                    }
                    Err(e) => {
                        self.went_offline(&mut stream, &mut online, &mut outage_reported, &e.to_string(), last_time);
                        retry.schedule(&mut stream.report);
                    }
                }
                continue;
            };
            let failure = match src.next(Duration::from_millis(500)) {
                Ok(Pulled::Frame(frame)) => {
                    if !online {
                        online = true;
                        outage_reported = false;
                        retry.reset();
                        tracing::info!(camera = %id, width = frame.width, height = frame.height, "camera online");
                        let body = EventBody::CameraOnline { width: frame.width, height: frame.height };
                        self.emit(frame.captured_at, body);
                    }
                    last_frame = Instant::now();
                    stream.report.streamed_s = first_frame.get_or_insert(last_frame).elapsed().as_secs_f64();
                    last_time = frame.captured_at;
                    self.on_frame(&mut stream, &frame);
                    continue;
                }
                Ok(Pulled::Timeout) if last_frame.elapsed() >= watchdog => {
                    let why = format!("no frame for {:.0} s", watchdog.as_secs_f64());
                    if !live {
                        // A file that stops yielding frames without ending is a stuck decoder
                        // (seen with truncated MP4s): end it rather than wait forever.
                        tracing::error!(camera = %id, reason = %why, "file source stalled");
                        break why;
                    }
                    why
                }
                Ok(Pulled::Timeout) => continue,
                Ok(Pulled::Eos) if !live => break "end of stream".to_string(),
                Ok(Pulled::Eos) => "stream ended".to_string(),
                Err(e) if !live => {
                    tracing::error!(camera = %id, error = %e, "camera stream failed");
                    break e.to_string();
                }
                Err(e) => e.to_string(),
            };
            // A live source failed: drop the pipeline, report, rebuild after the backoff.
            source = None;
            self.went_offline(&mut stream, &mut online, &mut outage_reported, &failure, last_time);
            retry.schedule(&mut stream.report);
        };
        drop(source);
        self.close_tracks(&mut stream, last_time);
        self.emit(last_time, EventBody::CameraOffline { reason: ended_by.clone() });
        tracing::info!(camera = %id, frames = stream.report.frames_decoded, inferred = stream.report.frames_inferred,
            restarts = stream.report.restarts, reason = %ended_by, "camera stopped");
        stream.report.ended_by = ended_by;
        stream.report
    }

    /// Report an outage once (camera_offline), close its tracks, and start the next
    /// connection with fresh tracking state (stream time restarts with the pipeline).
    fn went_offline(&self, s: &mut Stream, online: &mut bool, reported: &mut bool, why: &str, at: DateTime<Utc>) {
        if *online {
            self.close_tracks(s, at);
            let report = std::mem::take(&mut s.report);
            *s = Stream::new(self, report);
        }
        if !*reported {
            tracing::warn!(camera = %self.camera.id, reason = why, "camera offline; restarting its source with backoff");
            self.emit(Utc::now(), EventBody::CameraOffline { reason: why.to_string() });
            *reported = true;
        } else {
            tracing::debug!(camera = %self.camera.id, reason = why, "camera still offline");
        }
        *online = false;
    }

    /// Close every open track, so zones get their leave and tracks their snapshot.
    fn close_tracks(&self, s: &mut Stream, at: DateTime<Utc>) {
        tracing::debug!(camera = %self.camera.id, open_tracks = s.tracker.live().count(), "closing tracks");
        let ended = s.tracker.finish();
        let now_t = s.last_inferred.unwrap_or(0.0);
        self.end_tracks(s, ended, now_t, at);
    }

    fn on_frame(&self, s: &mut Stream, frame: &Frame) {
        s.report.frames_decoded += 1;
        let t = frame.t();
        let due = s.last_inferred.is_none_or(|last| t - last >= 1.0 / self.camera.detect_fps - 1e-6);
        if due {
            s.last_inferred = Some(t);
            self.detect(s, frame);
        }
        let (last_t, decoded, inferred) = *s.last_stats.get_or_insert((t, 0, 0));
        if t - last_t >= self.stats_interval_s {
            self.emit(
                frame.captured_at,
                EventBody::CameraStats {
                    frames_decoded: s.report.frames_decoded - decoded,
                    frames_inferred: s.report.frames_inferred - inferred,
                    period_s: t - last_t,
                },
            );
            s.last_stats = Some((t, s.report.frames_decoded, s.report.frames_inferred));
        }
    }

    fn detect(&self, s: &mut Stream, frame: &Frame) {
        let result = match self.detector.lock() {
            Ok(mut d) => d.detect(&frame.rgb, frame.width, frame.height),
            Err(_) => return tracing::error!(camera = %self.camera.id, "detector lock poisoned"),
        };
        let detections = match result {
            Ok(d) => d,
            Err(e) => return tracing::warn!(camera = %self.camera.id, error = %e, "detection failed on a frame"),
        };
        s.report.frames_inferred += 1;
        let t = frame.t();
        let update = s.tracker.update(&detections, t);
        for id in &update.started {
            if let Some((_, class, det)) = update.observed.iter().find(|o| o.0 == *id) {
                s.report.tracks += 1;
                tracing::debug!(camera = %self.camera.id, track = id, class = %class, "track started");
                let body = EventBody::TrackStarted { track: *id, class: *class, bbox: det.bbox, score: det.score };
                self.emit(frame.captured_at, body);
            }
        }
        if self.snapshot.enabled {
            for (id, _, det) in &update.observed {
                if s.best.get(id).is_none_or(|b| det.score > b.score)
                    && let Some((w, h, rgb)) = snapshot::crop(&frame.rgb, frame.width, frame.height, &det.bbox)
                {
                    s.best.insert(*id, BestView { score: det.score, width: w, height: h, rgb });
                }
            }
        }
        for change in s.zones.update(&update.observed, frame.width as f32, frame.height as f32, t) {
            self.emit_zone(frame.captured_at, change);
        }
        if let (Some((reader, _)), Some(plates)) = (&self.plates, &mut s.plates) {
            for read in plates.on_frame(reader, frame, s.report.frames_inferred, &update.observed, &self.snapshot) {
                tracing::debug!(camera = %self.camera.id, track = read.track, reads = read.reads, "plate published");
                s.report.plates += 1;
                self.emit(frame.captured_at, EventBody::PlateRead(read));
            }
        }
        self.end_tracks(s, update.ended, t, frame.captured_at);
    }

    fn end_tracks(&self, s: &mut Stream, ended: Vec<EndedTrack>, t: f64, at: DateTime<Utc>) {
        for e in ended {
            for change in s.zones.track_ended(e.id, t) {
                self.emit_zone(at, change);
            }
            if let Some(read) = s.plates.as_mut().and_then(|p| p.track_ended(e.id, &self.snapshot)) {
                s.report.plates += 1;
                self.emit(at, EventBody::PlateRead(read));
            }
            let snapshot = s.best.remove(&e.id).and_then(|b| {
                snapshot::encode(b.width, b.height, b.rgb, &self.snapshot)
                    .map_err(|err| tracing::warn!(camera = %self.camera.id, track = e.id, error = %err, "no snapshot"))
                    .ok()
                    .map(|(w, h, jpeg)| Snapshot::jpeg(w, h, &jpeg))
            });
            tracing::debug!(camera = %self.camera.id, track = e.id, "track ended");
            let body = EventBody::TrackEnded {
                track: e.id,
                class: e.class,
                duration_s: e.last_seen - e.first_seen,
                detections: e.hits,
                best_score: e.best_score,
                snapshot,
            };
            self.emit(at, body);
        }
    }

    fn emit_zone(&self, at: DateTime<Utc>, change: ZoneChange) {
        let body = match change {
            ZoneChange::Entered { track, class, zone, .. } => {
                tracing::debug!(camera = %self.camera.id, track, zone = %zone, "zone entered");
                EventBody::ZoneEntered { track, class, zone }
            }
            ZoneChange::Left { track, class, zone, dwell_s, .. } => {
                tracing::debug!(camera = %self.camera.id, track, zone = %zone, dwell_s, "zone left");
                EventBody::ZoneLeft { track, class, zone, dwell_s }
            }
        };
        self.emit(at, body);
    }

    fn emit(&self, at: DateTime<Utc>, body: EventBody) {
        let ev = self.envelopes.wrap(&self.camera.id, at, body);
        if self.events.blocking_send(ev).is_err() {
            tracing::error!(camera = %self.camera.id, "publisher gone; event dropped");
        }
    }
}

//! One camera: frames in, events out, on two threads.
//!
//! The **reader** pulls decoded frames (GStreamer decodes on its own threads), supervises the
//! source (watchdog, rebuild with backoff) and hands every frame that is due for detection
//! (`1 / detect_fps` seconds of stream time since the last) to the **tracker** through a
//! [`FrameQueue`] where the newest frame wins. The tracker sends frames to the shared
//! [`DetectorPool`], keeps up to one per detector in flight, and runs tracking, zones,
//! snapshots and plates on the results in frame order. Tracks and zones run on stream time,
//! so a file replayed faster than real time gives the same dwell times as the live camera.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gatewatch_core::config::{CameraConfig, PlatesConfig, SnapshotConfig};
use gatewatch_core::detection::Detection;
use gatewatch_core::event::{Event, EventBody, Snapshot, StationaryEnd};
use gatewatch_core::frame::Frame;
use gatewatch_core::geometry::Point;
use gatewatch_core::lines::LineCounter;
use gatewatch_core::motion::{MotionGate, Thumbnail};
use gatewatch_core::parking::{Episode, ParkingBook};
use gatewatch_core::tamper::{TamperChange, TamperDetector, ViewSignature};
use gatewatch_core::tracker::{EndedTrack, StationaryConfig, TrackId, TrackIds, TrackUpdate, Tracker, TrackerConfig};
use gatewatch_core::zones::{ZoneChange, ZoneTracker};
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use gatewatch_vision::snapshot;
use tokio::sync::mpsc;

use crate::envelope::Envelopes;
use crate::metrics::CameraMeter;
use crate::pipeline::{CloseOnDrop, DetectorPool, FrameQueue, Item, Next};
use crate::plates::{PlateTracks, SharedPlateReader};

/// What one camera did in a run.
#[derive(Debug, Clone, Default)]
pub struct CameraReport {
    pub camera: String,
    pub frames_decoded: u64,
    pub frames_inferred: u64,
    /// Frames due for detection that a newer one replaced while the detectors were busy.
    pub frames_dropped: u64,
    /// Due frames the motion gate found still (not detected; the last detections kept).
    pub frames_gated: u64,
    pub tracks: u64,
    /// Plate reads published.
    pub plates: u64,
    /// Times a live source was rebuilt after an error, end or silence.
    pub restarts: u64,
    /// Wall-clock seconds from the first frame to the last (benchmarks: frames expected).
    pub streamed_s: f64,
    /// When the first frame was decoded and the last detection result handled: the steady
    /// pipeline's span, without model loading and pipeline start and stop (benchmarks).
    pub first_frame: Option<Instant>,
    pub last_result: Option<Instant>,
    /// Why the camera stopped: "end of stream", "stopped", or the error.
    pub ended_by: String,
}

pub(crate) struct CameraWorker {
    pub camera: CameraConfig,
    pub tracker: TrackerConfig,
    /// Shared by every camera of the edge, kept on disk: ids never repeat.
    pub track_ids: Arc<dyn TrackIds>,
    pub stationary: StationaryConfig,
    /// The edge's state directory (the spool's): parking episodes are kept there.
    pub state_dir: std::path::PathBuf,
    pub snapshot: SnapshotConfig,
    pub stats_interval_s: f64,
    pub pool: Arc<DetectorPool>,
    pub envelopes: Arc<Envelopes>,
    pub events: mpsc::Sender<Event>,
    pub stop: Arc<AtomicBool>,
    /// Plate reading, when `[plates] enabled`.
    pub plates: Option<(SharedPlateReader, PlatesConfig)>,
    /// What the tracker saw in each frame, for measuring (`crate::replay`); none in the edge.
    pub tap: Option<std::sync::mpsc::Sender<crate::replay::FrameView>>,
    /// Zones and lines as they are now (replaced on SIGHUP); `camera`'s own when none.
    pub layout: Option<Arc<crate::layout::LayoutCell>>,
    /// This camera's figures for the metrics endpoint.
    pub meter: Arc<CameraMeter>,
}

/// The best view of a track so far, raw RGB until the track ends.
struct BestView {
    score: f32,
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

/// The tracker thread's state for one connection of the camera: tracks, zones, lines, best views.
struct Stream {
    tracker: Tracker,
    zones: ZoneTracker,
    lines: LineCounter,
    /// The layout version `zones` and `lines` were built from.
    layout_version: u64,
    best: HashMap<TrackId, BestView>,
    /// Stream time of the last frame through the tracker.
    last_t: f64,
    /// What the detector found in the last frame it saw: kept for frames the motion gate
    /// finds still.
    last_detections: Vec<Detection>,
    plates: Option<PlateTracks>,
}

/// What the tracker thread watches over longer than one connection: the camera's parking
/// episodes (also across restarts, on disk) and its view (tampering).
struct Watch {
    book: ParkingBook,
    /// First frame of the current connection (orphans get a grace from it).
    streaming_since: Option<DateTime<Utc>>,
    tamper: TamperDetector,
    /// Size and capture time of the last frame the tamper watch saw.
    last_view: Option<(u32, u32, DateTime<Utc>)>,
}

/// Counters the tracker thread keeps across connections.
#[derive(Default)]
struct Tally {
    inferred: u64,
    tracks: u64,
    plates: u64,
    /// `(inferred, dropped, gated)` at the last camera_stats.
    at_stats: (u64, u64, u64),
    /// Due frames the motion gate found still.
    gated: u64,
    last_result: Option<Instant>,
    /// The view's thumbnail: due at the next frame, ready for the next heartbeat, last taken.
    thumbnail_due: bool,
    thumbnail: Option<Snapshot>,
    thumbnail_at: Option<DateTime<Utc>>,
}

/// A result the tracker waits for (by submission number), or a control item queued behind it.
enum Pending {
    Frame(u64),
    Control(Item),
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
    fn new(w: &CameraWorker) -> Self {
        let (layout_version, layout) = match &w.layout {
            Some(cell) => (cell.version(), cell.current()),
            None => (
                0,
                crate::layout::Layout {
                    zones: w.camera.zones.clone(),
                    lines: w.camera.lines.clone(),
                    exit_grace_s: w.camera.exit_grace_s,
                },
            ),
        };
        Stream {
            tracker: Tracker::with_ids(w.tracker, w.track_ids.clone()).with_stationary(w.stationary.clone()),
            zones: ZoneTracker::new(layout.zones.iter().map(|z| z.to_zone()).collect(), layout.exit_grace_s),
            lines: LineCounter::new(layout.lines.iter().map(|l| l.to_line()).collect()),
            layout_version,
            best: HashMap::new(),
            last_t: 0.0,
            last_detections: Vec::new(),
            plates: w.plates.as_ref().map(|(_, cfg)| PlateTracks::new(cfg.clone(), w.camera.plate_camera)),
        }
    }
}

/// The `stationary_ended` of episode `e`, last held by `track`, over at `at`.
fn ended_body(e: &Episode, track: TrackId, at: DateTime<Utc>, reason: StationaryEnd) -> EventBody {
    let stationary_s = (at - e.since).num_milliseconds().max(0) as f64 / 1000.0;
    EventBody::StationaryEnded { track, class: e.class, episode: e.episode, since: e.since, stationary_s, reason }
}

impl CameraWorker {
    /// Run until the stream ends (files), `stop` is set, or a file cannot be played or stalls
    /// (no frame for `watchdog_s`). A live source that errs, ends, or sends no frame for
    /// `watchdog_s` is reported offline and rebuilt with exponential backoff (1 s up to
    /// `max_backoff_s`) until frames flow again.
    pub fn run(self) -> CameraReport {
        let worker = Arc::new(self);
        let queue = Arc::new(FrameQueue::default());
        let tracker = {
            let (w, q) = (worker.clone(), queue.clone());
            std::thread::Builder::new().name(format!("track-{}", worker.camera.id)).spawn(move || {
                let _release_reader = CloseOnDrop(q.clone());
                w.track(q)
            })
        };
        let tracker = match tracker {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(camera = %worker.camera.id, error = %e, "no tracker thread");
                return CameraReport {
                    camera: worker.camera.id.clone(),
                    ended_by: e.to_string(),
                    ..Default::default()
                };
            }
        };
        let mut report = worker.read(&queue);
        queue.close();
        let tally = tracker.join().unwrap_or_else(|_| {
            tracing::error!(camera = %worker.camera.id, "tracker thread panicked");
            Tally::default()
        });
        report.frames_inferred = tally.inferred;
        report.frames_dropped = queue.dropped();
        CameraMeter::set(&worker.meter.dropped, report.frames_dropped);
        report.tracks = tally.tracks;
        report.plates = tally.plates;
        report.last_result = tally.last_result;
        report.frames_gated = tally.gated;
        tracing::info!(camera = %report.camera, frames = report.frames_decoded, inferred = report.frames_inferred,
            dropped = report.frames_dropped, restarts = report.restarts, reason = %report.ended_by, "camera stopped");
        report
    }

    /// The reader: source supervision and the hand-over of due frames.
    fn read(&self, queue: &FrameQueue) -> CameraReport {
        let id = self.camera.id.clone();
        let live = gatewatch_media::to_uri(&id, &self.camera.uri).is_ok_and(|u| gatewatch_media::is_live_uri(&u));
        let opts = SourceOptions { realtime: self.camera.realtime };
        // A camera (or a file paced like one) never waits for the detectors: newest frame wins.
        let newest_wins = live || self.camera.realtime;
        let watchdog = Duration::from_secs_f64(self.camera.watchdog_s);
        let mut report = CameraReport { camera: id.clone(), ..Default::default() };
        let mut source: Option<FrameSource> = None;
        let mut online = false;
        let mut outage_reported = false;
        let mut last_frame = Instant::now();
        let mut retry = Retry::new(Duration::from_secs_f64(self.camera.max_backoff_s));
        let mut last_time = Utc::now();
        let mut first_frame: Option<Instant> = None;
        // Stream time of the last frame sent for detection, and (time, decoded) at the last stats.
        let mut last_due: Option<f64> = None;
        let mut last_stats: Option<(f64, u64)> = None;
        let mut gate = self.camera.motion_gate.map(MotionGate::new);
        let offline = |why: &str, at, online: &mut bool, reported: &mut bool, due: &mut Option<f64>| {
            if !*reported {
                tracing::warn!(camera = %id, reason = why, "camera offline; restarting its source with backoff");
            } else {
                tracing::debug!(camera = %id, reason = why, "camera still offline");
            }
            queue.put(Item::Offline { why: why.to_string(), at, close: *online, report: !*reported });
            *reported = true;
            *online = false;
            self.meter.online.store(false, Ordering::Relaxed);
            // The next connection starts its stream time afresh.
            *due = None;
        };
        let ended_by = loop {
            if self.stop.load(Ordering::SeqCst) {
                break "stopped".to_string();
            }
            if queue.is_closed() {
                tracing::error!(camera = %id, "tracker gone; stopping the camera");
                break "tracker stopped".to_string();
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
                        offline(&e.to_string(), last_time, &mut online, &mut outage_reported, &mut last_due);
                        last_stats = None;
                        retry.schedule(&mut report);
                        CameraMeter::set(&self.meter.restarts, report.restarts);
                    }
                }
                continue;
            };
            let failure = match src.next(Duration::from_millis(500)) {
                Ok(Pulled::Frame(frame)) => {
                    if !online {
                        online = true;
                        self.meter.online.store(true, Ordering::Relaxed);
                        outage_reported = false;
                        retry.reset();
                        tracing::info!(camera = %id, width = frame.width, height = frame.height, "camera online");
                        queue.put(Item::Online { width: frame.width, height: frame.height, at: frame.captured_at });
                    }
                    last_frame = Instant::now();
                    report.streamed_s = first_frame.get_or_insert(last_frame).elapsed().as_secs_f64();
                    last_time = frame.captured_at;
                    report.frames_decoded += 1;
                    CameraMeter::add(&self.meter.decoded);
                    let t = frame.t();
                    let (stats_t, stats_decoded) = *last_stats.get_or_insert((t, report.frames_decoded - 1));
                    if t - stats_t >= self.stats_interval_s {
                        let decoded = report.frames_decoded - stats_decoded;
                        queue.put(Item::Stats { at: frame.captured_at, decoded, period_s: t - stats_t });
                        last_stats = Some((t, report.frames_decoded));
                    }
                    if last_due.is_none_or(|last| t - last >= 1.0 / self.camera.detect_fps - 1e-6) {
                        let still = gate.as_mut().is_some_and(|g| {
                            if last_due.is_none() {
                                g.reset(); // a new connection: its stream time starts afresh
                            }
                            let thumb = Thumbnail::of(&frame.rgb, frame.width as usize, frame.height as usize);
                            !g.needs_detection(thumb, t)
                        });
                        last_due = Some(t);
                        queue.put_frame(if still { Item::Still(frame) } else { Item::Frame(frame) }, newest_wins);
                    }
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
            offline(&failure, last_time, &mut online, &mut outage_reported, &mut last_due);
            last_stats = None;
            retry.schedule(&mut report);
            CameraMeter::set(&self.meter.restarts, report.restarts);
        };
        drop(source);
        self.meter.online.store(false, Ordering::Relaxed);
        queue.put(Item::End { why: ended_by.clone(), at: last_time });
        report.ended_by = ended_by;
        report.first_frame = first_frame;
        report
    }

    /// The tracker: detection results and control items in stream order, events out.
    fn track(&self, queue: Arc<FrameQueue>) -> Tally {
        let mut s = Stream::new(self);
        let mut tally = Tally::default();
        let mut watch = Watch {
            book: ParkingBook::new(&self.stationary),
            streaming_since: None,
            tamper: TamperDetector::new(self.camera.tamper.clone()),
            last_view: None,
        };
        let kept = crate::parking_file::load(&self.state_dir, &self.camera.id);
        if !kept.is_empty() {
            tracing::info!(camera = %self.camera.id, episodes = kept.len(), "parking episodes carried over");
            watch.book.restore(kept, Utc::now());
        }
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut submitted = 0u64;
        loop {
            let in_flight = pending.iter().filter(|p| matches!(p, Pending::Frame(_))).count();
            let next = match pending.front() {
                Some(Pending::Control(_)) => None,
                // Room for more: frames in the pool and still frames waiting behind them both
                // count, so neither piles up.
                Some(Pending::Frame(n)) => {
                    Some(queue.next(Some(*n), in_flight < self.pool.depth() && pending.len() < 2 * self.pool.depth()))
                }
                None => Some(queue.next(None, true)),
            };
            let item = match next {
                // A new frame or control item from the reader: into the pipeline, in order.
                Some(Next::Item(Item::Frame(frame))) => {
                    submitted += 1;
                    self.pool.submit(frame, submitted, &queue);
                    pending.push_back(Pending::Frame(submitted));
                    CameraMeter::set(&self.meter.waiting, pending.len() as u64);
                    continue;
                }
                Some(Next::Item(control)) => {
                    pending.push_back(Pending::Control(control));
                    CameraMeter::set(&self.meter.waiting, pending.len() as u64);
                    continue;
                }
                Some(Next::Result((frame, found))) => {
                    pending.pop_front();
                    CameraMeter::set(&self.meter.waiting, pending.len() as u64);
                    CameraMeter::set(&self.meter.dropped, queue.dropped());
                    match found {
                        Ok(detections) => {
                            tally.inferred += 1;
                            CameraMeter::add(&self.meter.inferred);
                            tally.last_result = Some(Instant::now());
                            self.on_detections(&mut s, &mut tally, &mut watch, &frame, &detections, true);
                            s.last_detections = detections;
                        }
                        Err(e) => tracing::warn!(camera = %self.camera.id, error = %e, "detection failed on a frame"),
                    }
                    continue;
                }
                Some(Next::Closed) => {
                    self.save_parking(&mut watch);
                    return tally;
                }
                None => match pending.pop_front() {
                    Some(Pending::Control(item)) => {
                        CameraMeter::set(&self.meter.waiting, pending.len() as u64);
                        item
                    }
                    _ => unreachable!("the front is a control item"),
                },
            };
            match item {
                Item::Frame(_) => unreachable!("frames are submitted"),
                Item::Still(frame) => {
                    tally.gated += 1;
                    CameraMeter::add(&self.meter.gated);
                    tally.last_result = Some(Instant::now());
                    let kept = std::mem::take(&mut s.last_detections);
                    self.on_detections(&mut s, &mut tally, &mut watch, &frame, &kept, false);
                    s.last_detections = kept;
                }
                Item::Online { width, height, at } => {
                    watch.streaming_since = Some(at);
                    // A camera (back) online shows its view at the next heartbeat.
                    tally.thumbnail_due = self.snapshot.enabled && self.snapshot.thumbnail_every_s > 0.0;
                    tally.thumbnail_at = Some(at);
                    self.emit(at, EventBody::CameraOnline { width, height })
                }
                Item::Offline { why, at, close, report } => {
                    if close {
                        self.close_tracks(&mut s, &mut tally, &mut watch, at);
                        s = Stream::new(self);
                    }
                    watch.streaming_since = None;
                    if report {
                        self.emit(Utc::now(), EventBody::CameraOffline { reason: why });
                    }
                }
                Item::Stats { at, decoded, period_s } => {
                    let dropped = queue.dropped();
                    let body = EventBody::CameraStats {
                        frames_decoded: decoded,
                        frames_inferred: tally.inferred - tally.at_stats.0,
                        frames_dropped: dropped - tally.at_stats.1,
                        frames_gated: tally.gated - tally.at_stats.2,
                        period_s,
                        thumbnail: tally.thumbnail.take(),
                    };
                    tally.at_stats = (tally.inferred, dropped, tally.gated);
                    let every = self.snapshot.thumbnail_every_s;
                    if self.snapshot.enabled && every > 0.0 {
                        let since = tally.thumbnail_at.map(|t| (at - t).num_milliseconds() as f64 / 1000.0);
                        if since.is_none_or(|s| s >= every) {
                            tally.thumbnail_due = true;
                            tally.thumbnail_at = Some(at);
                        }
                    }
                    self.emit(at, body);
                }
                Item::End { why, at } => {
                    self.close_tracks(&mut s, &mut tally, &mut watch, at);
                    self.save_parking(&mut watch);
                    self.emit(at, EventBody::CameraOffline { reason: why });
                    return tally;
                }
            }
        }
    }

    /// Write the parking episodes down when they changed.
    fn save_parking(&self, watch: &mut Watch) {
        if watch.book.take_changed()
            && let Err(e) = crate::parking_file::save(&self.state_dir, &self.camera.id, watch.book.episodes())
        {
            tracing::warn!(camera = %self.camera.id, error = %e, "parking episodes not saved");
        }
    }

    /// Close every open track, so zones get their leave and tracks their snapshot; parked
    /// vehicles' episodes wait for the next connection (or start).
    fn close_tracks(&self, s: &mut Stream, tally: &mut Tally, watch: &mut Watch, at: DateTime<Utc>) {
        tracing::debug!(camera = %self.camera.id, open_tracks = s.tracker.live().count(), "closing tracks");
        let ended = s.tracker.finish();
        let now_t = s.last_t;
        self.end_tracks(s, tally, watch, ended, now_t, at);
    }

    /// Detections of a frame through tracker, snapshots, zones, lines, parking and
    /// (`detected`: only for frames the detector saw, not still ones) plate reading.
    fn on_detections(
        &self,
        s: &mut Stream,
        tally: &mut Tally,
        watch: &mut Watch,
        frame: &Frame,
        detections: &[Detection],
        detected: bool,
    ) {
        let t = frame.t();
        s.last_t = t;
        if std::mem::take(&mut tally.thumbnail_due) {
            // The whole view, small: the next heartbeat carries it.
            tally.thumbnail = snapshot::encode(frame.width, frame.height, frame.rgb.clone(), &self.snapshot)
                .map_err(|err| tracing::warn!(camera = %self.camera.id, error = %err, "no thumbnail"))
                .ok()
                .map(|(w, h, jpeg)| Snapshot::jpeg(w, h, &jpeg));
        }
        let update = s.tracker.update(detections, t);
        if let Some(tap) = &self.tap {
            let _ = tap.send(crate::replay::FrameView {
                t,
                captured_at: frame.captured_at,
                width: frame.width,
                height: frame.height,
                detected,
                detections: detections.to_vec(),
                tracks: update.observed.clone(),
            });
        }
        for id in &update.started {
            if let Some((_, class, det)) = update.observed.iter().find(|o| o.0 == *id) {
                tally.tracks += 1;
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
        if let Some((version, layout)) = self.layout.as_ref().and_then(|c| c.newer_than(s.layout_version)) {
            s.layout_version = version;
            let zones = layout.zones.iter().map(|z| z.to_zone()).collect();
            for change in s.zones.replace(zones, layout.exit_grace_s, t) {
                self.emit_zone(frame.captured_at, change);
            }
            s.lines.replace(layout.lines.iter().map(|l| l.to_line()).collect());
            tracing::info!(camera = %self.camera.id, zones = layout.zones.len(), lines = layout.lines.len(), version,
                "zones and lines reloaded");
        }
        for change in s.zones.update(&update.observed, frame.width as f32, frame.height as f32, t) {
            self.emit_zone(frame.captured_at, change);
        }
        for c in s.lines.update(&update.observed, frame.width as f32, frame.height as f32) {
            tracing::debug!(camera = %self.camera.id, track = c.track, line = %c.line, direction = c.direction.as_str(), "line crossed");
            let body = EventBody::LineCrossed { track: c.track, class: c.class, line: c.line, direction: c.direction };
            self.emit(frame.captured_at, body);
        }
        self.on_parking(s, watch, frame, &update);
        self.on_view(watch, frame);
        if detected && let (Some((reader, _)), Some(plates)) = (&self.plates, &mut s.plates) {
            for read in plates.on_frame(reader, frame, tally.inferred, &update.observed, &self.snapshot) {
                tracing::debug!(camera = %self.camera.id, track = read.track, reads = read.reads, "plate published");
                tally.plates += 1;
                self.emit(frame.captured_at, EventBody::PlateRead(read));
            }
        }
        self.end_tracks(s, tally, watch, update.ended, t, frame.captured_at);
    }

    /// Vehicles that stopped or moved off in this frame, and parking episodes nobody took over
    /// in time: `stationary_started` / `stationary_ended` events, the book kept on disk.
    fn on_parking(&self, s: &Stream, watch: &mut Watch, frame: &Frame, update: &TrackUpdate) {
        let (w, h) = (frame.width.max(1) as f32, frame.height.max(1) as f32);
        let t = frame.t();
        // Stream time `at` as capture time.
        let when = |at: f64| {
            let back = chrono::Duration::try_milliseconds(((t - at).max(0.0) * 1000.0) as i64).unwrap_or_default();
            frame.captured_at.checked_sub_signed(back).unwrap_or(frame.captured_at)
        };
        for m in &update.moved {
            if let Some(e) = watch.book.moved(m.id) {
                let left = when(m.left);
                tracing::debug!(camera = %self.camera.id, track = m.id, episode = e.episode, "stationary vehicle moved off");
                self.emit(left, ended_body(&e, m.id, left, StationaryEnd::Moved));
            }
        }
        for st in &update.stopped {
            let g = st.bbox.bottom_center();
            let zones = s.zones.zones_at(st.class, Point::new(g.x / w, g.y / h));
            let started = watch.book.stopped(st.id, st.class, st.bbox.scale(1.0 / w, 1.0 / h), when(st.since), zones);
            let e = &started.episode;
            tracing::debug!(camera = %self.camera.id, track = st.id, episode = e.episode, resumed = started.resumed,
                "vehicle stationary");
            // The officer judging a parked car needs to see it now, not when it drives off.
            let snapshot = s.best.get(&st.id).and_then(|b| {
                snapshot::encode(b.width, b.height, b.rgb.clone(), &self.snapshot)
                    .map_err(|err| tracing::warn!(camera = %self.camera.id, track = st.id, error = %err, "no snapshot"))
                    .ok()
                    .map(|(w, h, jpeg)| Snapshot::jpeg(w, h, &jpeg))
            });
            let body = EventBody::StationaryStarted {
                track: st.id,
                class: st.class,
                episode: e.episode,
                since: e.since,
                bbox: st.bbox,
                zones: e.zones.clone(),
                resumed: started.resumed,
                snapshot,
            };
            self.emit(frame.captured_at, body);
        }
        let streaming = watch.streaming_since.unwrap_or(frame.captured_at);
        for e in watch.book.expire(frame.captured_at, streaming) {
            tracing::debug!(camera = %self.camera.id, episode = e.episode, "parked vehicle no longer seen");
            self.emit(frame.captured_at, ended_body(&e, e.track, frame.captured_at, StationaryEnd::Gone));
        }
        self.save_parking(watch);
    }

    /// The tamper watch on this frame's view: `camera_tampered` (with a small picture of the
    /// view) and `camera_view_restored` events.
    fn on_view(&self, watch: &mut Watch, frame: &Frame) {
        let at = frame.captured_at;
        // Another picture size, or a gap longer than the reference follows: learn the view anew.
        if let Some((w, h, last)) = watch.last_view
            && ((w, h) != (frame.width, frame.height)
                || (at - last).num_milliseconds() as f64 / 1000.0 > self.camera.tamper.adapt_s)
        {
            watch.tamper.relearn();
        }
        watch.last_view = Some((frame.width, frame.height, at));
        let Some(sig) = ViewSignature::of(&frame.rgb, frame.width as usize, frame.height as usize) else { return };
        let t = at.timestamp_micros() as f64 / 1e6;
        let time = |s: f64| DateTime::from_timestamp_micros((s * 1e6) as i64).unwrap_or(at);
        match watch.tamper.observe(sig, t) {
            Some(TamperChange::Tampered { what, since, score }) => {
                tracing::warn!(camera = %self.camera.id, what = what.as_str(), score, "camera view tampered with");
                // A picture of the view, unless pictures are off (`[snapshot] enabled = false`).
                let snapshot = self
                    .snapshot
                    .enabled
                    .then(|| snapshot::encode(frame.width, frame.height, frame.rgb.clone(), &self.snapshot))
                    .and_then(|r| {
                        r.map_err(|e| tracing::warn!(camera = %self.camera.id, error = %e, "no picture of the view"))
                            .ok()
                    })
                    .map(|(w, h, jpeg)| Snapshot::jpeg(w, h, &jpeg));
                self.emit(at, EventBody::CameraTampered { what, since: time(since), score, snapshot });
            }
            Some(TamperChange::Restored { what, since }) => {
                tracing::info!(camera = %self.camera.id, what = what.as_str(), "camera view restored");
                let tampered_s = (t - since).max(0.0);
                self.emit(at, EventBody::CameraViewRestored { what, since: time(since), tampered_s });
            }
            None => {}
        }
    }

    fn end_tracks(
        &self,
        s: &mut Stream,
        tally: &mut Tally,
        watch: &mut Watch,
        ended: Vec<EndedTrack>,
        t: f64,
        at: DateTime<Utc>,
    ) {
        for e in ended {
            if e.stationary_since.is_some() {
                watch.book.track_ended(e.id, at);
            }
            for change in s.zones.track_ended(e.id, t) {
                self.emit_zone(at, change);
            }
            s.lines.track_ended(e.id);
            if let Some(read) = s.plates.as_mut().and_then(|p| p.track_ended(e.id, &self.snapshot)) {
                tally.plates += 1;
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

//! Plate reading on vehicle tracks: when to read, voting across reads, when to publish.
//!
//! Cost control: only vehicles at least `min_vehicle_width` wide, at most every
//! `every_inferred_frames` inferred frames per track (four times slower once published), at
//! most `max_reads` reads and `max_attempts` attempts per track. A plate is published once
//! its vote is stable, again (`update`) if the vote later changes, and at track end if it
//! never settled (`stable: false`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatewatch_core::config::{PlatesConfig, SnapshotConfig};
use gatewatch_core::detection::Detection;
use gatewatch_core::event::{PlateRead, Snapshot};
use gatewatch_core::frame::Frame;
use gatewatch_core::plate::{self, Grammar};
use gatewatch_core::plate_vote::PlateVote;
use gatewatch_core::tracker::TrackId;
use gatewatch_vision::plates::{PLATE_H, PLATE_W, PlateReader, PpOcrReader, RetinaPlateFinder};
use gatewatch_vision::{VisionError, snapshot};

pub type SharedPlateReader = Arc<Mutex<PlateReader<RetinaPlateFinder, PpOcrReader>>>;

pub fn load(cfg: &PlatesConfig, runtime: &std::path::Path) -> Result<SharedPlateReader, VisionError> {
    let mut finder = RetinaPlateFinder::new(&cfg.detector, runtime, cfg.threads)?;
    finder.score_threshold = cfg.score_threshold;
    let reader = PpOcrReader::new(&cfg.recogniser, runtime, cfg.threads, cfg.recogniser_dict.as_deref())?;
    let mut plates = PlateReader::new(finder, reader);
    plates.grammar = cfg.grammar;
    plates.second_zoom = cfg.second_zoom;
    Ok(Arc::new(Mutex::new(plates)))
}

#[derive(Default)]
struct TrackPlate {
    vote: PlateVote,
    attempts: u32,
    last_attempt: Option<u64>,
    published: Option<String>,
    best_plate: Option<(f32, Vec<u8>)>,
    /// The next-best grammatical reads of the most confident read so far.
    alternatives: (f32, Vec<String>),
}

/// Per-camera plate state.
pub struct PlateTracks {
    cfg: PlatesConfig,
    plate_camera: bool,
    tracks: HashMap<TrackId, TrackPlate>,
}

impl PlateTracks {
    pub fn new(cfg: PlatesConfig, plate_camera: bool) -> Self {
        Self { cfg, plate_camera, tracks: HashMap::new() }
    }

    /// Read plates of the vehicle tracks seen in this inferred frame (number `inferred`);
    /// returns the plate reads to publish.
    pub fn on_frame(
        &mut self,
        reader: &SharedPlateReader,
        frame: &Frame,
        inferred: u64,
        observed: &[(TrackId, gatewatch_core::detection::ObjectClass, Detection)],
        snapshots: &SnapshotConfig,
    ) -> Vec<PlateRead> {
        let mut out = Vec::new();
        for (id, class, det) in observed {
            if !class.is_vehicle() || det.bbox.width() < self.cfg.min_vehicle_width as f32 {
                continue;
            }
            let cfg = &self.cfg;
            let st = self.tracks.entry(*id).or_default();
            let every = cfg.every_inferred_frames as u64 * if st.published.is_some() { 4 } else { 1 };
            if st.attempts >= cfg.max_attempts
                || st.vote.reads() >= cfg.max_reads
                || st.last_attempt.is_some_and(|last| inferred - last < every)
            {
                continue;
            }
            st.attempts += 1;
            st.last_attempt = Some(inferred);
            let region = if self.plate_camera {
                Some((frame.width, frame.height, frame.rgb.clone()))
            } else {
                snapshot::crop(&frame.rgb, frame.width, frame.height, &det.bbox)
            };
            let Some((w, h, rgb)) = region else { continue };
            let readings = match reader.lock() {
                Ok(mut r) => r.read_scene(&rgb, w, h),
                Err(_) => return out,
            };
            let reading = match readings {
                Ok(r) => r.into_iter().next(),
                Err(e) => {
                    tracing::warn!(camera = %frame.camera, track = id, error = %e, "plate reading failed");
                    continue;
                }
            };
            let Some(reading) = reading else { continue };
            // What the grammar made of the read, position by position (upper-case, half-width).
            let chars = reading.positions.clone();
            if chars.is_empty() {
                continue;
            }
            if reading.confidence > st.alternatives.0 {
                st.alternatives = (reading.confidence, reading.alternatives.clone());
            }
            let plate_score = reading.plate.map(|p| p.score).unwrap_or(0.0);
            if st.best_plate.as_ref().is_none_or(|(s, _)| plate_score > *s)
                && let Some(rect) = reading.rectified
            {
                st.best_plate = Some((plate_score, rect));
            }
            st.vote.min_reads = cfg.min_reads;
            st.vote.add(chars);
            tracing::debug!(camera = %frame.camera, track = id, reads = st.vote.reads(), "plate read");
            if !st.vote.is_stable() {
                continue;
            }
            if let Some(mut read) = self.result(*id, true, snapshots)
                && self.tracks.get(id).is_some_and(|st| st.published.as_deref() != Some(read.plate.as_str()))
            {
                let st = self.tracks.get_mut(id).expect("present");
                read.update = st.published.is_some();
                st.published = Some(read.plate.clone());
                read.vehicle_snapshot = vehicle_snapshot(frame, det, snapshots);
                out.push(read);
            }
        }
        out
    }

    /// A track ended: its plate if it was read but never published.
    pub fn track_ended(&mut self, id: TrackId, snapshots: &SnapshotConfig) -> Option<PlateRead> {
        let unpublished = self.tracks.get(&id).is_some_and(|st| st.published.is_none() && st.vote.reads() > 0);
        let read = if unpublished { self.result(id, false, snapshots) } else { None };
        self.tracks.remove(&id);
        read
    }

    fn result(&self, id: TrackId, stable: bool, snapshots: &SnapshotConfig) -> Option<PlateRead> {
        let st = self.tracks.get(&id)?;
        let vote = st.vote.result()?;
        let finish = |text: &str| -> Option<Grammar> {
            let n = plate::normalize(text).ok()?;
            Some(if self.cfg.grammar { plate::apply_grammar(&n) } else { Grammar { text: n, valid: None } })
        };
        let voted = finish(&vote.text)?;
        // Other texts the vote saw, then the best read's next-best grammatical reads.
        let mut candidates: Vec<String> = Vec::new();
        let others =
            vote.candidates.iter().map(|(t, _)| t.as_str()).chain(st.alternatives.1.iter().map(String::as_str));
        for text in others.filter_map(finish).map(|g| g.text) {
            if text != voted.text && !candidates.contains(&text) && candidates.len() < 3 {
                candidates.push(text);
            }
        }
        let plate_snapshot = st.best_plate.as_ref().and_then(|(_, rgb)| {
            snapshot::encode(PLATE_W, PLATE_H, rgb.clone(), snapshots).ok().map(|(w, h, j)| Snapshot::jpeg(w, h, &j))
        });
        Some(PlateRead {
            track: id,
            plate: voted.text,
            confidence: vote.confidence.clamp(0.0, 1.0),
            valid: voted.valid,
            candidates,
            reads: vote.reads,
            stable,
            update: false,
            plate_snapshot,
            vehicle_snapshot: None,
        })
    }
}

fn vehicle_snapshot(frame: &Frame, det: &Detection, cfg: &SnapshotConfig) -> Option<Snapshot> {
    let (w, h, rgb) = snapshot::crop(&frame.rgb, frame.width, frame.height, &det.bbox)?;
    snapshot::encode(w, h, rgb, cfg).ok().map(|(w, h, j)| Snapshot::jpeg(w, h, &j))
}

//! Multi-object tracking: stable ids for the objects a detector sees frame after frame.
//!
//! ByteTrack-style association on IoU with constant-velocity motion prediction:
//! 1. every live track predicts its box at the frame time;
//! 2. confident detections are matched to tracks (greedy, highest IoU first, same class);
//! 3. tracks still unmatched get a second chance with the weak detections (occlusion, blur);
//! 4. confident detections left over start tentative tracks, which get an id once seen
//!    `min_hits` times; a confirmed track survives `max_lost_s` without a match, then ends.
//!
//! Time is the frame's capture time in seconds, passed in. Ids come from a [`TrackIds`]
//! source: alone a tracker counts from 1; the edge gives all its cameras one source that never
//! repeats an id, across camera reconnects and process restarts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::detection::{Detection, ObjectClass};
use crate::geometry::BBox;

/// A track id: on an edge, unique among all its cameras' tracks for ever.
pub type TrackId = u64;

/// Where new track ids come from.
pub trait TrackIds: Send + Sync + std::fmt::Debug {
    /// The next id, never given before by this source.
    fn next_id(&self) -> TrackId;
}

/// Ids from 1 up, for as long as the value lives (tests, one-off tools).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl TrackIds for Counter {
    fn next_id(&self) -> TrackId {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score can start and continue tracks.
    pub high_score: f32,
    /// Detections between this and `high_score` only continue existing tracks.
    pub low_score: f32,
    /// Minimum IoU between a predicted box and a detection to match them.
    pub match_iou: f32,
    /// Matches needed before a track is confirmed and gets an id.
    pub min_hits: u32,
    /// A confirmed track unmatched for longer than this (seconds) ends.
    pub max_lost_s: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { high_score: 0.45, low_score: 0.25, match_iou: 0.2, min_hits: 2, max_lost_s: 2.0 }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Track {
    /// `None` while tentative.
    id: Option<TrackId>,
    class: ObjectClass,
    bbox: BBox,
    /// Per-second rate of change of (x1, y1, x2, y2).
    velocity: [f32; 4],
    hits: u32,
    first_seen: f64,
    last_seen: f64,
    best_score: f32,
}

impl Track {
    fn predict(&self, t: f64) -> BBox {
        let dt = (t - self.last_seen) as f32;
        let v = self.velocity;
        BBox::new(
            self.bbox.x1 + v[0] * dt,
            self.bbox.y1 + v[1] * dt,
            self.bbox.x2 + v[2] * dt,
            self.bbox.y2 + v[3] * dt,
        )
    }

    fn observe(&mut self, det: &Detection, t: f64) {
        let dt = (t - self.last_seen) as f32;
        if dt > 0.0 {
            const ALPHA: f32 = 0.5;
            let (o, n) = (self.bbox, det.bbox);
            let raw = [(n.x1 - o.x1) / dt, (n.y1 - o.y1) / dt, (n.x2 - o.x2) / dt, (n.y2 - o.y2) / dt];
            // The second sighting gives the first velocity; later ones smooth it.
            let alpha = if self.hits == 1 { 1.0 } else { ALPHA };
            for (v, r) in self.velocity.iter_mut().zip(raw) {
                *v = alpha * r + (1.0 - alpha) * *v;
            }
        }
        self.bbox = det.bbox;
        self.hits += 1;
        self.last_seen = t;
        self.best_score = self.best_score.max(det.score);
    }
}

/// A track that has ended: what the track-ended event reports.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedTrack {
    pub id: TrackId,
    pub class: ObjectClass,
    pub first_seen: f64,
    pub last_seen: f64,
    pub hits: u32,
    pub best_score: f32,
}

/// What one `update` changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TrackUpdate {
    /// Tracks confirmed in this frame, in id order.
    pub started: Vec<TrackId>,
    /// Every confirmed track matched in this frame, with the detection it matched.
    pub observed: Vec<(TrackId, ObjectClass, Detection)>,
    /// Tracks that ended in this frame (lost for too long).
    pub ended: Vec<EndedTrack>,
}

#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    ids: Arc<dyn TrackIds>,
    last_t: f64,
}

impl Tracker {
    /// A tracker with its own ids, from 1.
    pub fn new(config: TrackerConfig) -> Self {
        Self::with_ids(config, Arc::new(Counter::default()))
    }

    /// A tracker taking its ids from `ids` (shared with other trackers, or persistent).
    pub fn with_ids(config: TrackerConfig, ids: Arc<dyn TrackIds>) -> Self {
        Self { config, tracks: Vec::new(), ids, last_t: f64::NEG_INFINITY }
    }

    /// Confirmed tracks alive now (matched or coasting), with their last box.
    pub fn live(&self) -> impl Iterator<Item = (TrackId, ObjectClass, BBox)> + '_ {
        self.tracks.iter().filter_map(|t| t.id.map(|id| (id, t.class, t.bbox)))
    }

    /// Feed one frame's detections taken at time `t` (seconds). Times must not go backwards;
    /// a frame older than the last one is ignored.
    pub fn update(&mut self, detections: &[Detection], t: f64) -> TrackUpdate {
        let mut out = TrackUpdate::default();
        if t < self.last_t {
            return out;
        }
        self.last_t = t;
        let cfg = self.config;
        let predicted: Vec<BBox> = self.tracks.iter().map(|tr| tr.predict(t)).collect();
        let mut track_taken = vec![false; self.tracks.len()];

        let high: Vec<&Detection> = detections.iter().filter(|d| d.score >= cfg.high_score).collect();
        let low: Vec<&Detection> =
            detections.iter().filter(|d| d.score >= cfg.low_score && d.score < cfg.high_score).collect();

        // Stage 1: confident detections against every track.
        let all: Vec<usize> = (0..self.tracks.len()).collect();
        let (pairs, high_left) = self.associate(&high, &all, &predicted, &mut track_taken);
        // Stage 2: weak detections keep confirmed tracks alive.
        let confirmed_left: Vec<usize> =
            (0..self.tracks.len()).filter(|&i| !track_taken[i] && self.tracks[i].id.is_some()).collect();
        let (pairs_low, _) = self.associate(&low, &confirmed_left, &predicted, &mut track_taken);

        for (ti, det) in pairs.into_iter().chain(pairs_low) {
            let track = &mut self.tracks[ti];
            track.observe(det, t);
            if track.id.is_none() && track.hits >= cfg.min_hits {
                let id = self.ids.next_id();
                track.id = Some(id);
                out.started.push(id);
            }
            if let Some(id) = track.id {
                out.observed.push((id, track.class, *det));
            }
        }

        // Retire: tentative tracks die at their first miss; confirmed ones after max_lost_s.
        let mut keep = Vec::with_capacity(self.tracks.len());
        for (i, track) in self.tracks.drain(..).enumerate() {
            if track_taken[i] {
                keep.push(track);
                continue;
            }
            match track.id {
                Some(id) if t - track.last_seen > cfg.max_lost_s => out.ended.push(ended(id, &track)),
                Some(_) => keep.push(track),
                None => {}
            }
        }
        self.tracks = keep;

        for det in high_left {
            self.tracks.push(Track {
                id: None,
                class: det.class,
                bbox: det.bbox,
                velocity: [0.0; 4],
                hits: 1,
                first_seen: t,
                last_seen: t,
                best_score: det.score,
            });
            if cfg.min_hits <= 1 {
                let id = self.ids.next_id();
                self.tracks.last_mut().expect("just pushed").id = Some(id);
                out.started.push(id);
                out.observed.push((id, det.class, *det));
            }
        }
        out.observed.sort_by_key(|o| o.0);
        out
    }

    /// End every confirmed track (end of stream, camera going away).
    pub fn finish(&mut self) -> Vec<EndedTrack> {
        let ended = self.tracks.iter().filter_map(|tr| tr.id.map(|id| ended(id, tr))).collect();
        self.tracks.clear();
        ended
    }

    /// Greedy IoU matching of `dets` to the tracks `candidates`; returns matched (track, det)
    /// pairs and the detections left over.
    fn associate<'d>(
        &self,
        dets: &[&'d Detection],
        candidates: &[usize],
        predicted: &[BBox],
        taken: &mut [bool],
    ) -> (Vec<(usize, &'d Detection)>, Vec<&'d Detection>) {
        let mut scored = Vec::new();
        for (di, d) in dets.iter().enumerate() {
            for &ti in candidates {
                if taken[ti] || self.tracks[ti].class != d.class {
                    continue;
                }
                let iou = predicted[ti].iou(&d.bbox);
                if iou >= self.config.match_iou {
                    scored.push((iou, ti, di));
                }
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut det_taken = vec![false; dets.len()];
        let mut pairs = Vec::new();
        for (_, ti, di) in scored {
            if !taken[ti] && !det_taken[di] {
                taken[ti] = true;
                det_taken[di] = true;
                pairs.push((ti, dets[di]));
            }
        }
        let left = dets.iter().zip(det_taken).filter(|(_, t)| !t).map(|(d, _)| *d).collect();
        (pairs, left)
    }
}

fn ended(id: TrackId, t: &Track) -> EndedTrack {
    EndedTrack {
        id,
        class: t.class,
        first_seen: t.first_seen,
        last_seen: t.last_seen,
        hits: t.hits,
        best_score: t.best_score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    fn person(x: f32, y: f32, score: f32) -> Detection {
        Detection { bbox: BBox::new(x, y, x + 40.0, y + 100.0), score, class: ObjectClass::Person }
    }

    #[test]
    fn trackers_sharing_a_source_never_share_an_id() {
        let ids: Arc<dyn TrackIds> = Arc::new(Counter::default());
        // Two cameras, and the first one's tracker rebuilt after a reconnect.
        let mut trackers = [
            Tracker::with_ids(TrackerConfig::default(), ids.clone()),
            Tracker::with_ids(TrackerConfig::default(), ids.clone()),
        ];
        let mut seen = Vec::new();
        for round in 0..2 {
            if round == 1 {
                trackers[0] = Tracker::with_ids(TrackerConfig::default(), ids.clone());
            }
            for f in 0..10 {
                for tr in &mut trackers {
                    let dets: Vec<Detection> = (0..3).map(|k| person(100.0 * k as f32, 50.0, 0.9)).collect();
                    seen.extend(tr.update(&dets, (round * 100 + f) as f64).started);
                }
            }
        }
        let distinct: HashSet<_> = seen.iter().collect();
        assert_eq!(seen.len(), 9, "3 tracks per camera, and 3 more after the reconnect: {seen:?}");
        assert_eq!(distinct.len(), seen.len(), "no id twice: {seen:?}");
    }

    #[test]
    fn a_walking_person_keeps_one_id_through_a_gap() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut ids = HashSet::new();
        for f in 0..30 {
            let t = f as f64 * 0.1;
            // Frames 10..=14 (0.5 s) see nothing: occlusion.
            let dets = if (10..15).contains(&f) { vec![] } else { vec![person(10.0 + 8.0 * f as f32, 50.0, 0.8)] };
            let up = tr.update(&dets, t);
            ids.extend(up.observed.iter().map(|o| o.0));
            assert!(up.ended.is_empty(), "ended at frame {f}");
        }
        assert_eq!(ids.len(), 1, "{ids:?}");
        let ended = tr.finish();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].hits, 25);
    }

    #[test]
    fn weak_detections_keep_a_track_but_do_not_start_one() {
        let mut tr = Tracker::new(TrackerConfig::default());
        tr.update(&[person(0.0, 0.0, 0.9)], 0.0);
        let up = tr.update(&[person(2.0, 0.0, 0.9)], 0.1);
        assert_eq!(up.started, vec![1]);
        let up = tr.update(&[person(4.0, 0.0, 0.3), person(400.0, 0.0, 0.3)], 0.2);
        assert_eq!(up.observed.len(), 1);
        assert!(up.started.is_empty());
        assert_eq!(tr.live().count(), 1);
    }

    #[test]
    fn a_track_lost_too_long_ends_and_a_new_one_gets_a_new_id() {
        let cfg = TrackerConfig { max_lost_s: 1.0, ..Default::default() };
        let mut tr = Tracker::new(cfg);
        tr.update(&[person(0.0, 0.0, 0.9)], 0.0);
        tr.update(&[person(0.0, 0.0, 0.9)], 0.1);
        let up = tr.update(&[], 1.2);
        assert_eq!(up.ended.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1]);
        tr.update(&[person(0.0, 0.0, 0.9)], 1.3);
        let up = tr.update(&[person(0.0, 0.0, 0.9)], 1.4);
        assert_eq!(up.started, vec![2]);
    }

    proptest! {
        /// Whatever the detections, an id is started once, ends at most once, is never observed
        /// after it ended, and ids are handed out in increasing order.
        #[test]
        fn ids_are_never_reused(frames in prop::collection::vec(
            prop::collection::vec((0f32..600.0, 0f32..400.0, 0.2f32..1.0), 0..6), 1..60)) {
            let mut tr = Tracker::new(TrackerConfig::default());
            let mut started = HashSet::new();
            let mut ended = HashSet::new();
            let mut last_started = 0;
            let mut observed_at: HashMap<TrackId, usize> = HashMap::new();
            for (f, dets) in frames.iter().enumerate() {
                let dets: Vec<_> = dets.iter().map(|&(x, y, s)| person(x, y, s)).collect();
                let up = tr.update(&dets, f as f64 * 0.2);
                for id in up.started {
                    prop_assert!(started.insert(id), "id {} started twice", id);
                    prop_assert!(id > last_started);
                    last_started = id;
                }
                for (id, _, _) in &up.observed {
                    prop_assert!(started.contains(id) && !ended.contains(id));
                    observed_at.insert(*id, f);
                }
                for e in up.ended {
                    prop_assert!(ended.insert(e.id), "id {} ended twice", e.id);
                }
            }
            for e in tr.finish() {
                prop_assert!(ended.insert(e.id));
            }
            prop_assert_eq!(started, ended);
        }

        /// A steadily moving object seen with gaps shorter than max_lost_s keeps one id.
        #[test]
        fn ids_survive_short_gaps(speed in -15f32..15.0, gap_start in 3usize..20, gap_len in 1usize..8) {
            let mut tr = Tracker::new(TrackerConfig::default());
            let mut ids = HashSet::new();
            for f in 0..40usize {
                let dets = if f >= gap_start && f < gap_start + gap_len { vec![] }
                    else { vec![person(300.0 + speed * f as f32, 100.0, 0.8)] };
                ids.extend(tr.update(&dets, f as f64 * 0.1).observed.into_iter().map(|o| o.0));
            }
            prop_assert_eq!(ids.len(), 1);
        }
    }
}

//! Multi-object tracking: stable ids for the objects a detector sees frame after frame.
//!
//! ByteTrack-style association on IoU with constant-velocity motion prediction:
//! 1. every live track predicts its box at the frame time;
//! 2. confident detections are matched to tracks (greedy, highest IoU first, same class group);
//! 3. tracks still unmatched get a second chance with the weak detections (occlusion, blur),
//!    confirmed tracks first;
//! 4. what IoU could not pair is matched on *buffered* IoU (both boxes widened by `buffer` of
//!    their size, after C-BIoU): a car that moved more than its length between two inferred
//!    frames, or a track found again after a gap;
//! 5. detections left over start tentative tracks, which get an id once seen `min_hits` times
//!    with one confident sighting among them, or `weak_min_hits` times without one if it moved
//!    by half its size (a car seen from straight above never scores high; clutter that scores
//!    weak frame after frame stands still);
//!    a tentative track dies after `tentative_lost_s` unseen, a confirmed one after `max_lost_s`.
//!
//! Time is the frame's capture time in seconds, passed in. Ids come from a [`TrackIds`]
//! source: alone a tracker counts from 1; the edge gives all its cameras one source that never
//! repeats an id, across camera reconnects and process restarts.
//!
//! **Stationary vehicles** ([`StationaryConfig`]): a track of a vehicle class whose box stays
//! within `max_move` of its size (per axis: centre and extent, against where the still run
//! began) for `window_s` is stationary from the start of that run. A stationary track is
//! predicted where it stands (no velocity), survives `max_lost_s` of the stationary config
//! unmatched instead of the tracker's (a passing lorry, a detector gap at night), and counts
//! as moved only when it stays beyond `max_move` for [`MOVE_CONFIRM_S`], so one odd box (a
//! passer-by in front) does not end a parking episode.

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
    /// Matches needed before a track is confirmed and gets an id (one of them confident).
    pub min_hits: u32,
    /// Matches needed to confirm a track none of whose detections was confident.
    pub weak_min_hits: u32,
    /// A confirmed track unmatched for longer than this (seconds) ends.
    pub max_lost_s: f64,
    /// A tentative track unmatched for longer than this (seconds) is dropped.
    pub tentative_lost_s: f64,
    /// How far boxes are widened, as a fraction of their width and height on each side, for
    /// the last matching stage (0: no such stage).
    pub buffer: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.40,
            low_score: 0.25,
            match_iou: 0.2,
            min_hits: 2,
            weak_min_hits: 3,
            max_lost_s: 2.0,
            tentative_lost_s: 1.0,
            buffer: 0.3,
        }
    }
}

impl TrackerConfig {
    /// Every problem, as `tracker.field: what is wrong`.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if !(0.0 < self.low_score && self.low_score <= self.high_score && self.high_score <= 1.0) {
            e.push("tracker: need 0 < low_score <= high_score <= 1".into());
        }
        if !(0.0..1.0).contains(&self.match_iou) {
            e.push("tracker.match_iou: must be within [0, 1)".into());
        }
        if self.min_hits == 0 || self.weak_min_hits < self.min_hits || self.weak_min_hits > 1000 {
            e.push("tracker: need 1 <= min_hits <= weak_min_hits <= 1000".into());
        }
        let seconds = |v: f64| v.is_finite() && (0.0..=3600.0).contains(&v);
        if !seconds(self.max_lost_s) {
            e.push("tracker.max_lost_s: must be within 0 and 3600".into());
        }
        if !seconds(self.tentative_lost_s) || self.tentative_lost_s > self.max_lost_s {
            e.push("tracker.tentative_lost_s: must be within 0 and max_lost_s".into());
        }
        if !(0.0..=2.0).contains(&self.buffer) {
            e.push("tracker.buffer: must be within 0 and 2".into());
        }
        e
    }
}

/// A stationary track must stay beyond `max_move` this long (seconds) before it counts as moved.
pub const MOVE_CONFIRM_S: f64 = 1.0;

/// `[stationary]`: when a vehicle counts as stationary, and how long its parking episode
/// survives without a track (see the module docs and [`crate::parking`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StationaryConfig {
    pub enabled: bool,
    /// Classes that can be stationary (default the vehicles: car, truck, bus, motorcycle).
    pub classes: Vec<ObjectClass>,
    /// Seconds the box must stay put before the track is stationary.
    pub window_s: f64,
    /// Largest move that still counts as standing still, as a fraction of the box's own size
    /// per axis (centre shift over width or height, width or height change).
    pub max_move: f32,
    /// A stationary track unmatched this long (seconds) ends (the tracker's `max_lost_s` for
    /// the others).
    pub max_lost_s: f64,
    /// A parking episode whose track ended (lost, a camera reconnect, an edge restart) is taken
    /// over by a new stationary track of its class at the same place (`resume_iou`) within this
    /// many seconds; after a restart also within the first `window_s + 10` s of frames. Past
    /// that, the vehicle is gone.
    pub resume_s: f64,
    /// Overlap (IoU) a new stationary box needs with an orphaned episode's box to take it over.
    pub resume_iou: f32,
}

impl Default for StationaryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            classes: vec![ObjectClass::Car, ObjectClass::Truck, ObjectClass::Bus, ObjectClass::Motorcycle],
            window_s: 10.0,
            max_move: 0.2,
            max_lost_s: 30.0,
            resume_s: 120.0,
            resume_iou: 0.5,
        }
    }
}

impl StationaryConfig {
    /// Every problem, as `field: what is wrong` (under `at`).
    pub fn validate(&self, at: &str, tracker: &TrackerConfig) -> Vec<String> {
        let mut e = Vec::new();
        if !self.enabled {
            return e;
        }
        if self.classes.is_empty() {
            e.push(format!("{at}.classes: empty (set enabled = false instead)"));
        }
        if !(self.window_s.is_finite() && self.window_s > 0.0 && self.window_s <= 3600.0) {
            e.push(format!("{at}.window_s: must be within (0, 3600]"));
        }
        if !(self.max_move > 0.0 && self.max_move <= 1.0) {
            e.push(format!("{at}.max_move: must be within (0, 1]"));
        }
        if !(self.max_lost_s.is_finite() && self.max_lost_s >= tracker.max_lost_s && self.max_lost_s <= 3600.0) {
            e.push(format!("{at}.max_lost_s: must be within tracker.max_lost_s and 3600"));
        }
        if !(self.resume_s.is_finite() && (0.0..=86_400.0).contains(&self.resume_s)) {
            e.push(format!("{at}.resume_s: must be within 0 and 86400"));
        }
        if !(self.resume_iou > 0.0 && self.resume_iou <= 1.0) {
            e.push(format!("{at}.resume_iou: must be within (0, 1]"));
        }
        e
    }

    fn applies(&self, class: ObjectClass) -> bool {
        self.enabled && self.classes.contains(&class)
    }
}

/// Where a still run of a track began: its reference box and time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Anchor {
    bbox: BBox,
    t: f64,
}

/// How far `b` is from `a`, as the largest of the centre shifts and extent changes, each over
/// `a`'s width or height.
fn movement(a: &BBox, b: &BBox) -> f32 {
    let (w, h) = (a.width().max(1e-3), a.height().max(1e-3));
    let (ca, cb) = (a.center(), b.center());
    [(cb.x - ca.x).abs() / w, (cb.y - ca.y).abs() / h, (b.width() - w).abs() / w, (b.height() - h).abs() / h]
        .into_iter()
        .fold(0.0, f32::max)
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
    /// The first box: a track of weak detections only must have moved from it.
    origin: BBox,
    /// Where the current still run began (tracks of stationary classes only).
    anchor: Option<Anchor>,
    /// Stationary since this time (the start of the still run).
    stationary_since: Option<f64>,
    /// A stationary track first seen beyond `max_move` at this time: moved once it lasts.
    moving_since: Option<f64>,
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
    /// The track was stationary (since this time) when it ended: its vehicle may still be
    /// there (lost by the detector, the stream closed).
    pub stationary_since: Option<f64>,
}

/// A track that became stationary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stopped {
    pub id: TrackId,
    pub class: ObjectClass,
    /// Its box now.
    pub bbox: BBox,
    /// When its still run began.
    pub since: f64,
}

/// A stationary track that moved off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moved {
    pub id: TrackId,
    pub class: ObjectClass,
    /// When it became stationary, and when it was first seen away from its place.
    pub since: f64,
    pub left: f64,
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
    /// Tracks that became stationary in this frame.
    pub stopped: Vec<Stopped>,
    /// Stationary tracks that moved off (confirmed in this frame, or lost while leaving).
    pub moved: Vec<Moved>,
}

#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    stationary: StationaryConfig,
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
        let stationary = StationaryConfig { enabled: false, ..Default::default() };
        Self { config, stationary, tracks: Vec::new(), ids, last_t: f64::NEG_INFINITY }
    }

    /// Also tell which vehicles stand still (off unless set).
    pub fn with_stationary(mut self, stationary: StationaryConfig) -> Self {
        self.stationary = stationary;
        self
    }

    /// Whether live track `id` is stationary now.
    pub fn is_stationary(&self, id: TrackId) -> bool {
        self.tracks.iter().any(|t| t.id == Some(id) && t.stationary_since.is_some())
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
        let free = |taken: &[bool], confirmed: bool| -> Vec<usize> {
            (0..taken.len()).filter(|&i| !taken[i] && self.tracks[i].id.is_some() == confirmed).collect()
        };

        // Stage 1: confident detections against every track.
        let all: Vec<usize> = (0..self.tracks.len()).collect();
        let (mut pairs, high_left) = self.associate(&high, &all, &predicted, &mut track_taken, 0.0);
        // Stage 2: weak detections keep tracks alive, confirmed ones first.
        let (more, low_left) = self.associate(&low, &free(&track_taken, true), &predicted, &mut track_taken, 0.0);
        pairs.extend(more);
        let (more, low_left) = self.associate(&low_left, &free(&track_taken, false), &predicted, &mut track_taken, 0.0);
        pairs.extend(more);
        // Stage 3: buffered IoU for what moved too far or was lost a while.
        let mut left: Vec<&Detection> = high_left.into_iter().chain(low_left).collect();
        if cfg.buffer > 0.0 {
            let rest: Vec<usize> = (0..self.tracks.len()).filter(|&i| !track_taken[i]).collect();
            let (more, rest_left) = self.associate(&left, &rest, &predicted, &mut track_taken, cfg.buffer);
            pairs.extend(more);
            left = rest_left;
        }

        for (ti, det) in pairs {
            let track = &mut self.tracks[ti];
            track.observe(det, t);
            let confirmed = (track.hits >= cfg.min_hits && track.best_score >= cfg.high_score)
                || (track.hits >= cfg.weak_min_hits && shift(&track.origin, &track.bbox) >= WEAK_SHIFT);
            if track.id.is_none() && confirmed {
                let id = self.ids.next_id();
                track.id = Some(id);
                out.started.push(id);
            }
            if self.stationary.applies(track.class) {
                still(track, &self.stationary, t, &mut out);
            }
            if let Some(id) = track.id {
                out.observed.push((id, track.class, *det));
            }
        }

        // Retire: tentative tracks after tentative_lost_s; confirmed ones after max_lost_s.
        let mut keep = Vec::with_capacity(self.tracks.len());
        for (i, track) in self.tracks.drain(..).enumerate() {
            if track_taken[i] {
                keep.push(track);
                continue;
            }
            // A stationary vehicle is kept longer (it is where it was); one that was leaving is not.
            let max_lost = match (track.stationary_since, track.moving_since) {
                (Some(_), None) => self.stationary.max_lost_s,
                _ => cfg.max_lost_s,
            };
            match track.id {
                Some(id) if t - track.last_seen > max_lost => {
                    if let (Some(since), Some(left)) = (track.stationary_since, track.moving_since) {
                        out.moved.push(Moved { id, class: track.class, since, left });
                    }
                    out.ended.push(ended(id, &track))
                }
                Some(_) => keep.push(track),
                None if t - track.last_seen < cfg.tentative_lost_s => keep.push(track),
                None => {}
            }
        }
        self.tracks = keep;

        // A box mostly inside a tracked one (a rider's second, tighter box that NMS kept) or
        // inside a stronger leftover starts nothing.
        let mut covers: Vec<(ObjectClass, BBox)> =
            self.tracks.iter().filter(|tr| tr.last_seen == t).map(|tr| (tr.class, tr.bbox)).collect();
        left.sort_by(|a, b| b.score.total_cmp(&a.score));
        for det in left {
            if covers.iter().any(|(c, b)| c.nms_group() == det.class.nms_group() && det.bbox.covered_by(b) >= DUPLICATE)
            {
                continue;
            }
            covers.push((det.class, det.bbox));
            self.tracks.push(Track {
                id: None,
                class: det.class,
                bbox: det.bbox,
                velocity: [0.0; 4],
                hits: 1,
                first_seen: t,
                last_seen: t,
                best_score: det.score,
                origin: det.bbox,
                // A still run may begin with the first sighting.
                anchor: self.stationary.applies(det.class).then_some(Anchor { bbox: det.bbox, t }),
                stationary_since: None,
                moving_since: None,
            });
            if cfg.min_hits <= 1 && det.score >= cfg.high_score {
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

    /// Greedy IoU matching of `dets` to the tracks `candidates` of the same class group (a
    /// vehicle seen as car, then truck, is one track), both boxes widened by `buffer` of their
    /// size per side (0: plain IoU); returns matched (track, det) pairs and the detections
    /// left over.
    fn associate<'d>(
        &self,
        dets: &[&'d Detection],
        candidates: &[usize],
        predicted: &[BBox],
        taken: &mut [bool],
        buffer: f32,
    ) -> (Vec<(usize, &'d Detection)>, Vec<&'d Detection>) {
        let mut scored = Vec::new();
        for (di, d) in dets.iter().enumerate() {
            for &ti in candidates {
                if taken[ti] || self.tracks[ti].class.nms_group() != d.class.nms_group() {
                    continue;
                }
                let iou = widen(&predicted[ti], buffer).iou(&widen(&d.bbox, buffer));
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

/// A track of weak detections only is confirmed once its centre moved this much of its first
/// box's width or height ([`shift`]): clutter that scores weak frame after frame (a post, a
/// sign, a coat on a hook) stands still, passers-by do not.
const WEAK_SHIFT: f32 = 0.5;

/// How far `b`'s centre is from `a`'s, the larger of the shifts over `a`'s width and height.
fn shift(a: &BBox, b: &BBox) -> f32 {
    let (ca, cb) = (a.center(), b.center());
    ((cb.x - ca.x).abs() / a.width().max(1e-3)).max((cb.y - ca.y).abs() / a.height().max(1e-3))
}

/// A new box this much inside a tracked or stronger box ([`BBox::covered_by`]) starts no track.
const DUPLICATE: f32 = 0.8;

/// `b` widened by `by` of its width and height on every side.
fn widen(b: &BBox, by: f32) -> BBox {
    let (dx, dy) = (b.width() * by, b.height() * by);
    BBox::new(b.x1 - dx, b.y1 - dy, b.x2 + dx, b.y2 + dy)
}

fn ended(id: TrackId, t: &Track) -> EndedTrack {
    EndedTrack {
        id,
        class: t.class,
        first_seen: t.first_seen,
        last_seen: t.last_seen,
        hits: t.hits,
        best_score: t.best_score,
        // One that was already leaving is not parked any more.
        stationary_since: t.stationary_since.filter(|_| t.moving_since.is_none()),
    }
}

/// After `track` matched a detection at `t`: is it still, stationary now, or moving off?
fn still(track: &mut Track, cfg: &StationaryConfig, t: f64, out: &mut TrackUpdate) {
    let bbox = track.bbox;
    let anchor = *track.anchor.get_or_insert(Anchor { bbox, t });
    let away = movement(&anchor.bbox, &bbox) > cfg.max_move;
    match track.stationary_since {
        Some(since) => {
            if away {
                let left = *track.moving_since.get_or_insert(t);
                if t - left >= MOVE_CONFIRM_S {
                    if let Some(id) = track.id {
                        out.moved.push(Moved { id, class: track.class, since, left });
                    }
                    track.stationary_since = None;
                    track.moving_since = None;
                    track.anchor = Some(Anchor { bbox, t });
                    return;
                }
            } else {
                track.moving_since = None;
                // The reference follows the detections slowly (jitter averages out).
                const FOLLOW: f32 = 0.05;
                let a = anchor.bbox;
                let mix = |x: f32, y: f32| x + FOLLOW * (y - x);
                track.anchor = Some(Anchor {
                    bbox: BBox::new(mix(a.x1, bbox.x1), mix(a.y1, bbox.y1), mix(a.x2, bbox.x2), mix(a.y2, bbox.y2)),
                    t: anchor.t,
                });
            }
            // Predicted where it stands.
            track.velocity = [0.0; 4];
        }
        None if away => track.anchor = Some(Anchor { bbox, t }),
        None if t - anchor.t >= cfg.window_s => {
            track.stationary_since = Some(anchor.t);
            track.velocity = [0.0; 4];
            if let Some(id) = track.id {
                out.stopped.push(Stopped { id, class: track.class, bbox, since: anchor.t });
            }
        }
        None => {}
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

    /// A van the detector calls car in one frame and truck in the next stays one track (and
    /// one class); a person is never taken for a vehicle's track.
    #[test]
    fn a_vehicle_whose_class_flickers_keeps_its_track() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut ids = HashSet::new();
        for f in 0..10 {
            let class = if f % 2 == 0 { ObjectClass::Car } else { ObjectClass::Truck };
            let van = Detection { class, ..car(10.0 * f as f32, 50.0) };
            let up = tr.update(&[van], f as f64 * 0.2);
            assert!(up.observed.iter().all(|o| o.1 == ObjectClass::Car), "{:?}", up.observed);
            ids.extend(up.observed.iter().map(|o| o.0));
        }
        assert_eq!(ids.len(), 1, "{ids:?}");
        let up = tr.update(&[Detection { class: ObjectClass::Person, ..car(100.0, 50.0) }], 2.0);
        assert!(up.observed.is_empty(), "{:?}", up.observed);
    }

    /// A car seen from straight above never scores high: it gets an id after `weak_min_hits`
    /// weak sightings (with a miss between them), not before; one weak box alone gets none.
    #[test]
    fn weak_sightings_that_persist_start_a_track() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let roof = |f: usize| Detection { score: 0.3, ..car(100.0 + 30.0 * f as f32, 50.0) };
        assert!(tr.update(&[roof(0)], 0.0).started.is_empty());
        assert!(tr.update(&[], 0.2).started.is_empty(), "a missed frame keeps the tentative track");
        assert!(tr.update(&[roof(2)], 0.4).started.is_empty(), "two weak sightings are not enough");
        assert_eq!(tr.update(&[roof(3)], 0.6).started, vec![1], "the third is");
        // Clutter scoring weak in every frame where it stands is never a track.
        let mut tr = Tracker::new(TrackerConfig::default());
        let post = |f: usize| Detection { score: 0.35, ..person(300.0 + (f % 3) as f32, 80.0, 0.0) };
        assert!((0..100).all(|f| tr.update(&[post(f)], f as f64 * 0.2).started.is_empty()));
        // A weak box that does not come back is dropped after tentative_lost_s.
        let mut tr = Tracker::new(TrackerConfig::default());
        tr.update(&[roof(0)], 0.0);
        tr.update(&[], 1.1);
        for f in 0..2 {
            assert!(tr.update(&[roof(0)], 1.2 + 0.2 * f as f64).started.is_empty(), "started afresh");
        }
    }

    /// A car crossing 0.8 of its width between two inferred frames never overlaps its last box
    /// enough for plain IoU (0.11 < 0.2); the buffered stage keeps it one track.
    #[test]
    fn a_fast_car_is_matched_on_buffered_boxes() {
        let run = |buffer: f32| {
            let mut tr = Tracker::new(TrackerConfig { buffer, ..Default::default() });
            let mut ids = HashSet::new();
            for f in 0..10 {
                let up = tr.update(&[car(96.0 * f as f32, 50.0)], f as f64 * 0.2);
                ids.extend(up.observed.iter().map(|o| o.0));
            }
            ids.len()
        };
        assert_eq!(run(0.0), 0, "without the buffer, no track is ever confirmed");
        assert_eq!(run(0.3), 1);
        // Two people walking side by side stay two tracks.
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut ids = HashSet::new();
        for f in 0..10 {
            let x = 5.0 * f as f32;
            ids.extend(tr.update(&[person(x, 0.0, 0.8), person(x + 50.0, 0.0, 0.8)], f as f64 * 0.2).started);
        }
        assert_eq!(ids.len(), 2);
    }

    /// NMS keeps a rider's tighter second box (IoU under its threshold, mostly inside the
    /// first): it starts no second track.
    #[test]
    fn a_box_inside_a_tracked_one_starts_no_track() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut started = vec![];
        for f in 0..10 {
            let x = 10.0 * f as f32;
            let rider = person(x, 0.0, 0.8);
            let inner = Detection { bbox: BBox::new(x + 8.0, 5.0, x + 32.0, 70.0), score: 0.6, ..rider };
            started.extend(tr.update(&[rider, inner], f as f64 * 0.2).started);
        }
        assert_eq!(started, vec![1]);
    }

    #[test]
    fn tracker_settings_are_checked() {
        assert!(TrackerConfig::default().validate().is_empty());
        let bad = TrackerConfig {
            low_score: 0.5,
            high_score: 0.4,
            weak_min_hits: 1,
            tentative_lost_s: 5.0,
            buffer: f32::NAN,
            max_lost_s: -1.0,
            ..Default::default()
        };
        let e = bad.validate().join("\n");
        for field in ["low_score", "weak_min_hits", "tentative_lost_s", "buffer", "max_lost_s"] {
            assert!(e.contains(field), "{field} not named in {e}");
        }
    }

    fn car(x: f32, y: f32) -> Detection {
        Detection { bbox: BBox::new(x, y, x + 120.0, y + 60.0), score: 0.8, class: ObjectClass::Car }
    }

    fn parking_tracker() -> Tracker {
        Tracker::new(TrackerConfig::default()).with_stationary(StationaryConfig::default())
    }

    /// A parked car seen at 5 fps with a few pixels of box jitter.
    fn jittered(f: usize) -> Detection {
        let j = [0.0, 2.0, -1.5, 1.0, -2.5][f % 5];
        car(300.0 + j, 200.0 - j / 2.0)
    }

    #[test]
    fn a_parked_car_becomes_stationary_after_the_window_and_outlives_detector_gaps() {
        let mut tr = parking_tracker();
        let mut stopped = vec![];
        for f in 0..60 {
            // 5 fps; 12 s of detections.
            stopped.extend(tr.update(&[jittered(f)], f as f64 * 0.2).stopped);
        }
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert_eq!((stopped[0].id, stopped[0].since), (1, 0.0), "stationary since the still run began");
        assert!(tr.is_stationary(1));
        // 25 s without a detection (a lorry in front, a dark spell): still the same track.
        for f in 60..185 {
            let up = tr.update(&[], f as f64 * 0.2);
            assert!(up.ended.is_empty(), "ended at {f}");
        }
        let up = tr.update(&[jittered(3)], 37.0);
        assert_eq!(up.observed.iter().map(|o| o.0).collect::<Vec<_>>(), vec![1], "matched where it stood");
        assert!(up.stopped.is_empty(), "stationary once per run");
        // Unseen for longer than the stationary max_lost_s (30 s): ended, still parked.
        tr.update(&[], 60.0);
        let up = tr.update(&[], 67.5);
        assert_eq!(up.ended.len(), 1);
        assert_eq!(up.ended[0].stationary_since, Some(0.0));
        assert!(up.moved.is_empty());
    }

    #[test]
    fn a_moving_car_never_stops_and_a_waiting_one_stops_only_after_the_window() {
        let mut tr = parking_tracker();
        for f in 0..100 {
            let up = tr.update(&[car(10.0 + 6.0 * f as f32, 200.0)], f as f64 * 0.2);
            assert!(up.stopped.is_empty(), "a car driving 30 px/s past is not stationary (frame {f})");
        }
        // A walking person standing still is not a stationary vehicle.
        let mut tr = parking_tracker();
        for f in 0..100 {
            assert!(tr.update(&[person(100.0, 100.0, 0.9)], f as f64 * 0.2).stopped.is_empty());
        }
        // Off unless asked for.
        let mut plain = Tracker::new(TrackerConfig::default());
        assert!((0..100).all(|f| plain.update(&[jittered(f)], f as f64 * 0.2).stopped.is_empty()));
    }

    #[test]
    fn a_stationary_car_moves_off_only_when_it_stays_away() {
        let mut tr = parking_tracker();
        for f in 0..60 {
            tr.update(&[jittered(f)], f as f64 * 0.2);
        }
        // One odd box (a passer-by in front shrinks it) is no move.
        let odd = Detection { bbox: BBox::new(300.0, 200.0, 380.0, 260.0), ..car(0.0, 0.0) };
        assert!(tr.update(&[odd], 12.0).moved.is_empty());
        assert!(tr.update(&[jittered(0)], 12.2).moved.is_empty());
        // Driving off at 60 px/s: confirmed after MOVE_CONFIRM_S away.
        let mut moved = vec![];
        for f in 0..20 {
            let t = 12.4 + f as f64 * 0.2;
            moved.extend(tr.update(&[car(300.0 + 12.0 * (f + 1) as f32, 200.0)], t).moved);
        }
        assert_eq!(moved.len(), 1, "{moved:?}");
        let m = moved[0];
        assert_eq!(m.since, 0.0);
        assert!(m.left > 12.4 && m.left < 13.5, "first seen away soon after it started: {}", m.left);
        assert!(!tr.is_stationary(1));
        // Still the same track, now an ordinary one: lost after the tracker's 2 s.
        tr.update(&[], 17.0);
        let up = tr.update(&[], 19.5);
        assert_eq!(up.ended.len(), 1);
        assert_eq!(up.ended[0].stationary_since, None);
    }

    #[test]
    fn a_stationary_car_lost_while_leaving_has_moved() {
        let mut tr = parking_tracker();
        for f in 0..60 {
            tr.update(&[jittered(f)], f as f64 * 0.2);
        }
        // Away for two frames, then gone from the picture (it drove out of view).
        tr.update(&[car(330.0, 200.0)], 12.0);
        tr.update(&[car(360.0, 200.0)], 12.2);
        let mut moved = vec![];
        let mut ended = vec![];
        for f in 0..20 {
            let up = tr.update(&[], 12.4 + f as f64 * 0.2);
            moved.extend(up.moved);
            ended.extend(up.ended);
        }
        assert_eq!(moved.len(), 1, "within the tracker's own max_lost_s, not the stationary one");
        assert_eq!((moved[0].since, moved[0].left), (0.0, 12.0));
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].stationary_since, None);
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

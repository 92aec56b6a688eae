//! Parking episodes: one vehicle standing in one place, from when it stopped until it drives
//! off, whatever happens to its track meanwhile.
//!
//! The tracker says when a track becomes stationary and when it moves off
//! ([`crate::tracker::Stopped`], [`crate::tracker::Moved`]). A parked car's track can end
//! without the car moving: the detector loses it for longer than the stationary `max_lost_s`,
//! the camera reconnects, the edge restarts. Its episode is then *orphaned*, not ended: a new
//! stationary track of the same class at the same place (box IoU ≥ `resume_iou`) takes it over
//! with its original start, so the fire-lane clock does not start again. An orphan nobody takes
//! over within `resume_s` (and, after an edge restart, within the first `window_s + 10` s of
//! frames, the time a parked car needs to be seen stationary again) is gone.
//!
//! The book is plain data with time passed in; the edge keeps it on disk beside its spool so it
//! survives a restart (`Episode` is serialisable).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::detection::ObjectClass;
use crate::geometry::BBox;
use crate::tracker::{StationaryConfig, TrackId};

/// Seconds of frames, beyond the stationary window, that a restarted camera gets to see a parked
/// vehicle stationary again before its orphaned episode is gone.
pub const RESUME_GRACE_S: f64 = 10.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The episode's id: the track that first stopped here (track ids never repeat on an edge).
    pub episode: TrackId,
    /// The track holding it now, or the last one that did.
    pub track: TrackId,
    pub class: ObjectClass,
    /// Where it stands, in picture fractions (0..1), as when it stopped.
    pub bbox: BBox,
    /// When the vehicle stopped (capture time).
    pub since: DateTime<Utc>,
    /// Zones its ground point was in when it stopped.
    pub zones: Vec<String>,
    /// When its track ended; `None` while a track holds it.
    pub orphaned_at: Option<DateTime<Utc>>,
}

/// How an episode began or went on.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub episode: Episode,
    /// A new track took over an orphaned episode (same vehicle, same place).
    pub resumed: bool,
}

/// One camera's parking episodes.
#[derive(Debug, Clone)]
pub struct ParkingBook {
    episodes: Vec<Episode>,
    resume: Duration,
    resume_iou: f32,
    /// The stationary window plus [`RESUME_GRACE_S`].
    grace: Duration,
    changed: bool,
}

fn secs(s: f64) -> Duration {
    Duration::try_milliseconds((s.clamp(0.0, 1e9) * 1000.0) as i64).unwrap_or(Duration::zero())
}

impl ParkingBook {
    pub fn new(cfg: &StationaryConfig) -> Self {
        Self {
            episodes: Vec::new(),
            resume: secs(cfg.resume_s),
            resume_iou: cfg.resume_iou,
            grace: secs(cfg.window_s + RESUME_GRACE_S),
            changed: false,
        }
    }

    /// Episodes kept from before (an edge restart). Any still held by a track (a crash kept no
    /// end) is orphaned at `now`.
    pub fn restore(&mut self, episodes: Vec<Episode>, now: DateTime<Utc>) {
        self.episodes = episodes;
        for e in &mut self.episodes {
            e.orphaned_at.get_or_insert(now);
        }
        self.changed = true;
    }

    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// Whether anything changed since the last call (time to write it down).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// `track` became stationary at `bbox` (picture fractions) since `since`, inside `zones`:
    /// it takes over the orphan of its class it overlaps most (at least `resume_iou`), keeping
    /// that episode's id, start and zones; else it starts a new episode.
    pub fn stopped(
        &mut self,
        track: TrackId,
        class: ObjectClass,
        bbox: BBox,
        since: DateTime<Utc>,
        zones: Vec<String>,
    ) -> Started {
        self.changed = true;
        let best = self
            .episodes
            .iter_mut()
            .filter(|e| e.orphaned_at.is_some() && e.class == class)
            .map(|e| (e.bbox.iou(&bbox), e))
            .filter(|(iou, _)| *iou >= self.resume_iou)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, e)) = best {
            e.track = track;
            e.orphaned_at = None;
            return Started { episode: e.clone(), resumed: true };
        }
        let episode = Episode { episode: track, track, class, bbox, since, zones, orphaned_at: None };
        self.episodes.push(episode.clone());
        Started { episode, resumed: false }
    }

    /// `track` drove off: its episode is over.
    pub fn moved(&mut self, track: TrackId) -> Option<Episode> {
        let i = self.episodes.iter().position(|e| e.track == track && e.orphaned_at.is_none())?;
        self.changed = true;
        Some(self.episodes.remove(i))
    }

    /// `track` ended while stationary, at `at`: its episode waits for a new track.
    pub fn track_ended(&mut self, track: TrackId, at: DateTime<Utc>) {
        for e in self.episodes.iter_mut().filter(|e| e.track == track && e.orphaned_at.is_none()) {
            e.orphaned_at = Some(at);
            self.changed = true;
        }
    }

    /// The orphans nobody took over in time, at `now`, on a camera streaming since
    /// `streaming_since`: removed and returned (their vehicles are gone).
    pub fn expire(&mut self, now: DateTime<Utc>, streaming_since: DateTime<Utc>) -> Vec<Episode> {
        let after_start = streaming_since.checked_add_signed(self.grace).unwrap_or(streaming_since);
        let (gone, kept): (Vec<Episode>, Vec<Episode>) =
            std::mem::take(&mut self.episodes).into_iter().partition(|e| {
                e.orphaned_at.is_some_and(|at| {
                    let until = at.checked_add_signed(self.resume).unwrap_or(at).max(after_start);
                    now >= until
                })
            });
        self.episodes = kept;
        if !gone.is_empty() {
            self.changed = true;
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn book() -> ParkingBook {
        ParkingBook::new(&StationaryConfig { resume_s: 120.0, window_s: 10.0, ..Default::default() })
    }

    const SPOT: BBox = BBox { x1: 0.50, y1: 0.60, x2: 0.70, y2: 0.75 };

    #[test]
    fn a_new_track_at_the_same_place_takes_the_episode_over() {
        let mut b = book();
        let first = b.stopped(7, ObjectClass::Car, SPOT, t("2026-12-01T22:00:00Z"), vec!["fire-lane".into()]);
        assert!(!first.resumed);
        assert_eq!((first.episode.episode, first.episode.track), (7, 7));
        // The track is lost (a lorry in front for a minute) and a new one stops at the spot.
        b.track_ended(7, t("2026-12-01T22:10:00Z"));
        assert!(b.expire(t("2026-12-01T22:11:00Z"), t("2026-12-01T21:00:00Z")).is_empty(), "within resume_s");
        let shifted = BBox { x1: 0.51, x2: 0.71, ..SPOT };
        let again = b.stopped(19, ObjectClass::Car, shifted, t("2026-12-01T22:11:30Z"), vec![]);
        assert!(again.resumed);
        let e = &again.episode;
        assert_eq!((e.episode, e.track, e.since), (7, 19, t("2026-12-01T22:00:00Z")), "the clock did not restart");
        assert_eq!(e.zones, vec!["fire-lane".to_string()]);
        // It drives off: the episode ends, once.
        assert_eq!(b.moved(19).map(|e| e.episode), Some(7));
        assert_eq!(b.moved(19), None);
        assert!(b.episodes().is_empty());
    }

    #[test]
    fn another_place_or_class_starts_its_own_episode_and_an_orphan_expires() {
        let mut b = book();
        b.stopped(1, ObjectClass::Car, SPOT, t("2026-12-01T22:00:00Z"), vec![]);
        b.track_ended(1, t("2026-12-01T22:05:00Z"));
        let elsewhere = BBox { x1: 0.10, y1: 0.60, x2: 0.30, y2: 0.75 };
        assert!(!b.stopped(2, ObjectClass::Car, elsewhere, t("2026-12-01T22:05:10Z"), vec![]).resumed);
        assert!(!b.stopped(3, ObjectClass::Truck, SPOT, t("2026-12-01T22:05:20Z"), vec![]).resumed);
        let gone = b.expire(t("2026-12-01T22:07:00Z"), t("2026-12-01T21:00:00Z"));
        assert_eq!(gone.iter().map(|e| e.episode).collect::<Vec<_>>(), vec![1], "120 s after its track ended");
        assert_eq!(b.episodes().len(), 2);
    }

    #[test]
    fn after_a_restart_orphans_wait_for_the_camera_to_see_them_again() {
        let mut b = book();
        b.stopped(5, ObjectClass::Car, SPOT, t("2026-12-01T20:00:00Z"), vec!["fire-lane".into()]);
        // The edge stops at 21:00; the book is saved and read back by the next process.
        b.track_ended(5, t("2026-12-01T21:00:00Z"));
        let saved = serde_json::to_string(b.episodes()).unwrap();
        let mut next = book();
        next.restore(serde_json::from_str(&saved).unwrap(), t("2026-12-01T21:30:00Z"));
        // Frames flow again at 21:30, long after resume_s: the orphan gets window_s + 10 s.
        let start = t("2026-12-01T21:30:00Z");
        assert!(next.expire(t("2026-12-01T21:30:15Z"), start).is_empty());
        let again = next.stopped(1001, ObjectClass::Car, SPOT, t("2026-12-01T21:30:01Z"), vec![]);
        assert!(again.resumed);
        assert_eq!(again.episode.since, t("2026-12-01T20:00:00Z"));
        // Had nothing stopped there, it would have been gone at 21:30:20.
        let mut empty = book();
        empty.restore(serde_json::from_str(&saved).unwrap(), start);
        assert!(empty.expire(t("2026-12-01T21:30:19Z"), start).is_empty());
        assert_eq!(empty.expire(t("2026-12-01T21:30:20Z"), start).len(), 1);
        // A crash saved an episode still held by a track: orphaned at restore.
        let mut crashed = book();
        crashed.stopped(9, ObjectClass::Car, SPOT, t("2026-12-01T20:00:00Z"), vec![]);
        let mut after = book();
        after.restore(crashed.episodes().to_vec(), start);
        assert_eq!(after.episodes()[0].orphaned_at, Some(start));
        assert!(after.take_changed() && !after.take_changed());
    }
}

//! Erasure by plate: every trace of a vehicle's plate taken out of what is kept (`gatewatch
//! erase --plate`). The store deletes or blanks its rows; the edges rewrite their spools; and
//! events still on their way (an edge that was offline when asked) are blanked as they arrive.
//!
//! An erasure names the plate by the SHA-256 of its normalised text, so the broker's retained
//! message and the edges never hold the plate in the clear. (A hash of a plate is not a secret
//! from someone who tries every plate; it keeps the plate out of sight, not out of reach.)
//! Whatever was captured up to the request is erased: a plate read of that plate becomes an
//! [`EventBody::Erased`] event (same id and sequence number, nothing else), and the pictures
//! of the vehicle's track (track end, parking start) lose their snapshot. Later sightings are
//! new data, kept as any other.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{Event, EventBody, PlateRead};
use crate::tracker::TrackId;

/// Most erasures the retained message carries (the newest); more would be a flood, not a
/// residents' request.
pub const MAX_IN_FORCE: usize = 1000;

/// One erasure request, as the edges see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Erasure {
    /// Unique id (a UUID): what an edge acknowledges.
    pub id: String,
    /// [`plate_hash`] of the normalised plate.
    pub plate_sha256: String,
    /// Everything captured up to here is erased.
    pub requested_at: DateTime<Utc>,
}

/// The retained message on [`crate::topic::ERASURES_TOPIC`]: the erasures in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InForce {
    pub erasures: Vec<Erasure>,
}

/// An edge's answer on its `erased` topic: the erasures it has carried out on its spool, and
/// how many spooled events each changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {
    pub ids: Vec<String>,
    #[serde(default)]
    pub events: u64,
}

/// SHA-256 of a normalised plate, lower-case hex.
pub fn plate_hash(normalised: &str) -> String {
    Sha256::digest(normalised.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A 64-character lower-case hex string (what [`plate_hash`] gives).
pub fn valid_hash(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Applies erasures to events (an edge's spool, the aggregator's arrivals).
#[derive(Debug, Default, Clone)]
pub struct Eraser {
    /// Plate hash → the latest request for it.
    by_hash: HashMap<String, DateTime<Utc>>,
    /// Tracks whose plate read was erased, by `site/edge/camera` and track: their pictures go too.
    tracks: HashSet<(String, TrackId)>,
}

impl Eraser {
    pub fn new<'a>(erasures: impl IntoIterator<Item = &'a Erasure>) -> Self {
        let mut by_hash: HashMap<String, DateTime<Utc>> = HashMap::new();
        for e in erasures {
            let at = by_hash.entry(e.plate_sha256.clone()).or_insert(e.requested_at);
            *at = (*at).max(e.requested_at);
        }
        Self { by_hash, tracks: HashSet::new() }
    }

    /// Apply `erasures` from now on, still knowing the tracks erased so far.
    pub fn set<'a>(&mut self, erasures: impl IntoIterator<Item = &'a Erasure>) {
        let tracks = std::mem::take(&mut self.tracks);
        *self = Self::new(erasures);
        self.tracks = tracks;
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether a plate read captured at `at` shows an erased plate (voted or a candidate).
    pub fn erases(&self, read: &PlateRead, at: DateTime<Utc>) -> bool {
        std::iter::once(&read.plate)
            .chain(&read.candidates)
            .any(|p| self.by_hash.get(&plate_hash(p)).is_some_and(|until| at <= *until))
    }

    /// Erase what `ev` holds of an erased plate; true when it changed. A track's plate read
    /// comes before its end and parking events, so an edge's events in order are enough.
    pub fn apply(&mut self, ev: &mut Event) -> bool {
        if self.by_hash.is_empty() {
            return false;
        }
        let camera = format!("{}/{}/{}", ev.site, ev.edge, ev.camera);
        match &mut ev.body {
            EventBody::PlateRead(read) if self.erases(read, ev.captured_at) => {
                self.tracks.insert((camera.clone(), read.track));
                ev.body = EventBody::Erased {};
                true
            }
            EventBody::TrackEnded { track, snapshot, .. } | EventBody::StationaryStarted { track, snapshot, .. }
                if snapshot.is_some() && self.tracks.contains(&(camera.clone(), *track)) =>
            {
                *snapshot = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{SCHEMA_V1, Snapshot};

    fn event(camera: &str, at: DateTime<Utc>, body: EventBody) -> Event {
        Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "north".into(),
            edge: "gate-1".into(),
            camera: camera.into(),
            seq: 7,
            captured_at: at,
            body,
        }
    }

    fn read(track: TrackId, plate: &str, candidates: &[&str]) -> EventBody {
        EventBody::PlateRead(PlateRead {
            track,
            plate: plate.into(),
            candidates: candidates.iter().map(|c| c.to_string()).collect(),
            plate_snapshot: Some(Snapshot::jpeg(2, 2, &[0xff, 0xd8])),
            ..Default::default()
        })
    }

    fn ended(track: TrackId) -> EventBody {
        EventBody::TrackEnded {
            track,
            class: crate::detection::ObjectClass::Car,
            duration_s: 3.0,
            detections: 9,
            best_score: 0.8,
            snapshot: Some(Snapshot::jpeg(2, 2, &[0xff, 0xd8])),
        }
    }

    #[test]
    fn a_read_of_the_plate_before_the_request_is_erased_with_its_tracks_pictures() {
        let asked = Utc::now();
        let before = asked - chrono::Duration::hours(1);
        let mut eraser =
            Eraser::new(&[Erasure { id: "e1".into(), plate_sha256: plate_hash("5AU5341"), requested_at: asked }]);
        let mut hit = event("lane", before, read(4, "5AU5341", &[]));
        let id = hit.event_id;
        assert!(eraser.apply(&mut hit));
        assert_eq!((hit.body.clone(), hit.event_id, hit.seq), (EventBody::Erased {}, id, 7), "same id and place");
        assert!(!hit.encode().windows(7).any(|w| w == b"5AU5341"));
        // The same track's end loses its picture; another track's and another camera's keep theirs.
        let mut end = event("lane", before, ended(4));
        assert!(eraser.apply(&mut end));
        assert!(matches!(end.body, EventBody::TrackEnded { snapshot: None, .. }));
        for mut other in [event("lane", before, ended(5)), event("exit", before, ended(4))] {
            assert!(!eraser.apply(&mut other));
            assert!(matches!(other.body, EventBody::TrackEnded { snapshot: Some(_), .. }));
        }
        // A candidate counts; another plate, and a read after the request, stay.
        let mut as_candidate = event("lane", before, read(6, "5AU5347", &["5AU5341"]));
        assert!(eraser.apply(&mut as_candidate));
        let mut other_plate = event("lane", before, read(8, "5AU5347", &[]));
        assert!(!eraser.apply(&mut other_plate));
        let mut later = event("lane", asked + chrono::Duration::seconds(1), read(9, "5AU5341", &[]));
        assert!(!eraser.apply(&mut later));
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(plate_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert!(valid_hash(&plate_hash("京A12345")));
        assert!(!valid_hash("E3B0") && !valid_hash(&"g".repeat(64)));
    }

    #[test]
    fn an_erased_event_round_trips() {
        let ev = event("lane", Utc::now(), EventBody::Erased {});
        let back = Event::decode(&ev.encode(), 1 << 20).unwrap();
        assert_eq!(back, ev);
    }
}

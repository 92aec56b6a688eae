//! Zones: named polygons on a camera's picture, and which tracks are in them for how long.
//!
//! A track is in a zone when its ground point (bottom centre of its box) is inside the polygon.
//! Polygons are in normalised picture coordinates (0..1), so they survive a resolution change.
//! Leaving needs the point to stay outside for `exit_grace_s`, so a box jittering on the
//! boundary does not make a stream of enter/leave pairs (and reset loitering dwell).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::detection::{Detection, ObjectClass};
use crate::geometry::{Point, Polygon};
use crate::tracker::TrackId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    pub name: String,
    pub polygon: Polygon,
    /// Classes this zone cares about; empty means all.
    #[serde(default)]
    pub classes: Vec<ObjectClass>,
}

impl Zone {
    fn accepts(&self, class: ObjectClass) -> bool {
        self.classes.is_empty() || self.classes.contains(&class)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ZoneChange {
    Entered { track: TrackId, class: ObjectClass, zone: String, at: f64 },
    Left { track: TrackId, class: ObjectClass, zone: String, at: f64, dwell_s: f64 },
}

#[derive(Debug, Clone, Copy)]
struct Presence {
    class: ObjectClass,
    entered_at: f64,
    last_inside: f64,
    outside_since: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ZoneTracker {
    zones: Vec<Zone>,
    exit_grace_s: f64,
    inside: HashMap<(TrackId, usize), Presence>,
}

impl ZoneTracker {
    pub fn new(zones: Vec<Zone>, exit_grace_s: f64) -> Self {
        Self { zones, exit_grace_s, inside: HashMap::new() }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Names of the zones that hold point `p` (picture fractions) for `class`.
    pub fn zones_at(&self, class: ObjectClass, p: Point) -> Vec<String> {
        self.zones.iter().filter(|z| z.accepts(class) && z.polygon.contains(p)).map(|z| z.name.clone()).collect()
    }

    /// Update with the tracks observed in a frame of `width` x `height` pixels at time `t`.
    pub fn update(
        &mut self,
        observed: &[(TrackId, ObjectClass, Detection)],
        width: f32,
        height: f32,
        t: f64,
    ) -> Vec<ZoneChange> {
        let mut changes = Vec::new();
        for &(track, class, det) in observed {
            let g = det.bbox.bottom_center();
            let p = Point::new(g.x / width, g.y / height);
            for (zi, zone) in self.zones.iter().enumerate() {
                if !zone.accepts(class) {
                    continue;
                }
                let now_inside = zone.polygon.contains(p);
                match (self.inside.get_mut(&(track, zi)), now_inside) {
                    (None, true) => {
                        self.inside.insert(
                            (track, zi),
                            Presence { class, entered_at: t, last_inside: t, outside_since: None },
                        );
                        changes.push(ZoneChange::Entered { track, class, zone: zone.name.clone(), at: t });
                    }
                    (Some(pres), true) => {
                        pres.last_inside = t;
                        pres.outside_since = None;
                    }
                    (Some(pres), false) => {
                        let since = *pres.outside_since.get_or_insert(t);
                        if t - since >= self.exit_grace_s {
                            let dwell_s = pres.last_inside - pres.entered_at;
                            self.inside.remove(&(track, zi));
                            changes.push(ZoneChange::Left { track, class, zone: zone.name.clone(), at: t, dwell_s });
                        }
                    }
                    (None, false) => {}
                }
            }
        }
        changes
    }

    /// New zones (a configuration reloaded at time `t`). A track inside a zone whose name is
    /// still there stays inside it (no second entry, its dwell goes on); a zone that is gone, or
    /// no longer counts the track's class, is left now.
    pub fn replace(&mut self, zones: Vec<Zone>, exit_grace_s: f64, t: f64) -> Vec<ZoneChange> {
        let mut changes = Vec::new();
        let mut inside = HashMap::new();
        let mut old: Vec<((TrackId, usize), Presence)> = self.inside.drain().collect();
        old.sort_by_key(|((track, zi), _)| (*track, *zi));
        for ((track, zi), p) in old {
            let name = &self.zones[zi].name;
            match zones.iter().position(|z| &z.name == name && z.accepts(p.class)) {
                Some(nzi) => {
                    inside.insert((track, nzi), p);
                }
                None => changes.push(ZoneChange::Left {
                    track,
                    class: p.class,
                    zone: name.clone(),
                    at: t,
                    dwell_s: p.last_inside - p.entered_at,
                }),
            }
        }
        *self = Self { zones, exit_grace_s, inside };
        changes
    }

    /// A track ended: it leaves every zone it was in, dwell counted to when it was last inside.
    pub fn track_ended(&mut self, track: TrackId, t: f64) -> Vec<ZoneChange> {
        let mut left: Vec<(usize, Presence)> =
            self.inside.iter().filter(|((tr, _), _)| *tr == track).map(|((_, zi), p)| (*zi, *p)).collect();
        left.sort_by_key(|(zi, _)| *zi);
        left.into_iter()
            .map(|(zi, p)| {
                self.inside.remove(&(track, zi));
                ZoneChange::Left {
                    track,
                    class: p.class,
                    zone: self.zones[zi].name.clone(),
                    at: t,
                    dwell_s: p.last_inside - p.entered_at,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

    #[test]
    fn a_reload_keeps_who_is_inside_a_zone_that_stays_and_lets_go_of_one_that_went() {
        let det = |_: f32| at(20.0, 20.0);
        let mut other = square();
        other.name = "other".into();
        let mut z = ZoneTracker::new(vec![square(), other], 0.0);
        let entered = z.update(&[(1, ObjectClass::Person, det(50.0))], 100.0, 100.0, 0.0);
        assert_eq!(entered.len(), 2, "{entered:?}");
        // "other" removed, "square" kept (moved in the list): no second entry, one leave.
        let changes = z.replace(vec![square()], 0.0, 2.0);
        assert_eq!(changes.len(), 1);
        assert!(matches!(&changes[0], ZoneChange::Left { zone, dwell_s, .. } if zone == "other" && *dwell_s == 0.0));
        assert!(z.update(&[(1, ObjectClass::Person, det(50.0))], 100.0, 100.0, 3.0).is_empty(), "still inside");
        let left = z.track_ended(1, 4.0);
        assert!(
            matches!(&left[..], [ZoneChange::Left { zone, dwell_s, .. }] if *zone == square().name && *dwell_s == 3.0)
        );
    }

    fn square() -> Zone {
        Zone {
            name: "shed".into(),
            polygon: Polygon(vec![
                Point::new(0.0, 0.0),
                Point::new(0.5, 0.0),
                Point::new(0.5, 0.5),
                Point::new(0.0, 0.5),
            ]),
            classes: vec![ObjectClass::Person],
        }
    }

    /// A person whose feet are at (x, y) in a 100x100 frame.
    fn at(x: f32, y: f32) -> Detection {
        Detection { bbox: BBox::new(x - 5.0, y - 20.0, x + 5.0, y), score: 0.9, class: ObjectClass::Person }
    }

    #[test]
    fn enter_stay_leave_reports_dwell() {
        let mut z = ZoneTracker::new(vec![square()], 1.0);
        let p = ObjectClass::Person;
        assert!(z.update(&[(1, p, at(80.0, 80.0))], 100.0, 100.0, 0.0).is_empty());
        let c = z.update(&[(1, p, at(20.0, 20.0))], 100.0, 100.0, 1.0);
        assert_eq!(c, vec![ZoneChange::Entered { track: 1, class: p, zone: "shed".into(), at: 1.0 }]);
        assert!(z.update(&[(1, p, at(21.0, 20.0))], 100.0, 100.0, 5.0).is_empty());
        // Outside, but within the grace period: still inside.
        assert!(z.update(&[(1, p, at(80.0, 80.0))], 100.0, 100.0, 5.5).is_empty());
        let c = z.update(&[(1, p, at(80.0, 80.0))], 100.0, 100.0, 6.5);
        assert_eq!(c, vec![ZoneChange::Left { track: 1, class: p, zone: "shed".into(), at: 6.5, dwell_s: 4.0 }]);
    }

    #[test]
    fn jitter_on_the_border_does_not_flap() {
        let mut z = ZoneTracker::new(vec![square()], 1.0);
        let p = ObjectClass::Person;
        let mut changes = 0;
        for f in 0..50 {
            let x = if f % 2 == 0 { 49.0 } else { 51.0 };
            changes += z.update(&[(1, p, at(x, 20.0))], 100.0, 100.0, f as f64 * 0.1).len();
        }
        assert_eq!(changes, 1, "only the first entry");
    }

    #[test]
    fn other_classes_and_ended_tracks() {
        let mut z = ZoneTracker::new(vec![square()], 1.0);
        let car = Detection { class: ObjectClass::Car, ..at(20.0, 20.0) };
        assert!(z.update(&[(2, ObjectClass::Car, car)], 100.0, 100.0, 0.0).is_empty());
        z.update(&[(3, ObjectClass::Person, at(20.0, 20.0))], 100.0, 100.0, 0.0);
        z.update(&[(3, ObjectClass::Person, at(20.0, 20.0))], 100.0, 100.0, 3.0);
        let left = z.track_ended(3, 10.0);
        assert!(matches!(&left[..], [ZoneChange::Left { dwell_s, .. }] if *dwell_s == 3.0));
        assert!(z.track_ended(3, 11.0).is_empty());
    }
}

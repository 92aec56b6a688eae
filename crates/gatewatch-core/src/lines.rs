//! Directional counting lines: a gate's line on a camera's picture, and which tracks cross it
//! which way.
//!
//! A line is a segment from `a` to `b` in picture fractions (0..1 from the top left) with one
//! side named "in" (the compound). A track crosses when its ground point (bottom centre of its
//! box) goes from one side to the other through the segment. A point within `BAND` of the line
//! does not count for either side, so a box jittering on the line never counts, and a track
//! that really goes back counts once each way.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::detection::{Detection, ObjectClass};
use crate::geometry::Point;
use crate::tracker::TrackId;

/// Distance from the line (in picture fractions) inside which a point is on neither side.
pub const BAND: f32 = 0.01;

/// A side of the line `a → b` as seen on the picture, facing from `a` to `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Left,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub a: Point,
    pub b: Point,
    /// The side that is inside the compound.
    pub in_side: Side,
    /// Classes counted; empty means all.
    pub classes: Vec<ObjectClass>,
}

impl Line {
    /// z of (b - a) × (p - a): positive on the right of a → b on the picture (y grows down).
    fn cross(&self, p: Point) -> f32 {
        (self.b.x - self.a.x) * (p.y - self.a.y) - (self.b.y - self.a.y) * (p.x - self.a.x)
    }

    fn length(&self) -> f32 {
        ((self.b.x - self.a.x).powi(2) + (self.b.y - self.a.y).powi(2)).sqrt()
    }

    /// The side of `p`, or none within `BAND` of the (infinite) line.
    fn side(&self, p: Point) -> Option<Side> {
        let c = self.cross(p);
        if c.abs() < BAND * self.length() {
            None
        } else if c > 0.0 {
            Some(Side::Right)
        } else {
            Some(Side::Left)
        }
    }

    /// Whether the move `p → q` (on opposite sides of the line) passes through the segment.
    fn within(&self, p: Point, q: Point) -> bool {
        // a and b on opposite sides (or on) the line through p and q.
        let o = |u: Point, v: Point, w: Point| (v.x - u.x) * (w.y - u.y) - (v.y - u.y) * (w.x - u.x);
        o(p, q, self.a) * o(p, q, self.b) <= 0.0
    }

    fn accepts(&self, class: ObjectClass) -> bool {
        self.classes.is_empty() || self.classes.contains(&class)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub track: TrackId,
    pub class: ObjectClass,
    pub line: String,
    pub direction: Direction,
}

/// Per camera: the lines and, per track and line, the last side a track was clearly on.
#[derive(Debug, Clone, Default)]
pub struct LineCounter {
    lines: Vec<Line>,
    last: HashMap<(TrackId, usize), (Side, Point)>,
}

impl LineCounter {
    pub fn new(lines: Vec<Line>) -> Self {
        Self { lines, last: HashMap::new() }
    }

    /// Update with the tracks observed in a frame of `width` x `height` pixels.
    pub fn update(&mut self, observed: &[(TrackId, ObjectClass, Detection)], width: f32, height: f32) -> Vec<Crossing> {
        let mut out = Vec::new();
        if self.lines.is_empty() || width <= 0.0 || height <= 0.0 {
            return out;
        }
        for &(track, class, det) in observed {
            let g = det.bbox.bottom_center();
            let p = Point::new(g.x / width, g.y / height);
            for (li, line) in self.lines.iter().enumerate() {
                if !line.accepts(class) {
                    continue;
                }
                let Some(side) = line.side(p) else { continue };
                if let Some((was, from)) = self.last.insert((track, li), (side, p))
                    && was != side
                    && line.within(from, p)
                {
                    let direction = if side == line.in_side { Direction::In } else { Direction::Out };
                    out.push(Crossing { track, class, line: line.name.clone(), direction });
                }
            }
        }
        out
    }

    /// New lines (a configuration reloaded): a line kept by name keeps the sides its tracks
    /// were last seen on, so a crossing under way still counts; a changed line's geometry
    /// applies from the next frame.
    pub fn replace(&mut self, lines: Vec<Line>) {
        let last = self
            .last
            .drain()
            .filter_map(|((track, li), v)| {
                let name = &self.lines[li].name;
                lines.iter().position(|l| &l.name == name).map(|nli| ((track, nli), v))
            })
            .collect();
        *self = Self { lines, last };
    }

    /// A track ended: forget it.
    pub fn track_ended(&mut self, track: TrackId) {
        self.last.retain(|(t, _), _| *t != track);
    }
}

/// One row of the in/out counts: a line of a camera, a class, an hour (UTC).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountKey {
    pub site: String,
    /// `edge/camera`.
    pub camera: String,
    pub line: String,
    pub class: ObjectClass,
    /// Start of the hour (UTC).
    pub hour: chrono::DateTime<chrono::Utc>,
}

/// In and out counts per line, class and hour from `line_crossed` events (others are skipped).
pub fn tally<'a>(
    events: impl IntoIterator<Item = &'a crate::event::Event>,
) -> std::collections::BTreeMap<CountKey, (u64, u64)> {
    use chrono::DurationRound;
    let mut out = std::collections::BTreeMap::new();
    for ev in events {
        let crate::event::EventBody::LineCrossed { class, line, direction, .. } = &ev.body else { continue };
        let hour = ev.captured_at.duration_trunc(chrono::Duration::hours(1)).unwrap_or(ev.captured_at);
        let key = CountKey {
            site: ev.site.clone(),
            camera: format!("{}/{}", ev.edge, ev.camera),
            line: line.clone(),
            class: *class,
            hour,
        };
        let n: &mut (u64, u64) = out.entry(key).or_default();
        match direction {
            Direction::In => n.0 += 1,
            Direction::Out => n.1 += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

    /// A gate line across the picture at y = 0.5; below it (the right of a → b) is inside.
    fn gate() -> LineCounter {
        LineCounter::new(vec![Line {
            name: "gate".into(),
            a: Point::new(0.2, 0.5),
            b: Point::new(0.8, 0.5),
            in_side: Side::Right,
            classes: vec![ObjectClass::Car],
        }])
    }

    /// A car whose ground point is at (x, y) in a 100 x 100 picture.
    fn at(track: TrackId, x: f32, y: f32) -> Vec<(TrackId, ObjectClass, Detection)> {
        let det = Detection {
            bbox: BBox::new(x * 100.0 - 5.0, y * 100.0 - 10.0, x * 100.0 + 5.0, y * 100.0),
            score: 0.9,
            class: ObjectClass::Car,
        };
        vec![(track, ObjectClass::Car, det)]
    }

    fn walk(lines: &mut LineCounter, track: TrackId, path: &[(f32, f32)]) -> Vec<Direction> {
        path.iter().flat_map(|&(x, y)| lines.update(&at(track, x, y), 100.0, 100.0)).map(|c| c.direction).collect()
    }

    #[test]
    fn a_reload_keeps_a_crossing_under_way_on_a_kept_line() {
        let mut lines = gate();
        assert!(walk(&mut lines, 1, &[(0.5, 0.3)]).is_empty());
        let mut kept = gate();
        kept.lines.push(Line { name: "side".into(), ..gate().lines[0].clone() });
        lines.replace(kept.lines.clone());
        assert_eq!(
            walk(&mut lines, 1, &[(0.5, 0.7)]),
            vec![Direction::In],
            "the kept line counts the crossing begun before; the new one only knows the track from now"
        );
        lines.replace(Vec::new());
        assert!(walk(&mut lines, 1, &[(0.5, 0.2)]).is_empty(), "no lines, no counts");
    }

    #[test]
    fn a_car_driving_through_counts_once_in_then_once_out() {
        let mut lines = gate();
        assert_eq!(walk(&mut lines, 1, &[(0.5, 0.2), (0.5, 0.4), (0.5, 0.6), (0.5, 0.9)]), vec![Direction::In]);
        assert_eq!(walk(&mut lines, 1, &[(0.5, 0.7), (0.5, 0.3)]), vec![Direction::Out]);
    }

    #[test]
    fn jitter_on_the_line_counts_nothing_and_a_slow_crossing_counts_once() {
        let mut lines = gate();
        let jitter: Vec<(f32, f32)> = (0..40).map(|i| (0.5, 0.5 + if i % 2 == 0 { 0.004 } else { -0.004 })).collect();
        assert!(walk(&mut lines, 1, &jitter).is_empty());
        // Creeping over in 1/1000 steps: the band is crossed once.
        let creep: Vec<(f32, f32)> = (0..200).map(|i| (0.4, 0.4 + i as f32 * 0.001)).collect();
        assert_eq!(walk(&mut lines, 2, &creep), vec![Direction::In]);
    }

    #[test]
    fn passing_beside_the_segment_or_another_class_counts_nothing() {
        let mut lines = gate();
        assert!(walk(&mut lines, 1, &[(0.9, 0.2), (0.9, 0.8)]).is_empty(), "beyond b");
        let person = |y: f32| {
            let d = Detection { bbox: BBox::new(45.0, y - 10.0, 55.0, y), score: 0.9, class: ObjectClass::Person };
            vec![(5, ObjectClass::Person, d)]
        };
        assert!(lines.update(&person(20.0), 100.0, 100.0).is_empty());
        assert!(lines.update(&person(80.0), 100.0, 100.0).is_empty());
        // A track that ended and whose id... never comes back; a new one starts with no side.
        lines.track_ended(1);
        assert!(walk(&mut lines, 3, &[(0.5, 0.8)]).is_empty());
    }
}

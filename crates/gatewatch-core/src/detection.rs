//! What a detector reports, and non-maximum suppression.

use serde::{Deserialize, Serialize};

use crate::geometry::BBox;

/// The object classes gatewatch keeps; every other COCO class is dropped at decode time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectClass {
    Person,
    Bicycle,
    Car,
    Motorcycle,
    Bus,
    Truck,
}

impl ObjectClass {
    pub const ALL: [ObjectClass; 6] = [
        ObjectClass::Person,
        ObjectClass::Bicycle,
        ObjectClass::Car,
        ObjectClass::Motorcycle,
        ObjectClass::Bus,
        ObjectClass::Truck,
    ];

    /// Map a COCO-80 class index (0 person, 1 bicycle, 2 car, 3 motorcycle, 5 bus, 7 truck).
    pub fn from_coco(index: usize) -> Option<Self> {
        match index {
            0 => Some(Self::Person),
            1 => Some(Self::Bicycle),
            2 => Some(Self::Car),
            3 => Some(Self::Motorcycle),
            5 => Some(Self::Bus),
            7 => Some(Self::Truck),
            _ => None,
        }
    }

    pub fn coco_index(self) -> usize {
        match self {
            Self::Person => 0,
            Self::Bicycle => 1,
            Self::Car => 2,
            Self::Motorcycle => 3,
            Self::Bus => 5,
            Self::Truck => 7,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Bicycle => "bicycle",
            Self::Car => "car",
            Self::Motorcycle => "motorcycle",
            Self::Bus => "bus",
            Self::Truck => "truck",
        }
    }

    pub fn is_vehicle(self) -> bool {
        !matches!(self, Self::Person | Self::Bicycle)
    }

    /// Classes that suppress each other in NMS: people, bicycles, and the vehicles together
    /// (one van scores as car and as truck; a rider and the bicycle are two objects).
    pub fn nms_group(self) -> u8 {
        match self {
            Self::Person => 0,
            Self::Bicycle => 1,
            _ => 2,
        }
    }
}

impl std::fmt::Display for ObjectClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ObjectClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown object class {s:?} (known: person, bicycle, car, motorcycle, bus, truck)"))
    }
}

/// One object found in one frame, in frame pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    pub class: ObjectClass,
}

/// Greedy non-maximum suppression per class group ([`ObjectClass::nms_group`]): keeps the
/// highest-scoring box of every cluster whose members overlap it by more than `iou_threshold`,
/// so a van seen as both car and truck is one vehicle. Output is sorted by score, descending.
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        let suppressed =
            kept.iter().any(|k| k.class.nms_group() == d.class.nms_group() && k.bbox.iou(&d.bbox) > iou_threshold);
        if !suppressed {
            kept.push(d);
        }
    }
    kept
}

/// How many of `reference`'s detections `other` found too: greedy, best reference score
/// first, each `other` box used once, same class and IoU >= `min_iou`. Returns
/// `(found, extra)`: reference detections matched, and `other` detections left unmatched.
/// Used to compare a quantised model with the float one it came from.
pub fn agreement(reference: &[Detection], other: &[Detection], min_iou: f32) -> (usize, usize) {
    let (found, taken) = greedy_match(reference, other, min_iou);
    (found, taken.iter().filter(|t| !**t).count())
}

/// The matching behind [`agreement`]: reference detections matched, and for each `other`
/// detection whether a reference one took it.
pub fn greedy_match(reference: &[Detection], other: &[Detection], min_iou: f32) -> (usize, Vec<bool>) {
    let mut order: Vec<&Detection> = reference.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut used = vec![false; other.len()];
    let mut found = 0;
    for r in order {
        let best = other
            .iter()
            .enumerate()
            .filter(|(i, o)| !used[*i] && o.class == r.class)
            .map(|(i, o)| (i, o.bbox.iou(&r.bbox)))
            .filter(|(_, iou)| *iou >= min_iou)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = best {
            used[i] = true;
            found += 1;
        }
    }
    (found, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_matches_each_box_once_by_class_and_overlap() {
        let reference =
            [det(0.0, 0.9, ObjectClass::Person), det(2.0, 0.8, ObjectClass::Person), det(40.0, 0.7, ObjectClass::Car)];
        let other = [
            det(1.0, 0.6, ObjectClass::Person),  // overlaps both people; goes to the first
            det(40.0, 0.9, ObjectClass::Person), // right place, wrong class
            det(80.0, 0.5, ObjectClass::Car),    // nowhere near
        ];
        assert_eq!(agreement(&reference, &other, 0.5), (1, 2));
        assert_eq!(agreement(&reference, &reference, 0.5), (3, 0));
        assert_eq!(agreement(&[], &other, 0.5), (0, 3));
        assert_eq!(greedy_match(&reference, &other, 0.5), (1, vec![true, false, false]));
    }

    /// `gatewatch bench` runs a detector once at a low threshold and cuts the result at higher
    /// ones; that is only right if a cut after NMS equals NMS after the cut.
    #[test]
    fn a_score_cut_after_nms_equals_nms_after_the_cut() {
        let mut seed = 0x2545_f491_u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for _ in 0..200 {
            let boxes: Vec<Detection> = (0..40)
                .map(|_| {
                    let (x, y) = (next() * 60.0, next() * 60.0);
                    let class = if next() < 0.7 { ObjectClass::Person } else { ObjectClass::Car };
                    Detection {
                        bbox: BBox::new(x, y, x + 10.0 + next() * 20.0, y + 10.0 + next() * 20.0),
                        score: next(),
                        class,
                    }
                })
                .collect();
            let t = 0.2 + next() * 0.6;
            let cut_after: Vec<Detection> = nms(boxes.clone(), 0.6).into_iter().filter(|d| d.score >= t).collect();
            let cut_before = nms(boxes.into_iter().filter(|d| d.score >= t).collect(), 0.6);
            assert_eq!(cut_after, cut_before);
        }
    }

    fn det(x: f32, score: f32, class: ObjectClass) -> Detection {
        Detection { bbox: BBox::new(x, 0.0, x + 10.0, 10.0), score, class }
    }

    #[test]
    fn nms_keeps_best_of_overlapping_boxes_per_class() {
        let out = nms(
            vec![
                det(0.0, 0.5, ObjectClass::Person),
                det(1.0, 0.9, ObjectClass::Person),
                det(1.0, 0.8, ObjectClass::Car),     // other class: kept despite overlap
                det(1.0, 0.7, ObjectClass::Bicycle), // the person's bicycle: kept
                det(0.5, 0.6, ObjectClass::Truck),   // the same vehicle as the car: one vehicle
                det(50.0, 0.3, ObjectClass::Person),
            ],
            0.5,
        );
        let summary: Vec<_> = out.iter().map(|d| (d.bbox.x1, d.score, d.class)).collect();
        assert_eq!(
            summary,
            vec![
                (1.0, 0.9, ObjectClass::Person),
                (1.0, 0.8, ObjectClass::Car),
                (1.0, 0.7, ObjectClass::Bicycle),
                (50.0, 0.3, ObjectClass::Person)
            ]
        );
    }

    #[test]
    fn coco_mapping_round_trips() {
        for c in ObjectClass::ALL {
            assert_eq!(ObjectClass::from_coco(c.coco_index()), Some(c));
            assert_eq!(c.as_str().parse::<ObjectClass>(), Ok(c));
        }
        assert_eq!(ObjectClass::from_coco(4), None); // airplane
    }
}

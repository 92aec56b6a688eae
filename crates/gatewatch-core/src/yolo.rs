//! Decoding the output of a user's own YOLO export (COCO-80) into detections. Pure: the
//! tensor in, boxes out.
//!
//! No registry reachable here ships YOLO weights, so gatewatch cannot bring one; a site that
//! has its own export (Ultralytics `model.export(format="onnx")`) points `[vision] model` at it
//! and the detector recognises the layout by the output's shape:
//!
//! - **YOLOv8 / YOLO11** (and later anchor-free heads): one output `[1, 4 + 80, N]`, per
//!   candidate `cx, cy, w, h` in input pixels, then 80 class scores (already sigmoid), stored
//!   channel-major (all `cx` first);
//! - **YOLOv5 / YOLOv7**: one output `[1, N, 5 + 80]`, per candidate `cx, cy, w, h`, an
//!   objectness and 80 class scores; a class's score is objectness × class score.
//!
//! Input: RGB scaled to 0..1, letterboxed with grey (114) padding — `preprocess::YOLO`.

use crate::detection::{Detection, ObjectClass, nms};
use crate::fit::Fit;
use crate::geometry::BBox;

/// COCO-80: the class list gatewatch's classes are picked from.
pub const CLASSES: usize = 80;

/// How the candidates lie in the output tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[1, 4 + classes, n]`: YOLOv8, YOLO11.
    ChannelsFirst { n: usize },
    /// `[1, n, 5 + classes]`: YOLOv5, YOLOv7 (with objectness).
    RowsWithObjectness { n: usize },
}

impl Layout {
    /// The layout of an output of shape `dims`, if it is one of a COCO-80 YOLO.
    pub fn of(dims: &[i64]) -> Result<Layout, String> {
        let &[1, a, b] = dims else {
            return Err(format!("output shape {dims:?} is not [1, A, B]"));
        };
        let (a, b) = (usize::try_from(a).unwrap_or(0), usize::try_from(b).unwrap_or(0));
        // [1, 84, 85] could be either; real exports have thousands of candidates.
        if a == 4 + CLASSES && b > 0 {
            Ok(Layout::ChannelsFirst { n: b })
        } else if b == 5 + CLASSES && a > 0 {
            Ok(Layout::RowsWithObjectness { n: a })
        } else {
            Err(format!(
                "output shape {dims:?} is neither [1, {}, N] (YOLOv8/11) nor [1, N, {}] (YOLOv5/7) of a COCO-80 model",
                4 + CLASSES,
                5 + CLASSES
            ))
        }
    }

    fn len(self) -> usize {
        match self {
            Layout::ChannelsFirst { n } => n * (4 + CLASSES),
            Layout::RowsWithObjectness { n } => n * (5 + CLASSES),
        }
    }
}

/// Thresholds of a decode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub score_threshold: f32,
    pub iou_threshold: f32,
    /// At most this many candidates go into NMS (highest scores first).
    pub max_candidates: usize,
}

/// Candidates above the threshold, of gatewatch's classes, NMS per class group, boxes mapped
/// from input pixels to the frame by `fit`. A tensor of the wrong length is an error.
pub fn decode(data: &[f32], layout: Layout, p: &Params, fit: &Fit) -> Result<Vec<Detection>, String> {
    if data.len() != layout.len() {
        return Err(format!("output has {} values, its shape says {}", data.len(), layout.len()));
    }
    let mut candidates = Vec::new();
    match layout {
        Layout::ChannelsFirst { n } => {
            for i in 0..n {
                let at = |channel: usize| data[channel * n + i];
                let Some((class, score)) = best(|c| at(4 + c)) else { continue };
                if score >= p.score_threshold
                    && let Some(bbox) = centre_box(at(0), at(1), at(2), at(3))
                {
                    candidates.push(Detection { bbox: fit.to_frame(bbox), score, class });
                }
            }
        }
        Layout::RowsWithObjectness { n } => {
            for row in data.chunks_exact(5 + CLASSES).take(n) {
                let objectness = row[4];
                // NaN objectness is no candidate either.
                if objectness.is_nan() || objectness < p.score_threshold {
                    continue;
                }
                let Some((class, score)) = best(|c| objectness * row[5 + c]) else { continue };
                if score >= p.score_threshold
                    && let Some(bbox) = centre_box(row[0], row[1], row[2], row[3])
                {
                    candidates.push(Detection { bbox: fit.to_frame(bbox), score, class });
                }
            }
        }
    }
    if candidates.len() > p.max_candidates {
        candidates.select_nth_unstable_by(p.max_candidates, |a, b| b.score.total_cmp(&a.score));
        candidates.truncate(p.max_candidates);
    }
    Ok(nms(candidates, p.iou_threshold))
}

/// The best-scoring class among those gatewatch keeps (a NaN score is never best).
fn best(score: impl Fn(usize) -> f32) -> Option<(ObjectClass, f32)> {
    ObjectClass::ALL
        .iter()
        .map(|&c| (c, score(c.coco_index())))
        .filter(|(_, s)| s.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// A centre-size box as corners; `None` for a degenerate or non-finite one.
fn centre_box(cx: f32, cy: f32, w: f32, h: f32) -> Option<BBox> {
    let ok = [cx, cy, w, h].iter().all(|v| v.is_finite()) && w > 0.0 && h > 0.0;
    ok.then(|| BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::Resize;

    const P: Params = Params { score_threshold: 0.25, iou_threshold: 0.5, max_candidates: 1000 };

    /// A `[1, 84, n]` tensor with the given candidates (cx, cy, w, h, coco class, score).
    fn v8(n: usize, cands: &[(f32, f32, f32, f32, usize, f32)]) -> Vec<f32> {
        let mut t = vec![0.0; n * 84];
        for (i, &(cx, cy, w, h, class, score)) in cands.iter().enumerate() {
            for (ch, v) in [cx, cy, w, h].into_iter().enumerate() {
                t[ch * n + i] = v;
            }
            t[(4 + class) * n + i] = score;
        }
        t
    }

    #[test]
    fn layouts_are_told_by_shape() {
        assert_eq!(Layout::of(&[1, 84, 8400]), Ok(Layout::ChannelsFirst { n: 8400 }));
        assert_eq!(Layout::of(&[1, 25200, 85]), Ok(Layout::RowsWithObjectness { n: 25200 }));
        assert_eq!(Layout::of(&[1, 84, 8]), Ok(Layout::ChannelsFirst { n: 8 }), "few candidates");
        for bad in [&[1, 6, 56][..], &[1, 8, 8400], &[2, 84, 8400], &[1, 84], &[1, -1, 85]] {
            assert!(Layout::of(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn yolov8_candidates_become_detections_in_frame_pixels() {
        // A 640x640 input holding a 1280x720 frame letterboxed: scale 0.5, 140 px bands.
        let fit = Fit::new(Resize::Letterbox, 1280, 720, 640, 640);
        let t = v8(
            16,
            &[
                (320.0, 320.0, 40.0, 100.0, 0, 0.9),  // a person in the middle
                (322.0, 321.0, 42.0, 98.0, 0, 0.6),   // the same person again: NMS
                (100.0, 400.0, 80.0, 40.0, 2, 0.5),   // a car
                (500.0, 300.0, 30.0, 30.0, 16, 0.99), // a dog: not ours
                (200.0, 200.0, 30.0, 30.0, 0, 0.1),   // below the threshold
            ],
        );
        let d = decode(&t, Layout::ChannelsFirst { n: 16 }, &P, &fit).unwrap();
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!((d[0].class, d[0].score), (ObjectClass::Person, 0.9));
        assert_eq!(d[0].bbox, BBox::new(600.0, 260.0, 680.0, 460.0));
        assert_eq!(d[1].class, ObjectClass::Car);
        assert_eq!(d[1].bbox, BBox::new(120.0, 480.0, 280.0, 560.0));
    }

    #[test]
    fn yolov5_scores_are_objectness_times_class() {
        let fit = Fit::new(Resize::Stretch, 640, 640, 640, 640);
        let mut t = vec![0.0; 3 * 85];
        let mut row = |i: usize, obj: f32, class: usize, p: f32| {
            t[i * 85..i * 85 + 5].copy_from_slice(&[100.0, 100.0, 20.0, 50.0, obj]);
            t[i * 85 + 5 + class] = p;
        };
        row(0, 0.9, 0, 0.8); // 0.72
        row(1, 0.9, 7, 0.2); // truck 0.18: below
        row(2, 0.2, 2, 1.0); // objectness below
        let d = decode(&t, Layout::RowsWithObjectness { n: 3 }, &P, &fit).unwrap();
        assert_eq!(d.len(), 1);
        assert!((d[0].score - 0.72).abs() < 1e-6);
    }

    /// A model's garbage (NaN, infinite or negative sizes) is dropped, a short tensor refused.
    #[test]
    fn absurd_values_are_dropped_and_a_short_tensor_refused() {
        let fit = Fit::new(Resize::Stretch, 640, 640, 640, 640);
        let t = v8(
            4,
            &[
                (f32::NAN, 1.0, 1.0, 1.0, 0, 0.9),
                (1.0, 1.0, -5.0, 1.0, 0, 0.9),
                (1.0, 1.0, f32::INFINITY, 1.0, 0, 0.9),
                (10.0, 10.0, 4.0, 4.0, 0, f32::NAN),
            ],
        );
        assert!(decode(&t, Layout::ChannelsFirst { n: 4 }, &P, &fit).unwrap().is_empty());
        assert!(decode(&t[1..], Layout::ChannelsFirst { n: 4 }, &P, &fit).is_err());
    }
}

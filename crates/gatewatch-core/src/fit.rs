//! Fitting a frame into a detector's fixed input, and mapping its boxes back to the frame.
//!
//! A 16:9 camera frame stretched to NanoDet's 416x416 squashes everything in it by 44 %
//! (1920x1080) or 25 % (768x432): people seen close up lose most of their score. Letterboxing
//! keeps the aspect: the frame is scaled to fit and centred on black, as NanoDet's own
//! `keep_ratio` inference does. Stretching stays available for models trained on it.

use serde::{Deserialize, Serialize};

use crate::geometry::BBox;

/// How a frame is fitted into the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Aspect kept: scaled to fit, centred, the rest black.
    #[default]
    Letterbox,
    /// Scaled to the input's shape, aspect lost.
    Stretch,
}

impl Resize {
    pub fn as_str(self) -> &'static str {
        match self {
            Resize::Letterbox => "letterbox",
            Resize::Stretch => "stretch",
        }
    }
}

/// Where a frame lies in the model input: the rectangle `x, y, width, height` (input pixels)
/// holds the whole frame of `frame_w x frame_h`; the rest is padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
    pub frame_w: u32,
    pub frame_h: u32,
}

impl Fit {
    /// Fit a `frame_w x frame_h` frame (both at least 1) into an `input_w x input_h` input.
    pub fn new(mode: Resize, frame_w: u32, frame_h: u32, input_w: usize, input_h: usize) -> Fit {
        let (fw, fh) = (frame_w.max(1), frame_h.max(1));
        match mode {
            Resize::Stretch => Fit { x: 0, y: 0, width: input_w, height: input_h, frame_w: fw, frame_h: fh },
            Resize::Letterbox => {
                let s = (input_w as f64 / fw as f64).min(input_h as f64 / fh as f64);
                let width = ((fw as f64 * s).round() as usize).clamp(1, input_w);
                let height = ((fh as f64 * s).round() as usize).clamp(1, input_h);
                let (x, y) = ((input_w - width) / 2, (input_h - height) / 2);
                Fit { x, y, width, height, frame_w: fw, frame_h: fh }
            }
        }
    }

    /// A box in input pixels as a box in frame pixels, clamped to the frame.
    pub fn to_frame(&self, b: BBox) -> BBox {
        let sx = self.frame_w as f32 / self.width as f32;
        let sy = self.frame_h as f32 / self.height as f32;
        b.shift(-(self.x as f32), -(self.y as f32)).scale(sx, sy).clamp_to(self.frame_w as f32, self.frame_h as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_16_9_frame_is_centred_with_bands_above_and_below() {
        let f = Fit::new(Resize::Letterbox, 1920, 1080, 416, 416);
        assert_eq!((f.x, f.y, f.width, f.height), (0, 91, 416, 234));
        // A person 100 x 300 frame pixels keeps its shape (within a pixel of rounding).
        let b = f.to_frame(BBox::new(208.0, 91.0 + 50.0, 208.0 + 100.0 * 416.0 / 1920.0, 141.0 + 65.0));
        assert!((b.x1 - 960.0).abs() < 0.5 && (b.y1 - 230.77).abs() < 0.5, "{b:?}");
        assert!((b.width() - 100.0).abs() < 0.5 && (b.height() - 300.0).abs() < 0.5, "{b:?}");
    }

    #[test]
    fn a_portrait_frame_gets_bands_left_and_right() {
        let f = Fit::new(Resize::Letterbox, 432, 768, 416, 416);
        assert_eq!((f.x, f.y, f.width, f.height), (91, 0, 234, 416));
    }

    #[test]
    fn stretch_fills_the_input_and_maps_back_by_scale() {
        let f = Fit::new(Resize::Stretch, 768, 432, 416, 416);
        assert_eq!((f.x, f.y, f.width, f.height), (0, 0, 416, 416));
        let b = f.to_frame(BBox::new(0.0, 0.0, 416.0, 208.0));
        assert_eq!(b, BBox::new(0.0, 0.0, 768.0, 216.0));
    }

    #[test]
    fn boxes_in_the_padding_are_clamped_to_the_frame() {
        let f = Fit::new(Resize::Letterbox, 768, 432, 416, 416);
        let b = f.to_frame(BBox::new(-5.0, 0.0, 500.0, 416.0));
        assert_eq!(b, BBox::new(0.0, 0.0, 768.0, 432.0));
    }

    #[test]
    fn degenerate_frames_do_not_divide_by_zero() {
        for mode in [Resize::Letterbox, Resize::Stretch] {
            let f = Fit::new(mode, 0, 100_000, 416, 416);
            assert!(f.width >= 1 && f.height >= 1, "{f:?}");
            let b = f.to_frame(BBox::new(0.0, 0.0, 416.0, 416.0));
            assert!(b.x2.is_finite() && b.y2.is_finite(), "{b:?}");
        }
    }
}

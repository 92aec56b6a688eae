//! Motion gating: a camera watching a still scene (a gate at 3 a.m.) needs no new detection
//! for every due frame. Each due frame is reduced to a 32x24 grey thumbnail; while no cell of
//! it differs from the thumbnail of the last *detected* frame by `level` grey levels or more,
//! and the last detection is younger than `max_skip_s`, the frame is still: the tracker keeps
//! the last detections (so tracks stay alive and dwell times keep counting) instead of
//! running the detector. Comparing with the last detected frame, not the previous one, means
//! slow changes add up until they count.

use crate::config::MotionGateConfig;

pub const THUMB_W: usize = 32;
pub const THUMB_H: usize = 24;
/// Samples per thumbnail cell along each axis (a 4x4 grid, not every pixel: cheap).
const SAMPLES: usize = 4;

/// A grey thumbnail: cell means of a 4x4 sample grid, in grey levels.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail(Vec<f32>);

impl Thumbnail {
    /// Of a packed RGB frame `w` x `h` (at least 1x1).
    pub fn of(rgb: &[u8], w: usize, h: usize) -> Self {
        assert!(w > 0 && h > 0 && rgb.len() >= w * h * 3, "packed RGB");
        let mut cells = Vec::with_capacity(THUMB_W * THUMB_H);
        for cy in 0..THUMB_H {
            for cx in 0..THUMB_W {
                let mut sum = 0u32;
                for sy in 0..SAMPLES {
                    let y = ((cy * SAMPLES + sy) * 2 + 1) * h / (2 * THUMB_H * SAMPLES);
                    for sx in 0..SAMPLES {
                        let x = ((cx * SAMPLES + sx) * 2 + 1) * w / (2 * THUMB_W * SAMPLES);
                        let p = (y * w + x) * 3;
                        // Integer luma (BT.601 weights / 256).
                        sum += (77 * rgb[p] as u32 + 150 * rgb[p + 1] as u32 + 29 * rgb[p + 2] as u32) >> 8;
                    }
                }
                cells.push(sum as f32 / (SAMPLES * SAMPLES) as f32);
            }
        }
        Self(cells)
    }

    /// Cells whose mean differs from `other`'s by `level` or more.
    pub fn changed_cells(&self, other: &Thumbnail, level: f32) -> usize {
        self.0.iter().zip(&other.0).filter(|(a, b)| (*a - *b).abs() >= level).count()
    }
}

/// One camera's gate.
#[derive(Debug, Clone)]
pub struct MotionGate {
    cfg: MotionGateConfig,
    /// The thumbnail and stream time of the last frame sent for detection.
    reference: Option<(Thumbnail, f64)>,
}

impl MotionGate {
    pub fn new(cfg: MotionGateConfig) -> Self {
        Self { cfg, reference: None }
    }

    /// Whether the frame at stream time `t` with thumbnail `thumb` needs a detection; if so it
    /// becomes the new reference.
    pub fn needs_detection(&mut self, thumb: Thumbnail, t: f64) -> bool {
        if let Some((reference, at)) = &self.reference
            && t - at < self.cfg.max_skip_s
            && t >= *at
            && thumb.changed_cells(reference, self.cfg.level) == 0
        {
            return false;
        }
        self.reference = Some((thumb, t));
        true
    }

    /// Forget the reference (a new connection: its stream time starts afresh).
    pub fn reset(&mut self) {
        self.reference = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize, paint: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                out.extend_from_slice(&[paint(x, y); 3]);
            }
        }
        out
    }

    fn gate() -> MotionGate {
        MotionGate::new(MotionGateConfig { level: 10.0, max_skip_s: 2.0 })
    }

    #[test]
    fn a_still_picture_is_skipped_until_max_skip() {
        let still = frame(320, 240, |x, y| ((x * 7 + y * 3) % 200) as u8);
        let mut g = gate();
        let due: Vec<bool> =
            (0..25).map(|i| g.needs_detection(Thumbnail::of(&still, 320, 240), i as f64 * 0.2)).collect();
        // t = 0, then every 2 s of stream time: 0.0, 2.0, 4.0.
        let detected: Vec<usize> = due.iter().enumerate().filter(|(_, d)| **d).map(|(i, _)| i).collect();
        assert_eq!(detected, vec![0, 10, 20]);
    }

    #[test]
    fn a_person_sized_change_is_motion_and_noise_is_not() {
        let (w, h) = (768, 576);
        let scene = |x: usize, y: usize| ((x / 16 + y / 16) % 2 * 60 + 80) as u8;
        let base = Thumbnail::of(&frame(w, h, scene), w, h);
        // Sensor noise of +-3 grey levels everywhere.
        let noisy =
            Thumbnail::of(&frame(w, h, |x, y| (scene(x, y) as i32 + ((x * 31 + y * 17) % 7) as i32 - 3) as u8), w, h);
        assert_eq!(noisy.changed_cells(&base, 10.0), 0);
        // A dark 30x70 figure at (400, 300): several cells change.
        let person = Thumbnail::of(
            &frame(w, h, |x, y| if (400..430).contains(&x) && (300..370).contains(&y) { 10 } else { scene(x, y) }),
            w,
            h,
        );
        assert!(person.changed_cells(&base, 10.0) >= 2, "{}", person.changed_cells(&base, 10.0));
        let mut g = gate();
        assert!(g.needs_detection(base.clone(), 0.0));
        assert!(!g.needs_detection(noisy, 0.2));
        assert!(g.needs_detection(person, 0.4));
    }

    #[test]
    fn slow_drift_adds_up_against_the_last_detected_frame() {
        let mut g = gate();
        let lit = |level: u8| Thumbnail::of(&frame(64, 48, |_, _| level), 64, 48);
        assert!(g.needs_detection(lit(100), 0.0));
        // 4 grey levels per step: never 10 between neighbours, but 12 after three steps.
        assert!(!g.needs_detection(lit(104), 0.1));
        assert!(!g.needs_detection(lit(108), 0.2));
        assert!(g.needs_detection(lit(112), 0.3));
        g.reset();
        assert!(g.needs_detection(lit(112), 0.0), "after a reset the first frame is detected");
    }
}

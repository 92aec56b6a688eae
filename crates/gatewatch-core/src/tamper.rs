//! Camera tampering: a view that is suddenly covered, blurred or turned away.
//!
//! Each due frame is reduced to a [`ViewSignature`]: a 32x24 grid of grey cell means (what
//! the picture shows, coarsely) and its *detail*, the mean difference between neighbouring
//! pixels at 64x48 points of the full picture (what blur takes away). The signature is compared
//! with a reference learnt over the first `learn_s` of frames and then followed slowly
//! (`adapt_s`), so dusk, headlights and passers-by are not tampering:
//!
//! - **covered**: the cells' contrast falls below `covered_contrast` of the reference's (a hand,
//!   a bag, paint, a torch into the lens);
//! - **blurred**: the detail falls below `blurred_detail` of the reference's (defocused,
//!   smeared, fogged);
//! - **moved**: the cells no longer match the reference's ([`ViewSignature::difference`]
//!   above `moved_difference`: the camera looks elsewhere). Each picture's cells are scaled
//!   to their own median and spread first (light comes and goes) and the median cell
//!   difference is taken (people and cars crossing change a minority of cells).
//!
//! The defaults were set on real footage (`tests/rules/tamper.rs`): over any 5 s of vtest.avi and of
//! the three 16:9 development clips, contrast stayed above 0.86 of the reference, detail above
//! 0.97 and the difference below 0.42; vtest.avi covered, blurred (Gaussian, sigma 3) and
//! turned gave 0.0, 0.27 and 0.85.
//!
//! A condition must hold for `hold_s` before it is tampering, and be gone for `hold_s` before
//! the view counts as restored. While tampered the reference stands still (a covered view must
//! not become the normal one), except that a view turned for `rebase_s` becomes the new
//! reference (someone re-aimed the camera; the alert stays with the officers). The edge learns
//! the reference afresh after another picture size or a gap in frames longer than `adapt_s` (a
//! long outage; a view tampered with at the time stays so). A view already covered when the
//! camera starts is learnt as the normal one: nothing to compare it with. Time is capture time
//! in seconds, passed in.

use serde::{Deserialize, Serialize};

pub const CELLS_W: usize = 32;
pub const CELLS_H: usize = 24;
/// Samples per cell along each axis.
const SAMPLES: usize = 4;
/// Detail points along each axis.
const DETAIL_W: usize = 64;
const DETAIL_H: usize = 48;
/// A reference with less contrast than this (grey levels, standard deviation of the cells)
/// is too flat to say it was covered or turned (a night scene in fog).
const MIN_CONTRAST: f32 = 4.0;
/// Nor can a reference with less detail than this say it was blurred.
const MIN_DETAIL: f32 = 0.8;

/// `[cameras.tamper]`: see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TamperConfig {
    pub enabled: bool,
    /// Seconds of frames the first reference is learnt from.
    pub learn_s: f64,
    /// Seconds a condition must hold (and then be gone) before it counts.
    pub hold_s: f64,
    /// Time constant (seconds) with which the reference follows a normal view.
    pub adapt_s: f64,
    /// Covered below this fraction of the reference's contrast.
    pub covered_contrast: f32,
    /// Blurred below this fraction of the reference's detail.
    pub blurred_detail: f32,
    /// Turned away above this difference from the reference.
    pub moved_difference: f32,
    /// A view turned for this long becomes the new reference.
    pub rebase_s: f64,
}

impl Default for TamperConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            learn_s: 10.0,
            hold_s: 5.0,
            adapt_s: 120.0,
            covered_contrast: 0.3,
            blurred_detail: 0.5,
            moved_difference: 0.65,
            rebase_s: 600.0,
        }
    }
}

impl TamperConfig {
    pub fn validate(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        if !self.enabled {
            return e;
        }
        let secs = |x: f64| x.is_finite() && x > 0.0 && x <= 86_400.0;
        if !(secs(self.learn_s) && secs(self.hold_s) && secs(self.adapt_s) && secs(self.rebase_s)) {
            e.push(format!("{at}: learn_s, hold_s, adapt_s and rebase_s must be within (0, 86400]"));
        }
        for (name, v) in [
            ("covered_contrast", self.covered_contrast),
            ("blurred_detail", self.blurred_detail),
            ("moved_difference", self.moved_difference),
        ] {
            if !(v > 0.0 && v < 1.0) {
                e.push(format!("{at}.{name}: must be within (0, 1)"));
            }
        }
        e
    }
}

/// What a frame shows, coarsely, and how much fine detail it has.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSignature {
    cells: Vec<f32>,
    detail: f32,
}

fn luma(rgb: &[u8], w: usize, x: usize, y: usize) -> f32 {
    let p = (y * w + x) * 3;
    (77 * rgb[p] as u32 + 150 * rgb[p + 1] as u32 + 29 * rgb[p + 2] as u32) as f32 / 256.0
}

impl ViewSignature {
    /// Of a packed RGB frame `w` x `h`; `None` for a frame too small (under 8x8) or short.
    pub fn of(rgb: &[u8], w: usize, h: usize) -> Option<Self> {
        if w < 8 || h < 8 || rgb.len() < w * h * 3 {
            return None;
        }
        let mut cells = Vec::with_capacity(CELLS_W * CELLS_H);
        for cy in 0..CELLS_H {
            for cx in 0..CELLS_W {
                let mut sum = 0.0;
                for sy in 0..SAMPLES {
                    let y = ((cy * SAMPLES + sy) * 2 + 1) * h / (2 * CELLS_H * SAMPLES);
                    for sx in 0..SAMPLES {
                        let x = ((cx * SAMPLES + sx) * 2 + 1) * w / (2 * CELLS_W * SAMPLES);
                        sum += luma(rgb, w, x, y);
                    }
                }
                cells.push(sum / (SAMPLES * SAMPLES) as f32);
            }
        }
        let mut detail = 0.0;
        for dy in 0..DETAIL_H {
            let y = ((dy * 2 + 1) * (h - 1) / (2 * DETAIL_H)).min(h - 2);
            for dx in 0..DETAIL_W {
                let x = ((dx * 2 + 1) * (w - 1) / (2 * DETAIL_W)).min(w - 2);
                let here = luma(rgb, w, x, y);
                detail += (luma(rgb, w, x + 1, y) - here).abs() + (luma(rgb, w, x, y + 1) - here).abs();
            }
        }
        Some(Self { cells, detail: detail / (2 * DETAIL_W * DETAIL_H) as f32 })
    }

    /// Standard deviation of the cell means, in grey levels.
    pub fn contrast(&self) -> f32 {
        let n = self.cells.len() as f32;
        let mean = self.cells.iter().sum::<f32>() / n;
        (self.cells.iter().map(|c| (c - mean).powi(2)).sum::<f32>() / n).sqrt()
    }

    pub fn detail(&self) -> f32 {
        self.detail
    }

    /// How unlike `other` the picture is, robust to passers-by and light: each signature's
    /// cells scaled to their median and median absolute deviation, then the median of the
    /// cell differences (near 0.2 for the same view with people crossing it; near 1 for
    /// unrelated views).
    pub fn difference(&self, other: &ViewSignature) -> f32 {
        fn median(v: &mut [f32]) -> f32 {
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        }
        fn scaled(cells: &[f32]) -> Vec<f32> {
            let m = median(&mut cells.to_vec());
            let mad = median(&mut cells.iter().map(|c| (c - m).abs()).collect::<Vec<_>>()).max(0.5);
            cells.iter().map(|c| (c - m) / mad).collect()
        }
        let (a, b) = (scaled(&self.cells), scaled(&other.cells));
        median(&mut a.iter().zip(&b).map(|(x, y)| (x - y).abs()).collect::<Vec<_>>())
    }

    /// `self` moved a fraction `k` of the way to `other`.
    fn follow(&mut self, other: &ViewSignature, k: f32) {
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            *a += k * (b - *a);
        }
        self.detail += k * (other.detail - self.detail);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tampering {
    Covered,
    Blurred,
    Moved,
}

impl Tampering {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Covered => "covered",
            Self::Blurred => "blurred",
            Self::Moved => "moved",
        }
    }
}

/// What [`TamperDetector::observe`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TamperChange {
    /// The view has been tampered with since `since` (seconds); `score` is the measure that
    /// crossed its bound (contrast or detail ratio, or difference).
    Tampered { what: Tampering, since: f64, score: f32 },
    /// The view is back as it was, after being tampered with from `since`.
    Restored { what: Tampering, since: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Learning { since: f64, frames: u32 },
    Normal,
    Suspect { what: Tampering, since: f64 },
    Tampered { what: Tampering, since: f64 },
    Clearing { what: Tampering, since: f64, clear_since: f64 },
}

/// One camera's tamper watch.
#[derive(Debug, Clone)]
pub struct TamperDetector {
    cfg: TamperConfig,
    reference: Option<ViewSignature>,
    state: State,
    last_t: Option<f64>,
}

impl TamperDetector {
    pub fn new(cfg: TamperConfig) -> Self {
        Self { cfg, reference: None, state: State::Learning { since: 0.0, frames: 0 }, last_t: None }
    }

    /// Start learning afresh (another resolution, a long outage). A tampered view stays so.
    pub fn relearn(&mut self) {
        if matches!(self.state, State::Learning { .. } | State::Normal | State::Suspect { .. }) {
            self.reference = None;
            self.state = State::Learning { since: 0.0, frames: 0 };
            self.last_t = None;
        }
    }

    /// Whether the view is tampered with now (waiting to be restored included).
    pub fn is_tampered(&self) -> bool {
        matches!(self.state, State::Tampered { .. } | State::Clearing { .. })
    }

    /// What is wrong with `sig` against the reference, if anything, and the measure.
    fn judge(&self, sig: &ViewSignature) -> Option<(Tampering, f32)> {
        let r = self.reference.as_ref()?;
        let rc = r.contrast();
        if rc >= MIN_CONTRAST {
            let ratio = sig.contrast() / rc;
            if ratio < self.cfg.covered_contrast {
                return Some((Tampering::Covered, ratio));
            }
        }
        if r.detail >= MIN_DETAIL {
            let ratio = sig.detail / r.detail;
            if ratio < self.cfg.blurred_detail {
                return Some((Tampering::Blurred, ratio));
            }
        }
        if rc < MIN_CONTRAST {
            return None; // nothing to recognise the view by
        }
        let diff = sig.difference(r);
        (diff > self.cfg.moved_difference).then_some((Tampering::Moved, diff))
    }

    /// How `sig` compares with the reference: contrast and detail as fractions of the
    /// reference's, and the difference from it (calibration, diagnostics). `None` before a
    /// reference is learnt.
    pub fn measures(&self, sig: &ViewSignature) -> Option<[f32; 3]> {
        let r = self.reference.as_ref()?;
        Some([sig.contrast() / r.contrast().max(1e-3), sig.detail / r.detail.max(1e-3), sig.difference(r)])
    }

    /// The signature of the frame at `t` (seconds, capture time; frames older than the last one
    /// are ignored).
    pub fn observe(&mut self, sig: ViewSignature, t: f64) -> Option<TamperChange> {
        if !self.cfg.enabled || !t.is_finite() || self.last_t.is_some_and(|last| t < last) {
            return None;
        }
        let dt = self.last_t.map_or(0.0, |last| t - last);
        self.last_t = Some(t);
        let hold = self.cfg.hold_s;
        match self.state {
            State::Learning { since, frames } => {
                let since = if frames == 0 { t } else { since };
                let frames = frames + 1;
                match &mut self.reference {
                    None => self.reference = Some(sig),
                    Some(r) => r.follow(&sig, 1.0 / frames as f32),
                }
                self.state =
                    if t - since >= self.cfg.learn_s { State::Normal } else { State::Learning { since, frames } };
                None
            }
            State::Normal => {
                match self.judge(&sig) {
                    Some((what, _)) => self.state = State::Suspect { what, since: t },
                    None => {
                        let k = (dt / self.cfg.adapt_s).clamp(0.0, 1.0) as f32;
                        if let Some(r) = &mut self.reference {
                            r.follow(&sig, k);
                        }
                    }
                }
                None
            }
            State::Suspect { since, .. } => match self.judge(&sig) {
                None => {
                    self.state = State::Normal;
                    None
                }
                Some((what, score)) if t - since >= hold => {
                    self.state = State::Tampered { what, since };
                    Some(TamperChange::Tampered { what, since, score })
                }
                Some((what, _)) => {
                    self.state = State::Suspect { what, since };
                    None
                }
            },
            State::Tampered { what, since } => {
                match self.judge(&sig) {
                    None => self.state = State::Clearing { what, since, clear_since: t },
                    Some((Tampering::Moved, _)) if what == Tampering::Moved && t - since >= self.cfg.rebase_s => {
                        // Re-aimed for good: this is the view now. Its alert stays with the desk.
                        self.reference = Some(sig);
                        self.state = State::Normal;
                    }
                    Some(_) => {}
                }
                None
            }
            State::Clearing { what, since, clear_since } => match self.judge(&sig) {
                Some(_) => {
                    self.state = State::Tampered { what, since };
                    None
                }
                None if t - clear_since >= hold => {
                    self.state = State::Normal;
                    Some(TamperChange::Restored { what, since })
                }
                None => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 320;
    const H: usize = 240;

    /// A textured scene: a gradient with blocks and fine stripes, brightness `gain`, with a dark
    /// figure at column `person` (a passer-by), if any.
    fn scene(gain: f32, person: Option<usize>, noise: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(W * H * 3);
        for y in 0..H {
            for x in 0..W {
                let mut v = 60.0 + (x as f32 / W as f32) * 80.0 + ((x / 40 + y / 30) % 2) as f32 * 50.0;
                if (x / 3 + y / 5) % 2 == 0 {
                    v += 18.0;
                }
                if let Some(px) = person
                    && (px..px + 24).contains(&x)
                    && (120..200).contains(&y)
                {
                    v = 25.0;
                }
                let n =
                    (((x as u32).wrapping_mul(2654435761) ^ (y as u32).wrapping_mul(40503) ^ noise) % 9) as f32 - 4.0;
                let g = (v * gain + n).clamp(0.0, 255.0) as u8;
                out.extend_from_slice(&[g, g, g]);
            }
        }
        out
    }

    fn sig(rgb: &[u8]) -> ViewSignature {
        ViewSignature::of(rgb, W, H).unwrap()
    }

    fn box_blur(rgb: &[u8], r: usize) -> Vec<u8> {
        let mut out = rgb.to_vec();
        for y in 0..H {
            for x in 0..W {
                let (mut s, mut n) = (0u32, 0u32);
                for yy in y.saturating_sub(r)..(y + r + 1).min(H) {
                    for xx in x.saturating_sub(r)..(x + r + 1).min(W) {
                        s += rgb[(yy * W + xx) * 3] as u32;
                        n += 1;
                    }
                }
                let v = (s / n) as u8;
                out[(y * W + x) * 3..(y * W + x) * 3 + 3].copy_from_slice(&[v, v, v]);
            }
        }
        out
    }

    /// Feed `frames(i)` at 5 fps from `t0` for `n` frames; the changes seen, with their times.
    fn run(d: &mut TamperDetector, t0: f64, n: usize, frame: impl Fn(usize) -> Vec<u8>) -> Vec<(f64, TamperChange)> {
        (0..n)
            .filter_map(|i| {
                let t = t0 + i as f64 * 0.2;
                d.observe(sig(&frame(i)), t).map(|c| (t, c))
            })
            .collect()
    }

    fn learnt() -> TamperDetector {
        let mut d = TamperDetector::new(TamperConfig::default());
        assert!(run(&mut d, 0.0, 60, |i| scene(1.0, None, i as u32)).is_empty());
        d
    }

    #[test]
    fn passers_by_noise_and_dusk_are_not_tampering() {
        let mut d = learnt();
        // People walking across, for a minute.
        assert!(run(&mut d, 12.0, 300, |i| scene(1.0, Some((i * 3) % 290), i as u32)).is_empty());
        // Dusk: the picture darkens by 40 % over ten minutes.
        let changes = run(&mut d, 72.0, 3000, |i| scene(1.0 - 0.4 * i as f32 / 3000.0, None, i as u32));
        assert!(changes.is_empty(), "{changes:?}");
        // A bus filling a third of the view for 3 s (under hold_s): nothing.
        let bus = |i: usize| {
            let mut f = scene(0.6, None, i as u32);
            for y in 40..200 {
                for x in 0..110 {
                    f[(y * W + x) * 3..(y * W + x) * 3 + 3].copy_from_slice(&[200, 200, 200]);
                }
            }
            f
        };
        assert!(run(&mut d, 700.0, 15, bus).is_empty());
    }

    #[test]
    fn a_covered_lens_is_tampering_after_hold_s_and_restored_after_it() {
        let mut d = learnt();
        let dark = |i: usize| {
            let n = (i % 3) as u8;
            vec![12 + n; W * H * 3]
        };
        let changes = run(&mut d, 12.0, 50, dark);
        let [(t, TamperChange::Tampered { what: Tampering::Covered, since, score })] = changes.as_slice() else {
            panic!("{changes:?}")
        };
        assert_eq!(*since, 12.0);
        assert!((t - since - 5.0).abs() < 0.21, "after hold_s: {t}");
        assert!(*score < 0.3, "{score}");
        assert!(d.is_tampered());
        // Still covered a minute later: nothing new (the reference does not learn the cover).
        assert!(run(&mut d, 22.0, 300, dark).is_empty());
        // Uncovered: restored once the view has been right for hold_s.
        let changes = run(&mut d, 82.0, 40, |i| scene(1.0, None, i as u32));
        let [(t, TamperChange::Restored { what: Tampering::Covered, since: 12.0 })] = changes.as_slice() else {
            panic!("{changes:?}")
        };
        assert!((t - 87.0).abs() < 0.21, "{t}");
    }

    #[test]
    fn a_blurred_and_a_turned_view_are_told_apart() {
        let mut d = learnt();
        let blurred = box_blur(&scene(1.0, None, 0), 4);
        let changes = run(&mut d, 12.0, 40, |_| blurred.clone());
        assert!(
            matches!(changes.as_slice(), [(_, TamperChange::Tampered { what: Tampering::Blurred, .. })]),
            "{changes:?}"
        );
        run(&mut d, 20.0, 40, |i| scene(1.0, None, i as u32));
        assert!(!d.is_tampered());
        // Turned: the picture shifted by a third and mirrored.
        let turned = |i: usize| {
            let s = scene(1.0, None, i as u32);
            let mut out = vec![0u8; s.len()];
            for y in 0..H {
                for x in 0..W {
                    let sx = (W - 1 - x + W / 3) % W;
                    out[(y * W + x) * 3..(y * W + x) * 3 + 3]
                        .copy_from_slice(&s[(y * W + sx) * 3..(y * W + sx) * 3 + 3]);
                }
            }
            out
        };
        let changes = run(&mut d, 30.0, 40, turned);
        assert!(
            matches!(changes.as_slice(), [(_, TamperChange::Tampered { what: Tampering::Moved, .. })]),
            "{changes:?}"
        );
        // Left turned past rebase_s: it becomes the reference, quietly; turning it back is news.
        assert!(run(&mut d, 38.0, 3100, turned).is_empty());
        assert!(!d.is_tampered(), "re-based");
        let back = run(&mut d, 660.0, 40, |i| scene(1.0, None, i as u32));
        assert!(matches!(back.as_slice(), [(_, TamperChange::Tampered { what: Tampering::Moved, .. })]), "{back:?}");
    }

    #[test]
    fn a_flat_night_scene_cannot_be_judged_covered_and_tiny_frames_are_refused() {
        let mut d = TamperDetector::new(TamperConfig::default());
        let flat = |i: usize| vec![20 + (i % 2) as u8; W * H * 3];
        assert!(run(&mut d, 0.0, 200, flat).is_empty());
        assert!(ViewSignature::of(&[0; 12], 2, 2).is_none());
        assert!(ViewSignature::of(&[0; 10], 320, 240).is_none());
        let off = TamperConfig { enabled: false, ..Default::default() };
        let mut d = TamperDetector::new(off);
        assert!(run(&mut d, 0.0, 200, |i| if i < 60 { scene(1.0, None, 0) } else { vec![0; W * H * 3] }).is_empty());
        assert_eq!(TamperConfig { hold_s: 0.0, moved_difference: 1.5, ..Default::default() }.validate("t").len(), 2);
    }
}

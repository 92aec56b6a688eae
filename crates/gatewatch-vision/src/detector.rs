//! NanoDet-m person and vehicle detection with ONNX Runtime.
//!
//! frame (RGB, any size) → fitted into 416x416 (letterboxed by default, or stretched), BGR,
//! normalised (`preprocess`) → ort session →
//! six output tensors, matched to strides by shape → `gatewatch_core::nanodet::decode` → boxes
//! in frame pixels. Output names vary between conversions, so nothing depends on them.
//! With `tiles = 2` a wide frame goes through as two overlapping squares and their boxes are
//! merged (`gatewatch_core::tiles`).

use std::path::Path;
use std::time::{Duration, Instant};

pub use gatewatch_core::config::VisionConfig as DetectorConfig;
use gatewatch_core::detection::Detection;
use gatewatch_core::fit::{Fit, Resize};
use gatewatch_core::nanodet::{self, DecodeParams, Level};
use gatewatch_core::tiles;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::VisionError;
use crate::preprocess::{NANODET, fit_to_bgr_planar};

const INPUT: usize = 416;
const STRIDES: [u32; 3] = [8, 16, 32];

pub struct Detector {
    session: Session,
    params: DecodeParams,
    resize: Resize,
    tiles: u32,
    input: Vec<f32>,
    /// A tile's pixels, copied out of the frame (tiles only).
    crop: Vec<u8>,
    timings: Timings,
}

/// Where detection time goes, summed over calls.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub calls: u64,
    pub preprocess: Duration,
    /// ONNX Runtime's `run` alone: the inference-only figure.
    pub inference: Duration,
    pub postprocess: Duration,
}

impl Timings {
    /// Sum of two detectors' timings (a pool of them).
    pub fn plus(self, o: Timings) -> Timings {
        Timings {
            calls: self.calls + o.calls,
            preprocess: self.preprocess + o.preprocess,
            inference: self.inference + o.inference,
            postprocess: self.postprocess + o.postprocess,
        }
    }

    pub fn mean_ms(d: Duration, calls: u64) -> f64 {
        if calls == 0 { 0.0 } else { d.as_secs_f64() * 1000.0 / calls as f64 }
    }
}

impl Detector {
    pub fn new(cfg: &DetectorConfig) -> Result<Self, VisionError> {
        let env = crate::runtime::environment(&cfg.onnxruntime)?;
        let model = cfg.model.as_path();
        if !model.is_file() {
            return Err(model_err(model, "file not found (run deploy/setup.sh)"));
        }
        let mut builder = Session::builder(env)
            .map_err(VisionError::ort)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(VisionError::ort)?;
        if cfg.intra_threads > 0 {
            builder = builder.with_intra_threads(cfg.intra_threads).map_err(VisionError::ort)?;
        }
        if cfg.workers > 1 {
            builder = builder.with_intra_op_spinning(false).map_err(VisionError::ort)?;
        }
        let session = builder.commit_from_file(model).map_err(|e| model_err(model, &e.to_string()))?;
        if session.inputs().len() != 1 || session.outputs().len() != 6 {
            return Err(model_err(model, "expected 1 input and 6 outputs (NanoDet-m 416)"));
        }
        let params = DecodeParams {
            input_size: INPUT as u32,
            score_threshold: cfg.score_threshold,
            iou_threshold: cfg.iou_threshold,
            ..Default::default()
        };
        tracing::info!(
            model = %model.display(),
            resize = cfg.resize.as_str(),
            tiles = cfg.tiles,
            threads = cfg.intra_threads,
            workers = cfg.workers,
            "detector loaded"
        );
        Ok(Self {
            session,
            params,
            resize: cfg.resize,
            tiles: cfg.tiles,
            input: vec![0.0; 3 * INPUT * INPUT],
            crop: Vec::new(),
            timings: Timings::default(),
        })
    }

    /// Detect people and vehicles in a packed RGB picture.
    pub fn detect(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<Detection>, VisionError> {
        let (w, h) = (width as usize, height as usize);
        if w == 0 || h == 0 || rgb.len() != w * h * 3 {
            return Err(VisionError::BadFrame { width, height, len: rgb.len() });
        }
        let tiles = tiles::split(width, height, self.tiles);
        if tiles.len() == 1 {
            return self.detect_whole(rgb, width, height);
        }
        let mut found = Vec::with_capacity(tiles.len());
        for t in tiles {
            let start = Instant::now();
            let mut crop = std::mem::take(&mut self.crop);
            crop.clear();
            let row = w * 3;
            for y in t.y as usize..(t.y + t.height) as usize {
                crop.extend_from_slice(&rgb[y * row + t.x as usize * 3..][..t.width as usize * 3]);
            }
            self.timings.preprocess += start.elapsed();
            let dets = self.detect_whole(&crop, t.width, t.height);
            self.crop = crop;
            let shifted = dets?.into_iter().map(|d| Detection { bbox: d.bbox.shift(t.x as f32, t.y as f32), ..d });
            found.push((t, shifted.collect()));
        }
        let start = Instant::now();
        let merged = tiles::merge(&found, width, height, self.params.iou_threshold);
        self.timings.postprocess += start.elapsed();
        Ok(merged)
    }

    /// The whole picture through the model at once.
    fn detect_whole(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<Detection>, VisionError> {
        let start = Instant::now();
        let fit = Fit::new(self.resize, width, height, INPUT, INPUT);
        fit_to_bgr_planar(rgb, &fit, INPUT, INPUT, &NANODET, &mut self.input);
        self.timings.preprocess += start.elapsed();
        self.timings.calls += 1;
        self.infer(&fit)
    }

    /// Time spent so far, by stage.
    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// Run the model on the prepared input; boxes mapped back to the frame by `fit`.
    fn infer(&mut self, fit: &Fit) -> Result<Vec<Detection>, VisionError> {
        let tensor =
            TensorRef::from_array_view(([1usize, 3, INPUT, INPUT], &self.input[..])).map_err(VisionError::ort)?;
        let start = Instant::now();
        let outputs = self.session.run(ort::inputs![tensor]).map_err(VisionError::ort)?;
        let inferred = Instant::now();
        self.timings.inference += inferred - start;
        let mut scores: [&[f32]; 3] = [&[]; 3];
        let mut boxes: [&[f32]; 3] = [&[]; 3];
        for i in 0..outputs.len() {
            let (shape, data) = outputs[i].try_extract_tensor::<f32>().map_err(VisionError::ort)?;
            let dims: &[i64] = shape;
            let [1, cells, channels] = dims else {
                return Err(VisionError::Ort(format!("unexpected output shape {dims:?}")));
            };
            let Some(level) = STRIDES.iter().position(|&s| ((INPUT as u32 / s).pow(2)) as i64 == *cells) else {
                return Err(VisionError::Ort(format!("output with {cells} cells matches no stride")));
            };
            match channels {
                80 => scores[level] = data,
                44 => boxes[level] = data,
                c => return Err(VisionError::Ort(format!("output with {c} channels is neither scores nor boxes"))),
            }
        }
        let levels: Vec<Level> =
            (0..3).map(|i| Level { stride: STRIDES[i], scores: scores[i], boxes: boxes[i] }).collect();
        let detections = nanodet::decode(&levels, &self.params, fit)?;
        self.timings.postprocess += inferred.elapsed();
        Ok(detections)
    }

    /// Run the model on whatever the input buffer holds (for inference-only benchmarks).
    pub fn infer_prepared(&mut self) -> Result<usize, VisionError> {
        let input = INPUT as u32;
        self.infer(&Fit::new(Resize::Stretch, input, input, INPUT, INPUT)).map(|d| d.len())
    }
}

fn model_err(path: &Path, why: &str) -> VisionError {
    VisionError::Model { path: path.display().to_string(), why: why.into() }
}

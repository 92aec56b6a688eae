//! Person and vehicle detection with ONNX Runtime: NanoDet-m 416 (what set-up fetches), or a
//! site's own YOLOv8/YOLO11/YOLOv5 export (COCO-80), told apart by their outputs.
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
use gatewatch_core::{tiles, yolo};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::VisionError;
use crate::preprocess::{NANODET, Normalize, YOLO, fit_to_bgr_planar};

const INPUT: usize = 416;
/// A YOLO export with a dynamic input size is fed this (Ultralytics' default).
const YOLO_DEFAULT_INPUT: usize = 640;
const STRIDES: [u32; 3] = [8, 16, 32];

/// The model's head: how its outputs are decoded.
enum Head {
    /// NanoDet-m 416 (six outputs, one score and one box tensor per stride).
    NanoDet(DecodeParams),
    /// A user's own YOLO export (one output; the layout told by its shape, `gatewatch_core::yolo`).
    Yolo(yolo::Params),
}

pub struct Detector {
    session: Session,
    head: Head,
    norm: Normalize,
    /// The model's input size.
    input_w: usize,
    input_h: usize,
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
        let input = match session.inputs().first().map(|i| i.dtype()) {
            Some(ort::value::ValueType::Tensor { shape, .. }) if shape.len() == 4 && shape[1] == 3 => {
                let side = |d: i64| usize::try_from(d).ok().filter(|&d| (32..=4096).contains(&d));
                (side(shape[3]), side(shape[2]))
            }
            _ => return Err(model_err(model, "expected one input of shape [1, 3, H, W]")),
        };
        let (head, norm, (input_w, input_h), kind) = match (session.inputs().len(), session.outputs().len()) {
            (1, 6) => {
                if input != (Some(INPUT), Some(INPUT)) {
                    return Err(model_err(model, "a six-output model must be NanoDet-m with a 416x416 input"));
                }
                let params = DecodeParams {
                    input_size: INPUT as u32,
                    score_threshold: cfg.score_threshold,
                    iou_threshold: cfg.iou_threshold,
                    ..Default::default()
                };
                (Head::NanoDet(params), NANODET, (INPUT, INPUT), "nanodet")
            }
            (1, 1) => {
                let params = yolo::Params {
                    score_threshold: cfg.score_threshold,
                    iou_threshold: cfg.iou_threshold,
                    max_candidates: 1000,
                };
                // A dynamic input size: Ultralytics' default 640.
                let size = (input.0.unwrap_or(YOLO_DEFAULT_INPUT), input.1.unwrap_or(YOLO_DEFAULT_INPUT));
                (Head::Yolo(params), YOLO, size, "yolo")
            }
            (i, o) => {
                return Err(model_err(
                    model,
                    &format!("{i} inputs and {o} outputs: neither NanoDet-m 416 (1 and 6) nor a YOLO export (1 and 1)"),
                ));
            }
        };
        tracing::info!(
            model = %model.display(),
            kind,
            input_w,
            input_h,
            resize = cfg.resize.as_str(),
            tiles = cfg.tiles,
            threads = cfg.intra_threads,
            workers = cfg.workers,
            "detector loaded"
        );
        Ok(Self {
            session,
            head,
            norm,
            input_w,
            input_h,
            resize: cfg.resize,
            tiles: cfg.tiles,
            input: vec![0.0; 3 * input_w * input_h],
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
        let iou = match &self.head {
            Head::NanoDet(p) => p.iou_threshold,
            Head::Yolo(p) => p.iou_threshold,
        };
        let merged = tiles::merge(&found, width, height, iou);
        self.timings.postprocess += start.elapsed();
        Ok(merged)
    }

    /// The whole picture through the model at once.
    fn detect_whole(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<Detection>, VisionError> {
        let start = Instant::now();
        let fit = Fit::new(self.resize, width, height, self.input_w, self.input_h);
        fit_to_bgr_planar(rgb, &fit, self.input_w, self.input_h, &self.norm, &mut self.input);
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
        let shape = [1usize, 3, self.input_h, self.input_w];
        let tensor = TensorRef::from_array_view((shape, &self.input[..])).map_err(VisionError::ort)?;
        let start = Instant::now();
        let outputs = self.session.run(ort::inputs![tensor]).map_err(VisionError::ort)?;
        let inferred = Instant::now();
        self.timings.inference += inferred - start;
        let detections = match &self.head {
            Head::NanoDet(params) => {
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
                        c => {
                            return Err(VisionError::Ort(format!(
                                "output with {c} channels is neither scores nor boxes"
                            )));
                        }
                    }
                }
                let levels: Vec<Level> =
                    (0..3).map(|i| Level { stride: STRIDES[i], scores: scores[i], boxes: boxes[i] }).collect();
                nanodet::decode(&levels, params, fit)?
            }
            Head::Yolo(params) => {
                let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(VisionError::ort)?;
                let layout = yolo::Layout::of(shape).map_err(VisionError::Ort)?;
                yolo::decode(data, layout, params, fit).map_err(VisionError::Ort)?
            }
        };
        self.timings.postprocess += inferred.elapsed();
        Ok(detections)
    }

    /// Run the model on whatever the input buffer holds (for inference-only benchmarks).
    pub fn infer_prepared(&mut self) -> Result<usize, VisionError> {
        let (w, h) = (self.input_w, self.input_h);
        self.infer(&Fit::new(Resize::Stretch, w as u32, h as u32, w, h)).map(|d| d.len())
    }
}

fn model_err(path: &Path, why: &str) -> VisionError {
    VisionError::Model { path: path.display().to_string(), why: why.into() }
}

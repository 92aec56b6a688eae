//! Vision adapter: ONNX Runtime through `ort` (loaded at run time), and JPEG snapshots.
//!
//! - [`runtime`]: find and load the ONNX Runtime shared library once per process.
//! - [`detector`]: NanoDet-m person/vehicle detection (preprocess → ort → core decoder).
//! - [`snapshot`]: crop, scale and JPEG-encode a region of a frame under a byte budget.

pub mod detector;
pub mod plates;
pub mod preprocess;
pub mod runtime;
pub mod snapshot;
pub mod warp;

pub use detector::{Detector, DetectorConfig};

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error(
        "ONNX Runtime library not found at {0} (run deploy/setup.sh, or set ORT_DYLIB_PATH / [vision].onnxruntime)"
    )]
    RuntimeMissing(String),
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model {path}: {why}")]
    Model { path: String, why: String },
    #[error("model output: {0}")]
    Decode(#[from] gatewatch_core::nanodet::DecodeError),
    #[error("frame {width}x{height} with {len} bytes is not packed RGB")]
    BadFrame { width: u32, height: u32, len: usize },
    #[error("snapshot: {0}")]
    Snapshot(String),
}

impl VisionError {
    pub(crate) fn ort<E: std::fmt::Display>(e: E) -> Self {
        Self::Ort(e.to_string())
    }
}

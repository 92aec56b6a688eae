//! Loading ONNX Runtime. `ort` is built with `load-dynamic`: the shared library comes from the
//! PyPI `onnxruntime` wheel (see models/manifest.toml), found through `ORT_DYLIB_PATH` or the
//! configured path. Loading happens once per process; later calls reuse the environment.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::VisionError;

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The library to load: `ORT_DYLIB_PATH` if set, else `configured`.
pub fn library_path(configured: &Path) -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from).unwrap_or_else(|| configured.to_path_buf())
}

/// Load ONNX Runtime from `configured` (or `ORT_DYLIB_PATH`) once; fail clearly if missing.
pub fn environment(configured: &Path) -> Result<&'static Environment, VisionError> {
    let path = library_path(configured);
    let env = ENVIRONMENT.get_or_init(|| {
        if !path.is_file() {
            return Err(format!("missing:{}", path.display()));
        }
        let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
        builder.with_name("gatewatch").build().map_err(|e| e.to_string())
    });
    match env {
        Ok(env) => Ok(env),
        Err(e) if e.starts_with("missing:") => Err(VisionError::RuntimeMissing(e["missing:".len()..].into())),
        Err(e) => Err(VisionError::Ort(e.clone())),
    }
}

//! Shared helpers for the whole-system tests in `tests/`: where the real assets are, and a
//! real Mosquitto broker started on a free port that a test can stop and restart.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (where `models/` and `media/` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A real asset made by `deploy/setup.sh`; panics with the fix if it is missing.
pub fn asset(relative: &str) -> PathBuf {
    let p = repo_root().join(relative);
    assert!(p.exists(), "{} is missing: run deploy/setup.sh first", p.display());
    p
}

pub fn vision_config() -> gatewatch_core::config::VisionConfig {
    gatewatch_core::config::VisionConfig {
        model: asset("models/nanodet-m-416.onnx"),
        onnxruntime: asset("models/onnxruntime/libonnxruntime.so"),
        ..Default::default()
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Log to the test output (`RUST_LOG` filters; default warnings and errors).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

pub use gatewatch_mqtt::broker::Mosquitto;

/// Wait until `f` holds, polling; panics with `what` after `limit`.
pub async fn eventually<F: FnMut() -> bool>(limit: Duration, what: &str, mut f: F) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Run a command and return stdout (for tests that drive the `gatewatch` binary).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("command runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Kill a child process on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long whole-system waits may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(120);

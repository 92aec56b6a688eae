//! The Python peers (benches/python_peer.py): the same clip, model and cores in Python, laid
//! out two ways. `simple` is the script one writes first (one session with every thread,
//! decoding and detecting in turn, onnxruntime's spin-waiting on); `pipelined` is laid out like
//! the edge (a decode thread, the edge's count of single-thread sessions on their own threads,
//! spinning off). The int8 model runs in the pipelined layout. Each is run `repeat` times and
//! reported as the median.

use std::path::Path;

use gatewatch_core::config::EdgeConfig;

use super::report::{Phase, median};
use super::{BenchArgs, progress};

/// What one run of the script measured.
#[derive(serde::Deserialize)]
struct Run {
    frames: u64,
    seconds: f64,
    fps: f64,
    cpu_pct: f64,
}

#[derive(serde::Deserialize)]
struct Out {
    e2e: Run,
    inference_only: Run,
}

fn phase(name: &str, r: &Run) -> Phase {
    Phase {
        name: name.into(),
        streams: 1,
        frames: r.frames,
        seconds: r.seconds,
        fps: r.fps,
        native_fps: None,
        dropped_pct: None,
        inferred: r.frames,
        wall_s: None,
        latency_ms: None,
        stages_ms: None,
        cpu_pct: r.cpu_pct,
        rss_mib: 0.0,
        runs_fps: Vec::new(),
    }
}

/// Every peer: simple fp32, pipelined fp32, and pipelined int8 when `int8` is given; each an
/// inference-only and an end-to-end phase, the median of `args.repeat` runs.
pub(super) fn peers(args: &BenchArgs, base: &EdgeConfig, int8: Option<&Path>) -> anyhow::Result<Vec<Phase>> {
    if !args.peer_python.exists() {
        anyhow::bail!("{} not found (run benches/setup-peer.sh)", args.peer_python.display());
    }
    let fp32 = base.vision.model.as_path();
    let mut kinds = vec![("python", "simple", fp32), ("python pipelined", "pipelined", fp32)];
    if let Some(m) = int8 {
        kinds.push(("python int8 pipelined", "pipelined", m));
    }
    let mut phases = Vec::new();
    for (label, layout, model) in kinds {
        progress(&format!(
            "Python peer, {layout} layout, {}: OpenCV decode + onnxruntime, every frame",
            model.display()
        ));
        let mut inference = Vec::new();
        let mut e2e = Vec::new();
        for _ in 0..args.repeat.max(1) {
            let o = run_once(args, base, layout, model)?;
            inference.push(phase(&format!("{label} inference"), &o.inference_only));
            e2e.push(phase(&format!("{label} e2e"), &o.e2e));
        }
        phases.push(median(inference));
        phases.push(median(e2e));
    }
    Ok(phases)
}

fn run_once(args: &BenchArgs, base: &EdgeConfig, layout: &str, model: &Path) -> anyhow::Result<Out> {
    let out = std::process::Command::new(&args.peer_python)
        .arg("benches/python_peer.py")
        .args(["--clip", &args.clip, "--layout", layout, "--model"])
        .arg(model)
        // The same cores as the edge: its detector count and threads per detector (the simple
        // layout puts them all in its one session).
        .args(["--workers", &base.vision.workers.max(1).to_string()])
        .args(["--threads", &base.vision.intra_threads.max(1).to_string()])
        .args(["--inference-frames", &args.inference_frames.to_string()])
        .output()?;
    if !out.status.success() {
        anyhow::bail!("python_peer.py failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

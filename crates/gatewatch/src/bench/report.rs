//! The phase records, the table printed at the end and the JSON written with `--json`.

use serde::Serialize;

use super::measure::rss_mib;

#[derive(Debug, Clone, Serialize)]
pub(super) struct Phase {
    pub(super) name: String,
    pub(super) streams: usize,
    pub(super) frames: u64,
    pub(super) seconds: f64,
    pub(super) fps: f64,
    /// Frames per second per stream the clip would deliver (multi-stream phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) native_fps: Option<f64>,
    /// Frames the source had but the worker never got, in percent of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) dropped_pct: Option<f64>,
    pub(super) inferred: u64,
    /// The whole run when `seconds` is the running pipeline's span (e2e every frame).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) wall_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) latency_ms: Option<Latency>,
    /// Mean milliseconds per detection in each detector stage (edge phases): where the time
    /// goes beside decoding and tracking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stages_ms: Option<Stages>,
    pub(super) cpu_pct: f64,
    /// This process's resident memory at the end of the phase (0: not measured).
    pub(super) rss_mib: f64,
    /// Frames per second of each run when the phase is the median of several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) runs_fps: Vec<f64>,
}

/// The run with the median frames per second (the upper of the middle two for an even
/// count), with every run's rate kept in `runs_fps`.
pub(super) fn median(mut runs: Vec<Phase>) -> Phase {
    assert!(!runs.is_empty(), "a phase ran at least once");
    runs.sort_by(|a, b| a.fps.total_cmp(&b.fps));
    let fps: Vec<f64> = runs.iter().map(|r| r.fps).collect();
    let mid = runs.swap_remove(fps.len() / 2);
    Phase { runs_fps: if fps.len() > 1 { fps } else { Vec::new() }, ..mid }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Stages {
    pub(super) preprocess: f64,
    pub(super) inference: f64,
    pub(super) postprocess: f64,
}

impl Stages {
    pub(super) fn of(t: gatewatch_vision::detector::Timings) -> Self {
        let ms = |d| gatewatch_vision::detector::Timings::mean_ms(d, t.calls);
        Stages { preprocess: ms(t.preprocess), inference: ms(t.inference), postprocess: ms(t.postprocess) }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Latency {
    pub(super) events: usize,
    pub(super) p50: f64,
    pub(super) p95: f64,
    pub(super) p99: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) clip: String,
    pub(super) model: String,
    /// How frames are fitted into the model (`letterbox` or `stretch`, from the config).
    pub(super) resize: &'static str,
    pub(super) cores: usize,
    pub(super) onnx_threads: usize,
    pub(super) detectors: usize,
    /// fp32 detections on every 4th clip frame, and how many the int8 model found too, at
    /// the config's score threshold and at the int8 one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) int8_agreement: Vec<Agreement>,
    pub(super) phases: Vec<Phase>,
    /// How the int8 score threshold was chosen, when `--int8-choose-on` named a clip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) int8_threshold_choice: Option<ThresholdChoice>,
    /// Runs behind each throughput phase (reported as their median).
    pub(super) repeat: usize,
}

/// The int8 score threshold chosen on another clip than the one agreement is measured on.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ThresholdChoice {
    pub(super) clip: String,
    /// The highest candidate threshold at which int8 found `target_pct` of fp32's detections.
    pub(super) threshold: f32,
    pub(super) target_pct: f64,
    /// Every candidate on that clip.
    pub(super) candidates: Vec<Agreement>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Agreement {
    /// The int8 model's score threshold (fp32 keeps the config's).
    pub(super) int8_threshold: f32,
    pub(super) frames: usize,
    pub(super) fp32: usize,
    pub(super) found: usize,
    /// int8 detections fp32 did not make at its threshold...
    pub(super) extra: usize,
    /// ...of which fp32 had just under it (score >= NEAR_MISS).
    pub(super) extra_near_miss: usize,
}

/// fp32 scores this far under its threshold count as near misses for the int8 extras.
pub(super) const NEAR_MISS_BELOW: f32 = 0.10;

pub(super) fn print_table(r: &Report) {
    println!();
    println!(
        "gatewatch bench: {} with {} ({}), {} cores, {} detector(s) x {} ONNX Runtime thread(s)",
        r.clip, r.model, r.resize, r.cores, r.detectors, r.onnx_threads
    );
    println!(
        "{:<32} {:>7} {:>8} {:>8} {:>9} {:>8} {:>8} {:>24} {:>6} {:>7}",
        "phase",
        "streams",
        "frames",
        "fps",
        "inferred",
        "inf/s",
        "dropped",
        "latency p50/p95/p99 ms",
        "CPU%",
        "RSS MiB"
    );
    for p in &r.phases {
        let lat = p.latency_ms.map(|l| format!("{:.0}/{:.0}/{:.0}", l.p50, l.p95, l.p99)).unwrap_or_else(|| "-".into());
        let dropped = p.dropped_pct.map(|d| format!("{d:.1}%")).unwrap_or_else(|| "-".into());
        let rss = if p.rss_mib > 0.0 { format!("{:.0}", p.rss_mib) } else { "-".into() };
        println!(
            "{:<32} {:>7} {:>8} {:>8.1} {:>9} {:>8.1} {:>8} {:>24} {:>6.0} {:>7}",
            p.name,
            p.streams,
            p.frames,
            p.fps,
            p.inferred,
            p.inferred as f64 / p.seconds,
            dropped,
            lat,
            p.cpu_pct,
            rss
        );
    }
    if r.phases.iter().any(|p| p.stages_ms.is_some()) {
        println!("detector stages, mean ms per detection (preprocess / ONNX Runtime run / decode+NMS), and CPU:");
    }
    for p in &r.phases {
        if let Some(st) = p.stages_ms {
            let per_frame = 1000.0 / (p.inferred as f64 / p.seconds).max(1e-9);
            println!(
                "  {:<22} {:>5.2} / {:>6.2} / {:>5.2}   wall per detection {:>6.1} ms, CPU {:.0}%",
                p.name, st.preprocess, st.inference, st.postprocess, per_frame, p.cpu_pct
            );
        }
    }
    for p in r.phases.iter().filter(|p| p.wall_s.is_some()) {
        println!(
            "{}: {:.1} s from the first frame decoded to the last result handled; {:.1} s with loading the \
             detectors and starting and stopping the pipeline ({:.1} fps over that)",
            p.name,
            p.seconds,
            p.wall_s.unwrap_or_default(),
            p.frames as f64 / p.wall_s.unwrap_or(1.0)
        );
    }
    if r.repeat > 1 {
        println!("throughput phases are the median of {} runs (each run's fps in the JSON)", r.repeat);
    }
    let fps = |name: &str| r.phases.iter().find(|p| p.name == name).map(|p| p.fps);
    if let (Some(e2e), Some(inf)) = (fps("e2e every frame"), fps("inference-only")) {
        println!("end-to-end / inference-only (one stream, every frame inferred): {:.2}", e2e / inf);
    }
    for other in ["inference-only, stretch", "inference-only, letterbox"] {
        if let (Some(inf), Some(o)) = (fps("inference-only"), fps(other)) {
            println!("inference-only ({}) / {other}: {:.2}", r.resize, inf / o);
        }
    }
    if let Some(ingest) = fps("aggregator ingest") {
        println!("aggregator ingest (SQLite, demo rules on): {ingest:.0} events/s");
    }
    if let Some(ingest) = fps("aggregator ingest postgres") {
        println!("aggregator ingest (PostgreSQL, demo rules on): {ingest:.0} events/s (CPU% is this process only)");
    }
    if let (Some(e2e), Some(peer)) = (fps("e2e every frame"), fps("python e2e")) {
        println!("end-to-end / Python simple peer end-to-end: {:.2}", e2e / peer);
    }
    if let (Some(e2e), Some(peer)) = (fps("e2e every frame"), fps("python pipelined e2e")) {
        println!("end-to-end / Python pipelined peer end-to-end: {:.2}", e2e / peer);
    }
    if let (Some(inf), Some(peer)) = (fps("inference-only"), fps("python pipelined inference")) {
        println!("inference-only / Python pipelined peer inference-only: {:.2}", inf / peer);
    }
    if let (Some(e2e), Some(peer)) = (fps("int8 e2e every frame"), fps("python int8 pipelined e2e")) {
        println!("int8: end-to-end / Python int8 pipelined peer end-to-end: {:.2}", e2e / peer);
    }
    if let (Some(e2e), Some(inf)) = (fps("int8 e2e every frame"), fps("int8 inference-only")) {
        println!("int8: end-to-end / int8 inference-only: {:.2}", e2e / inf);
    }
    if let (Some(e2e), Some(peer)) = (fps("int8 e2e every frame"), fps("python e2e")) {
        println!("int8: end-to-end / Python simple peer (fp32) end-to-end: {:.2}", e2e / peer);
    }
    if let Some(c) = &r.int8_threshold_choice {
        println!(
            "int8 threshold {:.2} chosen on {}: the highest candidate keeping {:.0} % of fp32's detections there",
            c.threshold, c.clip, c.target_pct
        );
    }
    for a in &r.int8_agreement {
        println!(
            "int8 agreement at int8 threshold {:.2}: {} of {} fp32 detections found ({:.1}%), {} extra ({} of them fp32 \
             scored up to {NEAR_MISS_BELOW} under the threshold), on {} frames (same class, IoU >= 0.5)",
            a.int8_threshold,
            a.found,
            a.fp32,
            100.0 * a.found as f64 / a.fp32.max(1) as f64,
            a.extra,
            a.extra_near_miss,
            a.frames
        );
    }
    println!("peak RSS of this process: {:.0} MiB", rss_mib("VmHWM:"));
}

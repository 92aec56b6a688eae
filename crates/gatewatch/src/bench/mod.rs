//! `gatewatch bench`: frames per second as measured, beside their ceilings, in one run.
//!
//! Phases, each on the same clip and model, one after another:
//!
//! 1. **decode-only**: GStreamer to the RGB appsink, as fast as it goes;
//! 2. **inference-only**: the detector (preprocess + ONNX Runtime + decode/NMS) on frames
//!    decoded beforehand, with the edge's thread settings;
//! 3. **end to end, one stream, every frame inferred**: the real edge worker (decode, detect,
//!    track, zones, events into the fsynced spool), the file as fast as it goes; the rate is
//!    counted from the first frame decoded to the last result handled (model loading and the
//!    pipeline's start and stop, which inference-only and the peer leave out too, are shown
//!    apart as the run's wall time);
//! 4. **end to end, N streams** at `--detect-fps` each, every stream the clip at its native
//!    rate (like a camera): frames delivered against frames the clip had, and frame-to-event
//!    latency (capture time to the event's spool append);
//! 5. **aggregator ingest**: events published to a local Mosquitto, stored with the demo's
//!    rules on, into SQLite and into PostgreSQL (a throwaway server, or `--ingest-pg-url`).
//!
//! CPU is process CPU time over wall time (100 % = one core); RSS is read from /proc.
//! No broker is needed: events stay in a temporary spool, as they would with the broker away.
//!
//! One file per concern: `measure` (wall time, CPU and memory from /proc), `edge` (decode,
//! inference and end-to-end phases on the edge worker, int8 agreement), `ingest` (the
//! aggregator into SQLite and PostgreSQL), `peer` (the Python peers) and `report` (the phase
//! records, the table and the JSON).
#![allow(clippy::print_stdout)]

mod edge;
mod ingest;
mod measure;
mod peer;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use gatewatch_core::config::EdgeConfig;
use gatewatch_core::fit::Resize;
use gatewatch_media::{FrameSource, Pulled, SourceOptions};

use edge::{agreement, edge_run, inference_only};
use ingest::ingest_phases;
use measure::Meter;
use peer::peers;
use report::{Agreement, Phase, Report, ThresholdChoice, median, print_table};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Clip to play (default media/vtest.avi).
    #[arg(long, default_value = "media/vtest.avi")]
    pub(super) clip: String,
    /// Edge config to take model, thread and tracker settings from.
    #[arg(long, default_value = "deploy/demo-edge.toml")]
    pub(super) config: PathBuf,
    /// Stream counts for the multi-stream phase.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub(super) streams: Vec<usize>,
    /// Detections per second per stream in the multi-stream phase.
    #[arg(long, default_value_t = 5.0)]
    pub(super) detect_fps: f64,
    /// Seconds each multi-stream run lasts.
    #[arg(long, default_value_t = 20.0)]
    pub(super) seconds: f64,
    /// Frames for the inference-only phase.
    #[arg(long, default_value_t = 200)]
    pub(super) inference_frames: usize,
    /// Write the results here as JSON.
    #[arg(long)]
    pub(super) json: Option<PathBuf>,
    /// Events for the aggregator ingest phases (0 skips them).
    #[arg(long, default_value_t = 20_000)]
    pub(super) ingest_events: u64,
    /// PostgreSQL database for the PostgreSQL ingest phase (its tables are created; use an
    /// empty database). Without it the bench starts its own throwaway server (Debian's
    /// postgresql package, default settings: fsync and synchronous_commit on) and skips the
    /// phase if there is none.
    #[arg(long)]
    pub(super) ingest_pg_url: Option<String>,
    /// Only the aggregator ingest phases (sizing a database; seconds, no video).
    #[arg(long)]
    pub(super) ingest_only: bool,
    /// Python for the peer baseline (benches/python_peer.py); made by benches/setup-peer.sh.
    #[arg(long, default_value = "benches/.venv/bin/python")]
    pub(super) peer_python: PathBuf,
    /// The int8 model (models/quantize.py): its phases and its agreement with fp32 are
    /// measured when the file exists.
    #[arg(long, default_value = "models/nanodet-m-416-int8.onnx")]
    pub(super) int8: PathBuf,
    /// Override the config's detector count ([vision] workers).
    #[arg(long)]
    pub(super) workers: Option<usize>,
    /// Override the config's ONNX Runtime threads per detector ([vision] intra_threads).
    #[arg(long)]
    pub(super) threads: Option<usize>,
    /// Score threshold of the int8 phases (default: the config's minus 0.01). Its scores come
    /// out a little lower than fp32's near the threshold (models/quantize.py); agreement is
    /// reported at this and at the config's. Overridden by the threshold chosen with
    /// --int8-choose-on.
    #[arg(long)]
    pub(super) int8_score_threshold: Option<f32>,
    /// Choose the int8 score threshold on this clip (not the one agreement is measured on):
    /// the highest from 0.10 under the config's threshold up to it keeping 98 % of fp32's
    /// detections there.
    #[arg(long)]
    pub(super) int8_choose_on: Option<String>,
    /// Runs of each throughput phase (decode-only, inference-only, e2e every frame, the Python
    /// peers); the median is reported. The multi-stream and ingest phases run once.
    #[arg(long, default_value_t = 3)]
    pub(super) repeat: usize,
}

pub(super) fn progress(what: &str) {
    eprintln!("[bench] {what}");
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let mut base =
        EdgeConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {}", args.config.display(), e.join("; ")))?;
    base.vision.workers = args.workers.unwrap_or(base.vision.workers).max(1);
    base.vision.intra_threads = args.threads.unwrap_or(base.vision.intra_threads);
    let mut int8 = args.int8.is_file().then(|| {
        let mut cfg = base.clone();
        cfg.vision.model = args.int8.clone();
        cfg.vision.score_threshold = args.int8_score_threshold.unwrap_or((base.vision.score_threshold - 0.01).max(0.0));
        cfg
    });
    if int8.is_none() {
        progress(&format!("{} not found: int8 phases skipped (make it with models/quantize.py)", args.int8.display()));
    }
    let mut out = Outcome::default();
    if args.ingest_only {
        out.phases = ingest_phases(&args).await?;
        return finish(&args, &base, out);
    }
    gatewatch_media::init()?;
    let repeat = args.repeat.max(1);

    progress("decode-only: GStreamer to appsink, as fast as it goes");
    let mut decodes = Vec::new();
    let mut keep = Vec::new();
    let mut native_fps = None;
    for _ in 0..repeat {
        let meter = Meter::start();
        let mut source = FrameSource::open("bench", &args.clip, &SourceOptions { realtime: false })?;
        let mut frames = 0u64;
        native_fps = loop {
            match source.next(Duration::from_secs(5))? {
                Pulled::Frame(f) => {
                    frames += 1;
                    if keep.len() < 64 {
                        keep.push(f);
                    }
                }
                Pulled::Timeout => continue,
                Pulled::Eos => break source.framerate(),
            }
        };
        drop(source);
        decodes.push(meter.finish("decode-only", 1, frames, 0));
    }
    let decode = median(decodes);
    let clip_frames = decode.frames;
    out.phases.push(decode);
    let native_fps = native_fps.unwrap_or(10.0);

    // The int8 threshold is chosen on another clip than the one agreement is measured on.
    if let (Some(cfg), Some(other)) = (&mut int8, &args.int8_choose_on) {
        progress(&format!("int8: choosing its score threshold on {other}"));
        let choice = choose_int8_threshold(&base, cfg, other)?;
        cfg.vision.score_threshold = choice.threshold;
        out.threshold_choice = Some(choice);
    }

    progress(&format!(
        "inference-only: {} detections on frames decoded beforehand, {} detector(s) x {} thread(s)",
        args.inference_frames, base.vision.workers, base.vision.intra_threads
    ));
    let runs = (0..repeat).map(|_| inference_only("inference-only", &base, &keep, args.inference_frames));
    out.phases.push(median(runs.collect::<anyhow::Result<_>>()?));
    // The other way of fitting the frame into the model, for the cost of letterboxing.
    let mut other = base.clone();
    other.vision.resize = match base.vision.resize {
        Resize::Letterbox => Resize::Stretch,
        Resize::Stretch => Resize::Letterbox,
    };
    let name = format!("inference-only, {}", other.vision.resize.as_str());
    let runs = (0..repeat).map(|_| inference_only(&name, &other, &keep, args.inference_frames));
    out.phases.push(median(runs.collect::<anyhow::Result<_>>()?));
    if let Some(cfg) = &int8 {
        let runs = (0..repeat).map(|_| inference_only("int8 inference-only", cfg, &keep, args.inference_frames));
        out.phases.push(median(runs.collect::<anyhow::Result<_>>()?));
    }
    drop(keep);

    let models = std::iter::once(("", &base)).chain(int8.as_ref().map(|c| ("int8 ", c)));
    for (label, cfg) in models.clone() {
        progress(&format!("{label}end to end, 1 stream, every frame inferred, file as fast as it goes"));
        let mut runs = Vec::new();
        for _ in 0..repeat {
            let (phase, _) = edge_run(cfg, &args.clip, 1, 1000.0, false, None).await?;
            // A file decoded faster than real time has no meaningful capture time: no latency.
            runs.push(Phase { name: format!("{label}e2e every frame"), latency_ms: None, ..phase });
        }
        out.phases.push(median(runs));
    }
    if let Some(cfg) = &int8 {
        progress("int8: detections against fp32 on every 4th frame of the clip");
        let mut thresholds = vec![base.vision.score_threshold, cfg.vision.score_threshold];
        thresholds.dedup();
        out.agreement = agreement(&base, cfg, &thresholds, &args.clip)?;
    }

    // Streams like cameras: drops and latency at a fixed rate, one run each.
    for (label, cfg) in models {
        for &n in &args.streams {
            progress(&format!(
                "{label}end to end, {n} stream(s) at native {native_fps:.0} fps, {} detect-fps each, {} s",
                args.detect_fps, args.seconds
            ));
            let (mut phase, report) = edge_run(cfg, &args.clip, n, args.detect_fps, true, Some(args.seconds)).await?;
            // Frames each camera's clip had between its first and last delivered frame; lost
            // are those never decoded plus those due for detection but replaced (newest wins).
            let expected: f64 =
                report.cameras.iter().map(|c| (c.streamed_s * native_fps + 1.0).min(clip_frames as f64)).sum();
            let dropped: u64 = report.cameras.iter().map(|c| c.frames_dropped).sum();
            let lost = (expected - report.frames_decoded() as f64).max(0.0) + dropped as f64;
            phase.native_fps = Some(native_fps);
            phase.dropped_pct = Some(100.0 * lost / expected);
            out.phases.push(Phase { name: format!("{label}e2e {n} streams"), ..phase });
        }
    }

    out.phases.append(&mut ingest_phases(&args).await?);

    match peers(&args, &base, int8.as_ref().map(|c| c.vision.model.as_path())) {
        Ok(mut p) => out.phases.append(&mut p),
        Err(e) => progress(&format!("Python peer skipped: {e:#}")),
    }

    finish(&args, &base, out)
}

/// What a run found besides the configuration.
#[derive(Default)]
struct Outcome {
    phases: Vec<Phase>,
    agreement: Vec<Agreement>,
    threshold_choice: Option<ThresholdChoice>,
}

/// Share of fp32's detections the int8 model must keep at the chosen threshold.
const INT8_TARGET_PCT: f64 = 98.0;

/// The highest int8 score threshold from 0.25 to 0.35 (steps of 0.01) at which the int8 model
/// finds `INT8_TARGET_PCT` of fp32's detections on `clip` (the lowest candidate if none does).
fn choose_int8_threshold(fp32: &EdgeConfig, int8: &EdgeConfig, clip: &str) -> anyhow::Result<ThresholdChoice> {
    let top = (fp32.vision.score_threshold * 100.0).round() as i32;
    let candidates: Vec<f32> = (top - 10..=top).filter(|&c| c > 0).map(|c| c as f32 / 100.0).collect();
    let found = agreement(fp32, int8, &candidates, clip)?;
    let keeps = |a: &Agreement| 100.0 * a.found as f64 >= INT8_TARGET_PCT * a.fp32.max(1) as f64;
    let threshold = found.iter().filter(|a| keeps(a)).map(|a| a.int8_threshold).fold(candidates[0], f32::max);
    Ok(ThresholdChoice { clip: clip.into(), threshold, target_pct: INT8_TARGET_PCT, candidates: found })
}

fn finish(args: &BenchArgs, base: &EdgeConfig, out: Outcome) -> anyhow::Result<()> {
    let report = Report {
        clip: args.clip.clone(),
        model: base.vision.model.display().to_string(),
        resize: base.vision.resize.as_str(),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        onnx_threads: base.vision.intra_threads,
        detectors: base.vision.workers,
        int8_agreement: out.agreement,
        phases: out.phases,
        int8_threshold_choice: out.threshold_choice,
        repeat: args.repeat.max(1),
    };
    print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        println!("JSON written to {}", path.display());
    }
    Ok(())
}

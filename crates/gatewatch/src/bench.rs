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
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use gatewatch_core::config::{CameraConfig, EdgeConfig, SpoolConfig};
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use gatewatch_vision::Detector;
use serde::Serialize;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Clip to play (default media/vtest.avi).
    #[arg(long, default_value = "media/vtest.avi")]
    clip: String,
    /// Edge config to take model, thread and tracker settings from.
    #[arg(long, default_value = "deploy/demo-edge.toml")]
    config: PathBuf,
    /// Stream counts for the multi-stream phase.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    streams: Vec<usize>,
    /// Detections per second per stream in the multi-stream phase.
    #[arg(long, default_value_t = 5.0)]
    detect_fps: f64,
    /// Seconds each multi-stream run lasts.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Frames for the inference-only phase.
    #[arg(long, default_value_t = 200)]
    inference_frames: usize,
    /// Write the results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Events for the aggregator ingest phases (0 skips them).
    #[arg(long, default_value_t = 20_000)]
    ingest_events: u64,
    /// PostgreSQL database for the PostgreSQL ingest phase (its tables are created; use an
    /// empty database). Without it the bench starts its own throwaway server (Debian's
    /// postgresql package, default settings: fsync and synchronous_commit on) and skips the
    /// phase if there is none.
    #[arg(long)]
    ingest_pg_url: Option<String>,
    /// Only the aggregator ingest phases (sizing a database; seconds, no video).
    #[arg(long)]
    ingest_only: bool,
    /// Python for the peer baseline (benches/python_peer.py); made by benches/setup-peer.sh.
    #[arg(long, default_value = "benches/.venv/bin/python")]
    peer_python: PathBuf,
    /// The int8 model (models/quantize.py): its phases and its agreement with fp32 are
    /// measured when the file exists.
    #[arg(long, default_value = "models/nanodet-m-416-int8.onnx")]
    int8: PathBuf,
    /// Override the config's detector count ([vision] workers).
    #[arg(long)]
    workers: Option<usize>,
    /// Override the config's ONNX Runtime threads per detector ([vision] intra_threads).
    #[arg(long)]
    threads: Option<usize>,
    /// Score threshold of the int8 phases. Its scores come out a little lower than fp32's near
    /// the threshold (models/quantize.py); agreement is reported at this and at the config's.
    #[arg(long, default_value_t = 0.34)]
    int8_score_threshold: f32,
}

#[derive(Debug, Clone, Serialize)]
struct Phase {
    name: String,
    streams: usize,
    frames: u64,
    seconds: f64,
    fps: f64,
    /// Frames per second per stream the clip would deliver (multi-stream phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    native_fps: Option<f64>,
    /// Frames the source had but the worker never got, in percent of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped_pct: Option<f64>,
    inferred: u64,
    /// The whole run when `seconds` is the running pipeline's span (e2e every frame).
    #[serde(skip_serializing_if = "Option::is_none")]
    wall_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<Latency>,
    /// Mean milliseconds per detection in each detector stage (edge phases): where the time
    /// goes beside decoding and tracking.
    #[serde(skip_serializing_if = "Option::is_none")]
    stages_ms: Option<Stages>,
    cpu_pct: f64,
    /// This process's resident memory at the end of the phase (0: not measured).
    rss_mib: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Stages {
    preprocess: f64,
    inference: f64,
    postprocess: f64,
}

impl Stages {
    fn of(t: gatewatch_vision::detector::Timings) -> Self {
        let ms = |d| gatewatch_vision::detector::Timings::mean_ms(d, t.calls);
        Stages { preprocess: ms(t.preprocess), inference: ms(t.inference), postprocess: ms(t.postprocess) }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Latency {
    events: usize,
    p50: f64,
    p95: f64,
    p99: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    clip: String,
    model: String,
    cores: usize,
    onnx_threads: usize,
    detectors: usize,
    /// fp32 detections on every 4th clip frame, and how many the int8 model found too, at
    /// the config's score threshold and at the int8 one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    int8_agreement: Vec<Agreement>,
    phases: Vec<Phase>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Agreement {
    /// The int8 model's score threshold (fp32 keeps the config's).
    int8_threshold: f32,
    frames: usize,
    fp32: usize,
    found: usize,
    /// int8 detections fp32 did not make at its threshold...
    extra: usize,
    /// ...of which fp32 had just under it (score >= NEAR_MISS).
    extra_near_miss: usize,
}

/// fp32 scores from here to the threshold count as near misses for the int8 extras.
const NEAR_MISS: f32 = 0.25;

/// Process CPU seconds so far (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; here indices 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Measures one phase: wall time and CPU between `start` and `finish`.
struct Meter {
    wall: Instant,
    cpu: f64,
}

impl Meter {
    fn start() -> Self {
        Self { wall: Instant::now(), cpu: cpu_seconds() }
    }
    fn finish(&self, name: &str, streams: usize, frames: u64, inferred: u64) -> Phase {
        let seconds = self.wall.elapsed().as_secs_f64();
        Phase {
            name: name.into(),
            streams,
            frames,
            seconds,
            fps: frames as f64 / seconds,
            native_fps: None,
            dropped_pct: None,
            inferred,
            wall_s: None,
            latency_ms: None,
            stages_ms: None,
            cpu_pct: 100.0 * (cpu_seconds() - self.cpu) / seconds,
            rss_mib: rss_mib("VmRSS:"),
        }
    }
}

fn progress(what: &str) {
    eprintln!("[bench] {what}");
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let mut base =
        EdgeConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {}", args.config.display(), e.join("; ")))?;
    base.vision.workers = args.workers.unwrap_or(base.vision.workers).max(1);
    base.vision.intra_threads = args.threads.unwrap_or(base.vision.intra_threads);
    let int8 = args.int8.is_file().then(|| {
        let mut cfg = base.clone();
        cfg.vision.model = args.int8.clone();
        cfg.vision.score_threshold = args.int8_score_threshold;
        cfg
    });
    if int8.is_none() {
        progress(&format!("{} not found: int8 phases skipped (make it with models/quantize.py)", args.int8.display()));
    }
    if args.ingest_only {
        let phases = ingest_phases(&args).await?;
        return finish(&args, &base, Vec::new(), phases);
    }
    gatewatch_media::init()?;
    let mut phases = Vec::new();

    progress("decode-only: GStreamer to appsink, as fast as it goes");
    let meter = Meter::start();
    let mut source = FrameSource::open("bench", &args.clip, &SourceOptions { realtime: false })?;
    let (mut frames, mut keep) = (0u64, Vec::new());
    let native_fps = loop {
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
    phases.push(meter.finish("decode-only", 1, frames, 0));
    let clip_frames = frames;
    let native_fps = native_fps.unwrap_or(10.0);

    progress(&format!(
        "inference-only: {} detections on frames decoded beforehand, {} detector(s) x {} thread(s)",
        args.inference_frames, base.vision.workers, base.vision.intra_threads
    ));
    phases.push(inference_only("inference-only", &base, &keep, args.inference_frames)?);
    if let Some(cfg) = &int8 {
        phases.push(inference_only("int8 inference-only", cfg, &keep, args.inference_frames)?);
    }
    drop(keep);

    progress("end to end, 1 stream, every frame inferred, file as fast as it goes");
    let (phase, _) = edge_run(&base, &args.clip, 1, 1000.0, false, None).await?;
    // A file decoded faster than real time has no meaningful capture time: no latency here.
    phases.push(Phase { name: "e2e every frame".into(), latency_ms: None, ..phase });
    let mut int8_agreement = Vec::new();
    if let Some(cfg) = &int8 {
        progress("int8: end to end, 1 stream, every frame inferred");
        let (phase, _) = edge_run(cfg, &args.clip, 1, 1000.0, false, None).await?;
        phases.push(Phase { name: "int8 e2e every frame".into(), latency_ms: None, ..phase });
        progress("int8: detections against fp32 on every 4th frame of the clip");
        let thresholds = [base.vision.score_threshold, args.int8_score_threshold];
        int8_agreement = agreement(&base, cfg, &thresholds, &args.clip)?;
    }

    let models = std::iter::once(("", &base)).chain(int8.as_ref().map(|c| ("int8 ", c)));
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
            phases.push(Phase { name: format!("{label}e2e {n} streams"), ..phase });
        }
    }

    phases.append(&mut ingest_phases(&args).await?);

    match peer(&args, &base) {
        Ok(mut p) => phases.append(&mut p),
        Err(e) => progress(&format!("Python peer skipped: {e:#}")),
    }

    finish(&args, &base, int8_agreement, phases)
}

fn finish(
    args: &BenchArgs,
    base: &EdgeConfig,
    int8_agreement: Vec<Agreement>,
    phases: Vec<Phase>,
) -> anyhow::Result<()> {
    let report = Report {
        clip: args.clip.clone(),
        model: base.vision.model.display().to_string(),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        onnx_threads: base.vision.intra_threads,
        detectors: base.vision.workers,
        int8_agreement,
        phases,
    };
    print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        println!("JSON written to {}", path.display());
    }
    Ok(())
}

/// The aggregator ingest phases: SQLite, then PostgreSQL (`--ingest-pg-url`, else a throwaway
/// local server; skipped with a message when there is none).
async fn ingest_phases(args: &BenchArgs) -> anyhow::Result<Vec<Phase>> {
    let mut phases = Vec::new();
    if args.ingest_events == 0 {
        return Ok(phases);
    }
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("ingest.db").display());
    progress(&format!("aggregator ingest: {} events through Mosquitto into SQLite, rules on", args.ingest_events));
    phases.push(ingest(args.ingest_events, &sqlite, "aggregator ingest").await?);
    // Kept alive until the phase is done; dropping it stops the server and removes it.
    let mut local = None;
    let pg_url = match &args.ingest_pg_url {
        Some(url) => Ok(url.clone()),
        None => match gatewatch_store::LocalPostgres::start() {
            Ok(pg) => {
                let url = pg.database("ingest").await;
                local = Some(pg);
                url.map_err(anyhow::Error::from)
            }
            Err(e) => Err(e.into()),
        },
    };
    match pg_url {
        Ok(url) => {
            progress(&format!("aggregator ingest: {} events into PostgreSQL, rules on", args.ingest_events));
            phases.push(ingest(args.ingest_events, &url, "aggregator ingest postgres").await?);
        }
        Err(e) => progress(&format!("PostgreSQL ingest skipped: {e:#}")),
    }
    drop(local);
    Ok(phases)
}

/// The configured detectors (each on its own thread, as in the edge's pool) running `n`
/// detections over frames decoded beforehand.
fn inference_only(
    name: &str,
    cfg: &EdgeConfig,
    frames: &[gatewatch_core::frame::Frame],
    n: usize,
) -> anyhow::Result<Phase> {
    let workers = cfg.vision.workers.max(1);
    let mut detectors = (0..workers).map(|_| Detector::new(&cfg.vision)).collect::<Result<Vec<_>, _>>()?;
    for d in &mut detectors {
        d.detect(&frames[0].rgb, frames[0].width, frames[0].height)?; // warm-up, not counted
    }
    let meter = Meter::start();
    std::thread::scope(|scope| {
        let runs: Vec<_> = detectors
            .iter_mut()
            .enumerate()
            .map(|(w, d)| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for i in (w..n).step_by(workers) {
                        let f = &frames[i % frames.len()];
                        d.detect(&f.rgb, f.width, f.height)?;
                    }
                    Ok(())
                })
            })
            .collect();
        runs.into_iter().try_for_each(|r| r.join().map_err(|_| anyhow::anyhow!("detector thread panicked"))?)
    })?;
    let mut phase = meter.finish(name, 1, n as u64, n as u64);
    // Stage means include each detector's one warm-up call.
    let t = detectors.iter().fold(gatewatch_vision::detector::Timings::default(), |t, d| t.plus(d.timings()));
    phase.stages_ms = Some(Stages::of(t));
    Ok(phase)
}

/// fp32 against int8 on every 4th frame of the clip, for each int8 score threshold. Each model
/// runs once per frame at a low threshold and is cut at each threshold afterwards: greedy NMS
/// never lets a lower score suppress a higher one, so the cut equals a run at that threshold.
fn agreement(fp32: &EdgeConfig, int8: &EdgeConfig, thresholds: &[f32], clip: &str) -> anyhow::Result<Vec<Agreement>> {
    let low = |cfg: &EdgeConfig, t: f32| {
        let mut v = cfg.vision.clone();
        v.score_threshold = t;
        Detector::new(&v)
    };
    let min = thresholds.iter().copied().fold(NEAR_MISS, f32::min);
    let (mut a, mut b) = (low(fp32, NEAR_MISS)?, low(int8, min)?);
    let at = |dets: &[gatewatch_core::detection::Detection], t: f32| -> Vec<_> {
        dets.iter().filter(|d| d.score >= t).copied().collect()
    };
    let reference_t = fp32.vision.score_threshold;
    let mut out: Vec<Agreement> = thresholds
        .iter()
        .map(|&t| Agreement { int8_threshold: t, frames: 0, fp32: 0, found: 0, extra: 0, extra_near_miss: 0 })
        .collect();
    let mut source = FrameSource::open("agreement", clip, &SourceOptions { realtime: false })?;
    let mut i = 0u64;
    loop {
        match source.next(Duration::from_secs(5))? {
            Pulled::Frame(f) => {
                i += 1;
                if i % 4 != 1 {
                    continue;
                }
                let fp32_all = a.detect(&f.rgb, f.width, f.height)?;
                let int8_all = b.detect(&f.rgb, f.width, f.height)?;
                let reference = at(&fp32_all, reference_t);
                let near: Vec<_> = fp32_all.iter().filter(|d| d.score < reference_t).copied().collect();
                for o in &mut out {
                    let other = at(&int8_all, o.int8_threshold);
                    let (found, taken) = gatewatch_core::detection::greedy_match(&reference, &other, 0.5);
                    let extras: Vec<_> = other.iter().zip(&taken).filter(|(_, t)| !**t).map(|(d, _)| *d).collect();
                    o.frames += 1;
                    o.fp32 += reference.len();
                    o.found += found;
                    o.extra += extras.len();
                    o.extra_near_miss += gatewatch_core::detection::agreement(&near, &extras, 0.5).0;
                }
            }
            Pulled::Timeout => continue,
            Pulled::Eos => return Ok(out),
        }
    }
}

/// Run the edge worker on `streams` copies of the clip; returns the phase and its report.
async fn edge_run(
    base: &EdgeConfig,
    clip: &str,
    streams: usize,
    detect_fps: f64,
    realtime: bool,
    seconds: Option<f64>,
) -> anyhow::Result<(Phase, gatewatch_edge::EdgeReport)> {
    let spool_dir = tempfile::tempdir()?;
    let mut cfg = base.clone();
    cfg.plates.enabled = false;
    cfg.mqtt.port = gatewatch_mqtt::broker::free_port()?; // no broker: events stay in the spool, as with the broker away
    cfg.spool = SpoolConfig { dir: spool_dir.path().join("spool"), ..Default::default() };
    let template = base.cameras.first().cloned().context("the config has no camera")?;
    cfg.cameras = (0..streams)
        .map(|i| CameraConfig { id: format!("cam{i}"), uri: clip.into(), detect_fps, realtime, ..template.clone() })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(s) = seconds {
        let flag = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(s)).await;
            flag.store(true, Ordering::SeqCst);
        });
    }
    let meter = Meter::start();
    let report = gatewatch_edge::run(cfg.clone(), stop, Duration::ZERO).await?;
    let mut phase = meter.finish("e2e", streams, report.frames_decoded(), report.frames_inferred());
    // A file played as fast as it goes: the rate is that of the running pipeline, from the
    // first frame decoded to the last result handled, as inference-only and the peer count
    // after their model is loaded; the whole run (loading the detectors, starting and
    // stopping the pipeline) is kept as `wall_s`.
    let first = report.cameras.iter().filter_map(|c| c.first_frame).min();
    let last = report.cameras.iter().filter_map(|c| c.last_result).max();
    if seconds.is_none()
        && let (Some(first), Some(last)) = (first, last)
    {
        phase.wall_s = Some(phase.seconds);
        phase.seconds = last.duration_since(first).as_secs_f64().max(1e-3);
        phase.fps = phase.frames as f64 / phase.seconds;
    }
    phase.latency_ms = latency(&cfg.spool)?;
    phase.stages_ms = Some(Stages::of(report.timings));
    Ok((phase, report))
}

/// Capture-to-spool latency of every event in the spool.
fn latency(spool: &SpoolConfig) -> anyhow::Result<Option<Latency>> {
    let mut s = gatewatch_edge::spool::Spool::open(spool)?;
    let mut ms: Vec<f64> = Vec::new();
    let mut after = 0;
    loop {
        let batch = s.read_after(after, 10_000)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for r in &batch {
            if let Ok(ev) = gatewatch_core::event::Event::decode(&r.payload, usize::MAX)
                && !matches!(ev.body, gatewatch_core::event::EventBody::CameraOffline { .. })
            {
                ms.push((r.written_ms - ev.captured_at.timestamp_millis()) as f64);
            }
        }
    }
    if ms.is_empty() {
        return Ok(None);
    }
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    Ok(Some(Latency { events: ms.len(), p50: q(0.5), p95: q(0.95), p99: q(0.99) }))
}

/// The aggregator storing `n` events from a local Mosquitto into the database at `url` with the
/// demo's rules: events per second from the first publish to the last commit.
async fn ingest(n: u64, url: &str, name: &str) -> anyhow::Result<Phase> {
    use gatewatch_core::config::{AggregatorConfig, MqttConfig};
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};
    let broker = gatewatch_mqtt::broker::Mosquitto::start()?;
    let mqtt = MqttConfig { port: broker.port(), ..Default::default() };
    let mut cfg = AggregatorConfig::from_toml(include_str!("../../../deploy/demo-aggregator.toml"))
        .map_err(|e| anyhow::anyhow!("demo aggregator config: {}", e.join("; ")))?;
    cfg.mqtt = mqtt.clone();
    cfg.database.url = url.to_string();
    let aggregator = gatewatch_aggregator::Aggregator::new(cfg).await?;
    let counters = aggregator.counters();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(aggregator.run(stop_rx));
    let publisher = gatewatch_mqtt::MqttClient::connect(&mqtt, "bench-gate", Default::default())?;
    let ready = Instant::now() + Duration::from_secs(30);
    while !(counters.snapshot().subscribed && publisher.is_connected()) {
        anyhow::ensure!(Instant::now() < ready, "aggregator or publisher not connected to the local broker");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let topic = gatewatch_core::topic::events_topic("bench", "gate", "cam");
    let start = chrono::Utc::now();
    let meter = Meter::start();
    for i in 0..n {
        let track = i / 3;
        let body = match i % 3 {
            0 => EventBody::ZoneEntered { track, class: ObjectClass::Person, zone: "crossing".into() },
            1 => EventBody::CameraStats {
                frames_decoded: 50,
                frames_inferred: 25,
                frames_dropped: 0,
                frames_gated: 0,
                period_s: 5.0,
            },
            _ => EventBody::ZoneLeft { track, class: ObjectClass::Person, zone: "crossing".into(), dwell_s: 30.0 },
        };
        let ev = Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "bench".into(),
            edge: "gate".into(),
            camera: "cam".into(),
            seq: i + 1,
            captured_at: start + chrono::Duration::milliseconds(i as i64 * 100),
            body,
        };
        publisher.publish(topic.clone(), ev.encode()).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while counters.snapshot().stored < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored = counters.snapshot().stored;
    let phase = Phase { name: name.into(), inferred: 0, ..meter.finish("ingest", 1, stored, 0) };
    let _ = stop_tx.send(true);
    task.await??;
    publisher.disconnect().await;
    anyhow::ensure!(stored == n, "only {stored} of {n} events stored within 10 minutes");
    Ok(phase)
}

/// The Python peer on the same clip, model and thread count: its end-to-end and
/// inference-only phases.
fn peer(args: &BenchArgs, base: &EdgeConfig) -> anyhow::Result<Vec<Phase>> {
    if !args.peer_python.exists() {
        anyhow::bail!("{} not found (run benches/setup-peer.sh)", args.peer_python.display());
    }
    progress("Python peer: OpenCV decode + onnxruntime, every frame");
    let out = std::process::Command::new(&args.peer_python)
        .arg("benches/python_peer.py")
        .args(["--clip", &args.clip, "--model"])
        .arg(&base.vision.model)
        // The same cores: all detectors' threads in the one Python session.
        .args(["--threads", &(base.vision.intra_threads.max(1) * base.vision.workers).to_string()])
        .args(["--inference-frames", &args.inference_frames.to_string()])
        .output()?;
    if !out.status.success() {
        anyhow::bail!("python_peer.py failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
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
    let o: Out = serde_json::from_slice(&out.stdout)?;
    let phase = |name: &str, r: Run| Phase {
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
    };
    Ok(vec![phase("python inference", o.inference_only), phase("python e2e", o.e2e)])
}

fn print_table(r: &Report) {
    println!();
    println!(
        "gatewatch bench: {} with {}, {} cores, {} detector(s) x {} ONNX Runtime thread(s)",
        r.clip, r.model, r.cores, r.detectors, r.onnx_threads
    );
    println!(
        "{:<26} {:>7} {:>8} {:>8} {:>9} {:>8} {:>8} {:>24} {:>6} {:>7}",
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
            "{:<26} {:>7} {:>8} {:>8.1} {:>9} {:>8.1} {:>8} {:>24} {:>6.0} {:>7}",
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
    let fps = |name: &str| r.phases.iter().find(|p| p.name == name).map(|p| p.fps);
    if let (Some(e2e), Some(inf)) = (fps("e2e every frame"), fps("inference-only")) {
        println!("end-to-end / inference-only (one stream, every frame inferred): {:.2}", e2e / inf);
    }
    if let Some(ingest) = fps("aggregator ingest") {
        println!("aggregator ingest (SQLite, demo rules on): {ingest:.0} events/s");
    }
    if let Some(ingest) = fps("aggregator ingest postgres") {
        println!("aggregator ingest (PostgreSQL, demo rules on): {ingest:.0} events/s (CPU% is this process only)");
    }
    if let (Some(e2e), Some(peer)) = (fps("e2e every frame"), fps("python e2e")) {
        println!("end-to-end / Python peer end-to-end: {:.2}", e2e / peer);
    }
    if let (Some(e2e), Some(inf)) = (fps("int8 e2e every frame"), fps("int8 inference-only")) {
        println!("int8: end-to-end / int8 inference-only: {:.2}", e2e / inf);
    }
    if let (Some(e2e), Some(peer)) = (fps("int8 e2e every frame"), fps("python e2e")) {
        println!("int8: end-to-end / Python peer (fp32) end-to-end: {:.2}", e2e / peer);
    }
    for a in &r.int8_agreement {
        println!(
            "int8 agreement at int8 threshold {:.2}: {} of {} fp32 detections found ({:.1}%), {} extra ({} of them fp32 \
             scored {NEAR_MISS}..threshold), on {} frames (same class, IoU >= 0.5)",
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

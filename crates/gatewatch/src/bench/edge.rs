//! The edge phases: detectors alone on frames decoded beforehand, the edge worker end to end
//! (one stream every frame, or N streams like cameras), and int8 against fp32.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use gatewatch_core::config::{CameraConfig, EdgeConfig, SpoolConfig};
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use gatewatch_vision::Detector;

use super::measure::Meter;
use super::report::{Agreement, Latency, NEAR_MISS_BELOW, Phase, Stages};

/// The configured detectors (each on its own thread, as in the edge's pool) running `n`
/// detections over frames decoded beforehand.
pub(super) fn inference_only(
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
pub(super) fn agreement(
    fp32: &EdgeConfig,
    int8: &EdgeConfig,
    thresholds: &[f32],
    clip: &str,
) -> anyhow::Result<Vec<Agreement>> {
    let low = |cfg: &EdgeConfig, t: f32| {
        let mut v = cfg.vision.clone();
        v.score_threshold = t;
        Detector::new(&v)
    };
    let near_miss = (fp32.vision.score_threshold - NEAR_MISS_BELOW).max(0.0);
    let min = thresholds.iter().copied().fold(near_miss, f32::min);
    let (mut a, mut b) = (low(fp32, near_miss)?, low(int8, min)?);
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
pub(super) async fn edge_run(
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
    cfg.mqtt.port = gatewatch_harness::free_port()?; // no broker: events stay in the spool, as with the broker away
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
pub(super) fn latency(spool: &SpoolConfig) -> anyhow::Result<Option<Latency>> {
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

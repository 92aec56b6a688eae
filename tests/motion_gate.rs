//! The motion gate on a real clip through the real edge: a parked car (a clip made here from
//! a real photo: 5 s still, 3 s of panning, 2 s still) played with and without
//! `[cameras.motion_gate]`. With it, the still stretches go mostly undetected, the pan is
//! detected, every due frame is either detected or gated, and the car's track lasts as long
//! as without the gate: the tracker keeps the last detections on still frames, so a gap
//! between detections (3 s) longer than the tracker's `max_lost_s` (2 s) loses nothing.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gatewatch_core::config::{CameraConfig, EdgeConfig, MotionGateConfig, SpoolConfig};
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{Event, EventBody};
use gatewatch_edge::spool::Spool;
use gatewatch_systests::{free_port, init_tracing, parked_car_frames, vision_config};

const W: u32 = 512;
const H: u32 = 320;
const FPS: u32 = 10;

/// 50 still frames, 30 frames panning 4 px per frame, 20 still frames.
fn parked_car() -> Vec<Vec<u8>> {
    parked_car_frames(W, H)
}

struct Run {
    decoded: u64,
    inferred: u64,
    gated: u64,
    /// Durations of the car tracks, seconds.
    car_tracks: Vec<f64>,
    stats_gated: u64,
}

async fn run(clip: &std::path::Path, gate: Option<MotionGateConfig>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut edge = EdgeConfig::from_toml(include_str!("../deploy/demo-edge.toml")).unwrap();
    edge.vision = vision_config();
    edge.plates.enabled = false;
    edge.mqtt.port = free_port(); // no broker: events stay in the spool
    edge.spool = SpoolConfig { dir: dir.path().join("spool"), ..Default::default() };
    edge.stats_interval_s = 1.0;
    edge.cameras = vec![CameraConfig {
        id: "lot".into(),
        uri: clip.display().to_string(),
        detect_fps: FPS as f64,
        zones: vec![],
        motion_gate: gate,
        ..edge.cameras[0].clone()
    }];
    let report = gatewatch_edge::run(edge.clone(), Arc::new(AtomicBool::new(false)), Duration::ZERO).await.unwrap();
    let cam = &report.cameras[0];

    let mut spool = Spool::open(&edge.spool).unwrap();
    let (mut car_tracks, mut stats_gated, mut after) = (Vec::new(), 0, 0);
    loop {
        let batch = spool.read_after(after, 10_000).unwrap();
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for r in &batch {
            match Event::decode(&r.payload, usize::MAX).unwrap().body {
                EventBody::TrackEnded { class: ObjectClass::Car, duration_s, .. } => car_tracks.push(duration_s),
                EventBody::CameraStats { frames_gated, .. } => stats_gated += frames_gated,
                _ => {}
            }
        }
    }
    Run { decoded: cam.frames_decoded, inferred: cam.frames_inferred, gated: cam.frames_gated, car_tracks, stats_gated }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_scene_skips_detection_and_keeps_its_tracks() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("parked-car.mp4");
    assert_eq!(gatewatch_media::clip::write_mp4(&clip, W, H, FPS, parked_car()).unwrap(), 100);

    let plain = run(&clip, None).await;
    let gated = run(&clip, Some(MotionGateConfig { level: 10.0, max_skip_s: 3.0 })).await;
    eprintln!(
        "without gate: {} inferred, car tracks {:?}; with gate: {} inferred, {} gated, car tracks {:?}",
        plain.inferred, plain.car_tracks, gated.inferred, gated.gated, gated.car_tracks
    );
    assert_eq!((plain.decoded, gated.decoded), (100, 100));
    assert_eq!((plain.inferred, plain.gated), (100, 0), "every frame is due at 10 detect-fps");
    assert_eq!(gated.inferred + gated.gated, 100, "each due frame is detected or gated");
    // Still: 50 + 20 frames, detected every 3 s at most (t = 0, 3, then in the last stretch)
    // -> about 65 gated; the pan (30 frames) is motion.
    assert!(gated.gated >= 50, "still frames gated: {}", gated.gated);
    assert!(gated.inferred >= 20, "the pan is detected: {}", gated.inferred);
    assert!(gated.stats_gated > 0 && gated.stats_gated <= gated.gated, "camera_stats report it: {}", gated.stats_gated);
    // The parked car: one track through the first still stretch (detected at 0 and 3 s only),
    // ending when it does without the gate.
    let longest = |r: &Run| r.car_tracks.iter().copied().fold(0.0, f64::max);
    assert!(longest(&plain) >= 5.0, "the car is tracked without the gate: {:?}", plain.car_tracks);
    assert!((longest(&gated) - longest(&plain)).abs() <= 0.5, "{:?} vs {:?}", gated.car_tracks, plain.car_tracks);
    assert!(
        gated.car_tracks.len() <= plain.car_tracks.len().max(1),
        "gating never splits a track: {:?} vs {:?}",
        gated.car_tracks,
        plain.car_tracks
    );
}

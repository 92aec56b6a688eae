//! Track ids are unique per edge for ever (alerts and visits are keyed by them): the real edge
//! runs two cameras on a clip of a parked car (made from a real photo), is stopped, and runs
//! again on the same spool, as after a restart. No id is given twice, across cameras or runs,
//! and the second run's ids all come after the first's. (Reconnects of one camera within a run:
//! `tests/camera_recovery.rs`.)

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gatewatch_core::config::{CameraConfig, EdgeConfig, SpoolConfig};
use gatewatch_core::event::{Event, EventBody};
use gatewatch_edge::spool::Spool;
use gatewatch_systests::{free_port, init_tracing, parked_car_frames, vision_config};

/// Run the edge once on `clip` with two cameras; the (camera, track id) of every track started,
/// and the highest seq in the spool afterwards.
async fn run_once(clip: &std::path::Path, spool_dir: &std::path::Path, after: u64) -> (Vec<(String, u64)>, u64) {
    let mut edge = EdgeConfig::from_toml(include_str!("../deploy/demo-edge.toml")).unwrap();
    edge.vision = vision_config();
    edge.plates.enabled = false;
    edge.mqtt.port = free_port(); // no broker: events stay in the spool
    edge.spool = SpoolConfig { dir: spool_dir.to_path_buf(), ..Default::default() };
    let camera = |id: &str| CameraConfig {
        id: id.into(),
        uri: clip.display().to_string(),
        detect_fps: 10.0,
        zones: vec![],
        ..edge.cameras[0].clone()
    };
    edge.cameras = vec![camera("lot-a"), camera("lot-b")];
    gatewatch_edge::run(edge.clone(), Arc::new(AtomicBool::new(false)), Duration::ZERO).await.unwrap();

    let mut spool = Spool::open(&edge.spool).unwrap();
    let (mut started, mut last) = (Vec::new(), after);
    loop {
        let batch = spool.read_after(last, 10_000).unwrap();
        let Some(end) = batch.last() else { break };
        last = end.seq;
        for r in &batch {
            let ev = Event::decode(&r.payload, usize::MAX).unwrap();
            if let EventBody::TrackStarted { track, .. } = ev.body {
                started.push((ev.camera, track));
            }
        }
    }
    (started, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn track_ids_never_repeat_across_cameras_and_restarts() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("parked-car.mp4");
    gatewatch_media::clip::write_mp4(&clip, 512, 320, 10, parked_car_frames(512, 320)).unwrap();
    let spool = dir.path().join("spool");

    let (first, seq) = run_once(&clip, &spool, 0).await;
    let (second, _) = run_once(&clip, &spool, seq).await;
    eprintln!("first run: {first:?}\nsecond run: {second:?}");
    for run in [&first, &second] {
        let cameras: HashSet<&str> = run.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(cameras.len(), 2, "both cameras track the car: {run:?}");
    }
    let all: Vec<u64> = first.iter().chain(&second).map(|(_, id)| *id).collect();
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "an id given twice: {all:?}");
    let first_max = first.iter().map(|(_, id)| *id).max().unwrap();
    assert!(second.iter().all(|(_, id)| *id > first_max), "the restart continues after {first_max}: {second:?}");
}

//! Camera tampering on real footage. The tamper watch (`gatewatch_core::tamper`) must stay
//! quiet on ordinary scenes (vtest.avi, and the three 16:9 development clips when
//! `../shared/data/clips-dev` is beside the checkout) and must notice, within its hold time, a
//! real scene that is covered, blurred or turned away, and its return. Then the real edge on a
//! clip made of vtest.avi with a covered stretch sends `camera_tampered` and
//! `camera_view_restored`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gatewatch_core::config::{CameraConfig, EdgeConfig, SpoolConfig};
use gatewatch_core::event::{Event, EventBody};
use gatewatch_core::tamper::{TamperChange, TamperConfig, TamperDetector, Tampering, ViewSignature};
use gatewatch_edge::spool::Spool;
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use gatewatch_systests::{asset, free_port, init_tracing, repo_root, vision_config};

/// Frames of `clip` at about `fps`: (capture seconds from the start, width, height, RGB).
fn frames(clip: &Path, fps: f64) -> Vec<(f64, u32, u32, Vec<u8>)> {
    let mut source = FrameSource::open("clip", clip.to_str().unwrap(), &SourceOptions { realtime: false }).unwrap();
    let (mut out, mut next) = (Vec::new(), 0.0);
    loop {
        match source.next(Duration::from_secs(10)).unwrap() {
            Pulled::Frame(f) => {
                let t = f.t();
                if t + 1e-6 >= next {
                    next = t + 1.0 / fps;
                    out.push((t, f.width, f.height, f.rgb));
                }
            }
            Pulled::Timeout => continue,
            Pulled::Eos => return out,
        }
    }
}

fn dev_clips() -> Vec<PathBuf> {
    let dir = repo_root().join("../shared/data/clips-dev");
    let mut clips: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "mp4")).collect()
        })
        .unwrap_or_default();
    clips.sort();
    clips
}

/// The changes a tamper watch with the default settings sees.
fn watch(frames: &[(f64, u32, u32, Vec<u8>)]) -> Vec<(f64, TamperChange)> {
    let mut d = TamperDetector::new(TamperConfig::default());
    frames
        .iter()
        .filter_map(|(t, w, h, rgb)| {
            d.observe(ViewSignature::of(rgb, *w as usize, *h as usize).unwrap(), *t).map(|c| (*t, c))
        })
        .collect()
}

/// The worst each measure stays for a whole hold_s (5 s at 5 fps): contrast and detail (the
/// highest within a window, lowest over windows) and difference (the lowest within, highest
/// over windows). What the defaults of `TamperConfig` were set from; printed by the tests.
fn sustained(frames: &[(f64, u32, u32, Vec<u8>)]) -> [f32; 3] {
    let mut d = TamperDetector::new(TamperConfig { hold_s: 1e9, ..TamperConfig::default() });
    let mut series: Vec<[f32; 3]> = vec![];
    for (t, w, h, rgb) in frames {
        let sig = ViewSignature::of(rgb, *w as usize, *h as usize).unwrap();
        series.extend(d.measures(&sig));
        d.observe(sig, *t);
    }
    let mut worst = [f32::MAX, f32::MAX, f32::MIN];
    for w in series.windows(25) {
        for k in 0..2 {
            worst[k] = worst[k].min(w.iter().map(|m| m[k]).fold(f32::MIN, f32::max));
        }
        worst[2] = worst[2].max(w.iter().map(|m| m[2]).fold(f32::MAX, f32::min));
    }
    worst
}

#[test]
fn ordinary_real_scenes_are_not_tampering() {
    let mut clips = vec![asset("media/vtest.avi")];
    clips.extend(dev_clips());
    let cfg = TamperConfig::default();
    for clip in &clips {
        let frames = frames(clip, 5.0);
        let worst = sustained(&frames);
        eprintln!(
            "{}: over any 5 s, contrast >= {:.2}, detail >= {:.2} of the reference, difference <= {:.2}",
            clip.file_name().unwrap().to_string_lossy(),
            worst[0],
            worst[1],
            worst[2]
        );
        let changes = watch(&frames);
        assert!(changes.is_empty(), "{}: {changes:?}", clip.display());
        assert!(worst[0] > cfg.covered_contrast && worst[1] > cfg.blurred_detail && worst[2] < cfg.moved_difference);
    }
}

/// vtest.avi with seconds 20-35 changed by `tamper`.
fn tampered(tamper: impl Fn(u32, u32, &[u8]) -> Vec<u8>) -> Vec<(f64, u32, u32, Vec<u8>)> {
    frames(&asset("media/vtest.avi"), 5.0)
        .into_iter()
        .take_while(|f| f.0 < 50.0)
        .map(|(t, w, h, rgb)| if (20.0..35.0).contains(&t) { (t, w, h, tamper(w, h, &rgb)) } else { (t, w, h, rgb) })
        .collect()
}

fn blur(w: u32, h: u32, rgb: &[u8]) -> Vec<u8> {
    let img = image::RgbImage::from_raw(w, h, rgb.to_vec()).unwrap();
    image::imageops::blur(&img, 3.0).into_raw()
}

fn turned(w: u32, h: u32, rgb: &[u8]) -> Vec<u8> {
    // Turned away: the view slides by 40 % of its width (what is now left came from the right,
    // mirrored: another part of the surroundings).
    let img = image::RgbImage::from_raw(w, h, rgb.to_vec()).unwrap();
    let shift = w * 2 / 5;
    image::RgbImage::from_fn(w, h, |x, y| *img.get_pixel((w - 1 - (x + shift) % w).min(w - 1), y)).into_raw()
}

#[test]
fn a_real_scene_covered_blurred_or_turned_is_noticed_and_its_return_too() {
    let covered = |w: u32, h: u32, _: &[u8]| vec![9u8; (w * h * 3) as usize];
    for (what, frames) in [
        (Tampering::Covered, tampered(covered)),
        (Tampering::Blurred, tampered(blur)),
        (Tampering::Moved, tampered(turned)),
    ] {
        let changes = watch(&frames);
        let worst = sustained(&frames);
        eprintln!(
            "{}: {changes:?}; over 5 s contrast {:.2}, detail {:.2}, difference {:.2}",
            what.as_str(),
            worst[0],
            worst[1],
            worst[2]
        );
        let [(t1, TamperChange::Tampered { what: w1, since, .. }), (t2, TamperChange::Restored { what: w2, .. })] =
            changes.as_slice()
        else {
            panic!("{}: one tampering and its end: {changes:?}", what.as_str())
        };
        assert_eq!((*w1, *w2), (what, what));
        assert!((since - 20.0).abs() < 0.3, "began when the view changed: {since}");
        assert!(*t1 - 20.0 <= 5.5, "noticed within hold_s: {t1}");
        assert!(*t2 > 35.0 && *t2 - 35.0 <= 5.5, "restored within hold_s of the view's return: {t2}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_reports_a_covered_camera_and_its_return() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("covered.mp4");
    let source = frames(&asset("media/vtest.avi"), 10.0);
    let (w, h) = (source[0].1, source[0].2);
    let rgb = source
        .into_iter()
        .take_while(|f| f.0 < 40.0)
        .map(|(t, w, h, rgb)| if (15.0..25.0).contains(&t) { vec![12u8; (w * h * 3) as usize] } else { rgb });
    gatewatch_media::clip::write_mp4(&clip, w, h, 10, rgb).unwrap();

    let mut edge = EdgeConfig::from_toml(include_str!("../../deploy/demo-edge.toml")).unwrap();
    edge.vision = vision_config();
    edge.mqtt.port = free_port(); // no broker: events stay in the spool
    edge.spool = SpoolConfig { dir: dir.path().join("spool"), ..Default::default() };
    edge.cameras = vec![CameraConfig { id: "gate".into(), uri: clip.display().to_string(), ..edge.cameras[0].clone() }];
    gatewatch_edge::run(edge.clone(), Arc::new(AtomicBool::new(false)), Duration::ZERO).await.unwrap();

    let mut spool = Spool::open(&edge.spool).unwrap();
    let events: Vec<Event> =
        spool.read_after(0, 100_000).unwrap().iter().map(|r| Event::decode(&r.payload, usize::MAX).unwrap()).collect();
    let start = events.first().unwrap().captured_at;
    let secs = |t: chrono::DateTime<chrono::Utc>| (t - start).num_milliseconds() as f64 / 1000.0;
    let seen: Vec<(String, f64)> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::CameraTampered { what, since, snapshot, .. } => {
                assert!(
                    snapshot.as_ref().is_some_and(|s| s.bytes().unwrap().starts_with(&[0xff, 0xd8])),
                    "a JPEG of the view"
                );
                Some((format!("tampered {} since {:.1}", what.as_str(), secs(*since)), secs(e.captured_at)))
            }
            EventBody::CameraViewRestored { what, tampered_s, .. } => {
                Some((format!("restored {} after {tampered_s:.0} s", what.as_str()), secs(e.captured_at)))
            }
            _ => None,
        })
        .collect();
    eprintln!("{seen:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].0.starts_with("tampered covered since 1"), "{seen:?}");
    assert!((20.0..=20.7).contains(&seen[0].1), "hold_s after the cover: {seen:?}");
    assert!(seen[1].0.starts_with("restored covered"), "{seen:?}");
    assert!((30.0..=30.7).contains(&seen[1].1), "hold_s after the view came back: {seen:?}");
}

//! The real clip through the real model: the Rust pipeline (GStreamer decode, Rust
//! preprocessing, ort, Rust GFL decoder) finds the objects an independent Python onnxruntime
//! + OpenCV reference found (tests/fixtures/make_nanodet_reference.py), box for box.

use std::collections::BTreeMap;
use std::time::Duration;

use gatewatch_core::detection::Detection;
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use gatewatch_systests::{asset, vision_config};
use gatewatch_vision::Detector;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    clip_sha256: String,
    frames: BTreeMap<String, Vec<RefDet>>,
}

#[derive(Deserialize, Debug)]
struct RefDet {
    class: String,
    score: f32,
    bbox: [f32; 4],
}

fn iou(a: [f32; 4], d: &Detection) -> f32 {
    gatewatch_core::geometry::BBox::new(a[0], a[1], a[2], a[3]).iou(&d.bbox)
}

/// Detections clearly above the 0.35 threshold must agree both ways; borderline ones may fall
/// either side of it through float rounding differences in resizing.
const CLEAR: f32 = 0.45;

#[test]
fn rust_detector_matches_python_reference_on_vtest() {
    let reference: Reference =
        serde_json::from_str(include_str!("fixtures/nanodet_vtest_reference.json")).expect("fixture parses");
    assert_eq!(reference.clip_sha256, "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf");
    let wanted: BTreeMap<u64, &Vec<RefDet>> = reference.frames.iter().map(|(k, v)| (k.parse().unwrap(), v)).collect();
    let last = *wanted.keys().last().unwrap();

    let mut detector = Detector::new(&vision_config()).expect("detector loads");
    let clip = asset("media/vtest.avi");
    let mut source = FrameSource::open("ref", clip.to_str().unwrap(), &SourceOptions { realtime: false }).unwrap();
    let mut index = 0u64;
    let mut checked = 0;
    let mut people = 0;
    while index <= last {
        let frame = match source.next(Duration::from_secs(10)).unwrap() {
            Pulled::Frame(f) => f,
            Pulled::Timeout => continue,
            Pulled::Eos => panic!("clip ended at frame {index}"),
        };
        if let Some(refs) = wanted.get(&index) {
            let ours = detector.detect(&frame.rgb, frame.width, frame.height).unwrap();
            for r in refs.iter().filter(|r| r.score >= CLEAR) {
                let (best, score) = ours
                    .iter()
                    .filter(|d| d.class.as_str() == r.class)
                    .map(|d| (iou(r.bbox, d), d.score))
                    .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
                assert!(best >= 0.9, "frame {index}: reference {r:?} best IoU {best:.3} among {ours:#?}");
                assert!((score - r.score).abs() < 0.03, "frame {index}: score {score} vs reference {r:?}");
                people += (r.class == "person") as usize;
            }
            for d in ours.iter().filter(|d| d.score >= CLEAR) {
                let best =
                    refs.iter().filter(|r| r.class == d.class.as_str()).map(|r| iou(r.bbox, d)).fold(0.0, f32::max);
                assert!(best >= 0.9, "frame {index}: we found {d:?} that the reference did not (best IoU {best:.3})");
            }
            checked += 1;
        }
        index += 1;
    }
    assert_eq!(checked, wanted.len());
    assert!(people >= 15, "only {people} confident people in {checked} frames: the fixture or model changed");
}

//! The real clip through the real model: the Rust pipeline (GStreamer decode, Rust
//! preprocessing, ort, Rust GFL decoder) finds the objects an independent Python reference
//! (onnxruntime and OpenCV, tests/fixtures/make_nanodet_reference.py) found, box for box, with
//! the frame letterboxed (the default) and stretched, on vtest.avi's 4:3 frames and on a 16:9
//! crop of them (the shape of real gate cameras).

use std::collections::BTreeMap;
use std::time::Duration;

use gatewatch_core::detection::Detection;
use gatewatch_core::fit::Resize;
use gatewatch_media::{FrameSource, Pulled, SourceOptions};
use gatewatch_systests::{asset, vision_config};
use gatewatch_vision::Detector;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    clip_sha256: String,
    crop16x9_rows: [usize; 2],
    /// mode → view (`full`, `crop16x9`) → frame index → detections.
    modes: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<RefDet>>>>,
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

/// Frames `wanted` of vtest.avi, decoded by the product's GStreamer source.
fn frames(wanted: &[u64]) -> BTreeMap<u64, gatewatch_core::frame::Frame> {
    let last = *wanted.iter().max().unwrap();
    let clip = asset("media/vtest.avi");
    let mut source = FrameSource::open("ref", clip.to_str().unwrap(), &SourceOptions { realtime: false }).unwrap();
    let mut out = BTreeMap::new();
    let mut index = 0u64;
    while index <= last {
        match source.next(Duration::from_secs(10)).unwrap() {
            Pulled::Frame(f) if wanted.contains(&index) => {
                out.insert(index, f);
                index += 1;
            }
            Pulled::Frame(_) => index += 1,
            Pulled::Timeout => continue,
            Pulled::Eos => panic!("clip ended at frame {index}"),
        }
    }
    out
}

/// Our detections agree with the reference's both ways; returns the confident people.
fn agree(what: &str, ours: &[Detection], refs: &[RefDet]) -> usize {
    let mut people = 0;
    for r in refs.iter().filter(|r| r.score >= CLEAR) {
        let (best, score) = ours
            .iter()
            .filter(|d| d.class.as_str() == r.class)
            .map(|d| (iou(r.bbox, d), d.score))
            .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        assert!(best >= 0.9, "{what}: reference {r:?} best IoU {best:.3} among {ours:#?}");
        assert!((score - r.score).abs() < 0.03, "{what}: score {score} vs reference {r:?}");
        people += (r.class == "person") as usize;
    }
    for d in ours.iter().filter(|d| d.score >= CLEAR) {
        let best = refs.iter().filter(|r| r.class == d.class.as_str()).map(|r| iou(r.bbox, d)).fold(0.0, f32::max);
        assert!(best >= 0.9, "{what}: we found {d:?} that the reference did not (best IoU {best:.3})");
    }
    people
}

#[test]
fn rust_detector_matches_python_reference_on_vtest() {
    let reference: Reference =
        serde_json::from_str(include_str!("fixtures/nanodet_vtest_reference.json")).expect("fixture parses");
    assert_eq!(reference.clip_sha256, "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf");
    let wanted: Vec<u64> = reference.modes["letterbox"]["full"].keys().map(|k| k.parse().unwrap()).collect();
    let frames = frames(&wanted);
    let [top, bottom] = reference.crop16x9_rows;
    let mut people = BTreeMap::new();
    for mode in [Resize::Letterbox, Resize::Stretch] {
        let mut cfg = vision_config();
        cfg.resize = mode;
        // The reference's own thresholds (SCORE, IOU in the Python script), not the product's.
        cfg.score_threshold = 0.35;
        cfg.iou_threshold = 0.6;
        let mut detector = Detector::new(&cfg).expect("detector loads");
        for (view, by_frame) in &reference.modes[mode.as_str()] {
            assert_eq!(by_frame.len(), wanted.len(), "{view}");
            for (index, refs) in by_frame {
                let f = &frames[&index.parse().unwrap()];
                let ours = match view.as_str() {
                    "full" => detector.detect(&f.rgb, f.width, f.height).unwrap(),
                    "crop16x9" => {
                        let row = f.width as usize * 3;
                        let crop = &f.rgb[top * row..bottom * row];
                        detector.detect(crop, f.width, (bottom - top) as u32).unwrap()
                    }
                    other => panic!("unknown view {other}"),
                };
                let found = agree(&format!("{} {view} frame {index}", mode.as_str()), &ours, refs);
                *people.entry((mode.as_str(), view.clone())).or_insert(0) += found;
            }
        }
    }
    println!("confident people (score >= {CLEAR}) in {} frames: {people:?}", wanted.len());
    assert_eq!(people.len(), 4, "both modes, both views: {people:?}");
    assert!(people.values().all(|&n| n >= 15), "too few confident people: the fixture or model changed: {people:?}");
}

/// Two tiles of the 16:9 crop (`[vision] tiles = 2`) find every confident object the whole
/// crop finds, each once: the tiles' overlap and seam merged away.
#[test]
fn tiles_find_what_the_whole_frame_finds() {
    let reference: Reference =
        serde_json::from_str(include_str!("fixtures/nanodet_vtest_reference.json")).expect("fixture parses");
    let wanted: Vec<u64> = reference.modes["letterbox"]["full"].keys().map(|k| k.parse().unwrap()).collect();
    let frames = frames(&wanted);
    let [top, bottom] = reference.crop16x9_rows;
    let mut whole = Detector::new(&vision_config()).expect("detector loads");
    let mut tiled = Detector::new(&gatewatch_core::config::VisionConfig { tiles: 2, ..vision_config() }).unwrap();
    let (mut confident, mut extra) = (0, 0);
    for (index, f) in &frames {
        let row = f.width as usize * 3;
        let crop = &f.rgb[top * row..bottom * row];
        let (w, h) = (f.width, (bottom - top) as u32);
        let ours = whole.detect(crop, w, h).unwrap();
        let tiles = tiled.detect(crop, w, h).unwrap();
        for d in ours.iter().filter(|d| d.score >= 0.5) {
            confident += 1;
            let best = tiles
                .iter()
                .filter(|t| t.class.nms_group() == d.class.nms_group())
                .map(|t| t.bbox.iou(&d.bbox))
                .fold(0.0, f32::max);
            assert!(best >= 0.5, "frame {index}: {d:?} found whole, not by the tiles (best IoU {best:.2}): {tiles:#?}");
        }
        for (i, a) in tiles.iter().enumerate() {
            for b in &tiles[i + 1..] {
                let same = a.class.nms_group() == b.class.nms_group() && a.bbox.iou(&b.bbox) > 0.5;
                assert!(!same, "frame {index}: one object twice: {a:?} {b:?}");
            }
        }
        extra += tiles.len().saturating_sub(ours.len());
    }
    println!("{confident} confident whole-frame detections all found by the tiles; {extra} more boxes from the tiles");
    assert!(confident >= 10, "too few confident detections to judge: {confident}");
}

/// The YOLO path end to end through ONNX Runtime: a graph shaped like a YOLOv8 export
/// (tests/fixtures/make_yolo_shaped.py: input [1,3,64,64], output [1,84,8] of planted
/// candidates) is recognised by its output, fed its own input size, and its boxes come back in
/// frame pixels, letterboxed and in two tiles.
#[test]
fn a_yolo_shaped_model_is_decoded_into_frame_pixels() {
    let model = gatewatch_systests::repo_root().join("tests/fixtures/yolo_shaped_64.onnx");
    let cfg = gatewatch_core::config::VisionConfig { model, ..vision_config() };
    let frame = vec![128u8; 128 * 64 * 3];
    let mut d = Detector::new(&cfg).expect("a YOLO export loads");
    let found = d.detect(&frame, 128, 64).unwrap();
    // 128x64 letterboxed into 64x64: scale 0.5, 16 px bands above and below.
    let boxes: Vec<(&str, [f32; 4])> =
        found.iter().map(|d| (d.class.as_str(), [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2])).collect();
    assert_eq!(boxes, vec![("person", [56.0, 12.0, 72.0, 52.0]), ("car", [20.0, 42.0, 44.0, 54.0])]);
    // Two 64x64 tiles of the 2:1 frame: each tile finds the planted pair in its own pixels.
    let mut d = Detector::new(&gatewatch_core::config::VisionConfig { tiles: 2, ..cfg.clone() }).unwrap();
    let mut persons: Vec<f32> =
        d.detect(&frame, 128, 64).unwrap().iter().filter(|d| d.class.as_str() == "person").map(|d| d.bbox.x1).collect();
    persons.sort_by(f32::total_cmp);
    assert_eq!(persons, vec![28.0, 92.0]);
    // A frame of the wrong size is refused, not read past.
    assert!(d.detect(&frame[1..], 128, 64).is_err());
}

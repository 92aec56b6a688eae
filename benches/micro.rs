//! Criterion micro-benchmarks of the hot pure functions of a frame's journey:
//! preprocessing (resize + normalise to the model's input), NanoDet decode + NMS, a tracker
//! update, the rules over a stream of events, and a plate read matched against lists of
//! 10^2 .. 10^5 entries (the index beside a full scan).
//!
//! ```text
//! cargo bench --bench micro                 # all
//! cargo bench --bench micro -- preprocess   # one group
//! ```

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use gatewatch_core::detection::{Detection, ObjectClass};
use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};
use gatewatch_core::fit::{Fit, Resize};
use gatewatch_core::geometry::BBox;
use gatewatch_core::nanodet::{self, DecodeParams, Level};
use gatewatch_core::registry::Registry;
use gatewatch_core::rules::{LoiteringConfig, RuleSet, RulesConfig};
use gatewatch_core::tracker::{Tracker, TrackerConfig};
use gatewatch_vision::preprocess::{NANODET, fit_to_bgr_planar, rgb_to_bgr_planar};

/// A deterministic pseudo-random sequence (no dependency, same numbers every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn preprocess(c: &mut Criterion) {
    let (w, h) = (768usize, 576usize);
    let mut rng = Lcg(1);
    let src: Vec<u8> = (0..w * h * 3).map(|_| (rng.next() * 255.0) as u8).collect();
    let mut out = vec![0f32; 3 * 416 * 416];
    c.bench_function("preprocess 768x576 -> 416x416 BGR planar", |b| {
        b.iter(|| rgb_to_bgr_planar(black_box(&src), w, h, 416, 416, &NANODET, &mut out))
    });
    // A 16:9 camera: stretched (the baseline) and letterboxed, in the same run.
    let (w, h) = (1920usize, 1080usize);
    let src: Vec<u8> = (0..w * h * 3).map(|_| (rng.next() * 255.0) as u8).collect();
    for mode in [Resize::Stretch, Resize::Letterbox] {
        let fit = Fit::new(mode, w as u32, h as u32, 416, 416);
        c.bench_function(&format!("preprocess 1920x1080 -> 416x416 {}", mode.as_str()), |b| {
            b.iter(|| fit_to_bgr_planar(black_box(&src), &fit, 416, 416, &NANODET, &mut out))
        });
    }
}

fn motion(c: &mut Criterion) {
    let (w, h) = (768usize, 576usize);
    let mut rng = Lcg(2);
    let src: Vec<u8> = (0..w * h * 3).map(|_| (rng.next() * 255.0) as u8).collect();
    let reference = gatewatch_core::motion::Thumbnail::of(&src, w, h);
    c.bench_function("motion gate: thumbnail of 768x576 + compare", |b| {
        b.iter(|| gatewatch_core::motion::Thumbnail::of(black_box(&src), w, h).changed_cells(&reference, 10.0))
    });
}

fn decode(c: &mut Criterion) {
    let p = DecodeParams::default();
    let mut rng = Lcg(2);
    // Logit-like scores: mostly low, a few hundred cells above threshold (a busy street).
    let levels: Vec<(u32, Vec<f32>, Vec<f32>)> = [8u32, 16, 32]
        .iter()
        .map(|&stride| {
            let cells = ((416 / stride) * (416 / stride)) as usize;
            let scores = (0..cells * 80).map(|_| rng.next().powi(12)).collect();
            let boxes = (0..cells * 4 * 11).map(|_| rng.next() * 4.0 - 2.0).collect();
            (stride, scores, boxes)
        })
        .collect();
    let lv: Vec<Level> = levels.iter().map(|(s, sc, bx)| Level { stride: *s, scores: sc, boxes: bx }).collect();
    let fit = Fit::new(Resize::Letterbox, 768, 576, 416, 416);
    c.bench_function("nanodet decode + NMS (3 levels, 3549 cells)", |b| {
        b.iter(|| nanodet::decode(black_box(&lv), &p, &fit).unwrap())
    });
}

fn tracker(c: &mut Criterion) {
    // 20 people walking, detected every 0.2 s with jitter.
    let mut rng = Lcg(3);
    let frames: Vec<Vec<Detection>> = (0..200)
        .map(|f| {
            (0..20)
                .map(|i| {
                    let x = (i as f32 * 35.0 + f as f32 * 2.0) % 700.0 + rng.next() * 2.0;
                    let y = 100.0 + (i % 5) as f32 * 80.0 + rng.next() * 2.0;
                    Detection {
                        bbox: BBox { x1: x, y1: y, x2: x + 40.0, y2: y + 100.0 },
                        score: 0.5 + rng.next() * 0.4,
                        class: ObjectClass::Person,
                    }
                })
                .collect()
        })
        .collect();
    c.bench_function("tracker update, 20 objects (mean over 200 frames)", |b| {
        b.iter_batched(
            || Tracker::new(TrackerConfig::default()),
            |mut t| {
                for (i, dets) in frames.iter().enumerate() {
                    black_box(t.update(dets, i as f64 * 0.2));
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

fn rules(c: &mut Criterion) {
    let cfg = RulesConfig {
        loitering: vec![LoiteringConfig {
            name: "shed".into(),
            zone: "shed".into(),
            min_dwell_s: 60.0,
            classes: vec![ObjectClass::Person],
            window: None,
            cameras: vec![],
        }],
        ..Default::default()
    };
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
    let events: Vec<Event> = (0..1000u64)
        .map(|i| {
            let track = i / 4;
            let body = match i % 4 {
                0 => EventBody::ZoneEntered { track, class: ObjectClass::Person, zone: "shed".into() },
                1 => EventBody::CameraStats {
                    frames_decoded: 50,
                    frames_inferred: 25,
                    frames_dropped: 0,
                    frames_gated: 0,
                    period_s: 5.0,
                    thumbnail: None,
                },
                2 => EventBody::ZoneLeft { track, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 30.0 },
                _ => EventBody::CameraStats {
                    frames_decoded: 50,
                    frames_inferred: 25,
                    frames_dropped: 0,
                    frames_gated: 0,
                    period_s: 5.0,
                    thumbnail: None,
                },
            };
            Event {
                schema: SCHEMA_V1.into(),
                event_id: uuid::Uuid::from_u128(i as u128),
                site: "north".into(),
                edge: "gate-1".into(),
                camera: "shed".into(),
                seq: i + 1,
                captured_at: at + Duration::milliseconds(i as i64 * 500),
                body,
            }
        })
        .collect();
    let lists = Registry::default();
    c.bench_function("rules over 1000 events (loitering rule)", |b| {
        b.iter_batched(
            || RuleSet::new(&cfg).unwrap(),
            |mut r| {
                for ev in &events {
                    black_box(r.on_event(ev, &lists));
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

/// Matching one plate read (the voted text and two candidates) against lists of 10^2 .. 10^5
/// entries: the index against a scan of every entry, measured side by side.
fn plate_lists(c: &mut Criterion) {
    use gatewatch_core::plate::confusion_distance;
    use gatewatch_core::registry::{ListEntry, ListKind};
    let mut rng = Lcg(3);
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let provinces: Vec<char> = gatewatch_core::plate::PROVINCES.chars().collect();
    let mut plate = || {
        let mut p = String::new();
        p.push(provinces[(rng.next() * provinces.len() as f32) as usize % provinces.len()]);
        for _ in 0..6 {
            p.push(ALPHABET[(rng.next() * ALPHABET.len() as f32) as usize % ALPHABET.len()] as char);
        }
        p
    };
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
    let mut group = c.benchmark_group("plate read against a list");
    for n in [100usize, 1_000, 10_000, 100_000] {
        let kinds = [ListKind::Stolen, ListKind::Wanted, ListKind::Resident];
        let entries: Vec<ListEntry> =
            (0..n).map(|i| ListEntry::new(kinds[i % 3], &plate(), "x", None, None).unwrap()).collect();
        // A read one confusion away from an entry, and two unrelated candidates.
        let mut near: Vec<char> = entries[n / 2].plate.chars().collect();
        near[3] = if near[3] == '8' { 'B' } else { '8' };
        let reads: Vec<String> = vec![near.into_iter().collect(), plate(), plate()];
        let reads: Vec<&str> = reads.iter().map(String::as_str).collect();
        let registry = Registry::new(entries.clone(), Default::default());
        group.bench_function(format!("index, {n} entries"), |b| b.iter(|| black_box(registry.matches(&reads, at))));
        group.bench_function(format!("scan, {n} entries"), |b| {
            b.iter(|| {
                entries
                    .iter()
                    .filter(|e| {
                        let d = reads.iter().map(|r| confusion_distance(r, &e.plate)).fold(f32::INFINITY, f32::min);
                        d <= e.kind.default_max_distance()
                    })
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(micro, preprocess, motion, decode, tracker, rules, plate_lists);
criterion_main!(micro);

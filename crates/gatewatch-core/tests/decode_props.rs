//! Randomised tests of the event decoder, the aggregator's first contact with untrusted bytes.
//! Whatever the input, `Event::decode` returns `Ok` or a `Reject`: it never panics, never
//! accepts an oversized payload, and what it accepts re-encodes to an equal event.
//!
//! CI runs proptest's default 256 cases per property. The long run, 10⁶ inputs per property:
//!
//! ```text
//! PROPTEST_CASES=1000000 cargo test --release -p gatewatch-core --test decode_props
//! ```

use chrono::{TimeZone, Utc};
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{Event, EventBody, PlateRead, Reject, SCHEMA_V1, Snapshot};
use gatewatch_core::geometry::BBox;
use proptest::prelude::*;
use serde_json::Value;

const MAX: usize = 64 * 1024;

fn samples() -> Vec<Vec<u8>> {
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
    let ev = |seq, body| Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::from_u128(0x0191_0000_0000_7000_8000_0000_0000_0000 + seq as u128),
        site: "north".into(),
        edge: "gate-1".into(),
        camera: "lane-in".into(),
        seq,
        captured_at: at,
        body,
    };
    vec![
        ev(
            1,
            EventBody::CameraStats {
                frames_decoded: 50,
                frames_inferred: 25,
                frames_dropped: 0,
                frames_gated: 0,
                period_s: 5.0,
                thumbnail: None,
            },
        ),
        ev(
            2,
            EventBody::TrackStarted {
                track: 7,
                class: ObjectClass::Car,
                bbox: BBox { x1: 10.0, y1: 20.0, x2: 200.0, y2: 120.0 },
                score: 0.8,
            },
        ),
        ev(3, EventBody::ZoneLeft { track: 7, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 95.5 }),
        ev(
            4,
            EventBody::PlateRead(PlateRead {
                track: 7,
                plate: "5AU5341".into(),
                confidence: 0.9,
                candidates: vec!["5AU534I".into()],
                reads: 3,
                stable: true,
                plate_snapshot: Some(Snapshot::jpeg(94, 24, &[0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])),
                ..Default::default()
            }),
        ),
    ]
    .into_iter()
    .map(|e| e.encode())
    .collect()
}

/// Decode, and check what the decoder promises.
fn check(payload: &[u8]) -> Result<(), TestCaseError> {
    match Event::decode(payload, MAX) {
        Ok(ev) => {
            prop_assert!(payload.len() <= MAX);
            prop_assert!(ev.validate().is_ok());
            let again = Event::decode(&ev.encode(), usize::MAX).expect("what was accepted re-decodes");
            prop_assert_eq!(again, ev);
        }
        Err(Reject::TooLarge(n, max)) => prop_assert!(n > max && payload.len() > MAX),
        Err(r) => prop_assert!(!r.to_string().is_empty()),
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Delete(usize, usize),
    Splice(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens = prop::sample::select(vec![
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "null",
        "-1",
        "1e309",
        "\"kind\":\"zone_left\"",
        "\"schema\":\"x\"",
        "\\u0000",
        "\\ud800",
        "\"seq\":18446744073709551616",
        "\"camera\":\"../../x\"",
        "NaN",
        " ",
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), tokens).prop_map(|(i, t)| Mutation::Splice(i, t)),
    ]
}

fn apply(mut p: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let n = p.len().max(1);
        match *m {
            Mutation::Flip(i, b) if !p.is_empty() => p[i % n] ^= b | 1,
            Mutation::Truncate(i) => p.truncate(i % n),
            Mutation::Insert(i, b) => p.insert(i % (p.len() + 1), b),
            Mutation::Delete(i, k) if !p.is_empty() => {
                let s = i % n;
                p.drain(s..(s + k).min(p.len()));
            }
            Mutation::Splice(i, t) => {
                let at = i % (p.len() + 1);
                p.splice(at..at, t.bytes());
            }
            _ => {}
        }
    }
    p
}

/// JSON shaped like an event, with fields and values drawn from a hostile vocabulary.
fn json_like() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "schema",
        "event_id",
        "site",
        "edge",
        "camera",
        "seq",
        "captured_at",
        "body",
        "kind",
        "track",
        "class",
        "zone",
        "dwell_s",
        "plate",
        "confidence",
        "reads",
        "stable",
        "snapshot",
        "data",
        "extra",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        prop::sample::select(vec![
            SCHEMA_V1,
            "zone_left",
            "plate_read",
            "camera_stats",
            "person",
            "north",
            "gate-1",
            "",
            "0191e0c4-0000-7000-8000-000000000000",
            "2026-11-28T03:00:00Z",
            "../../etc",
            "ÄÖ",
        ])
        .prop_map(Value::from),
        "[ -~]{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(payload in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&payload)?;
    }

    #[test]
    fn mutated_events_never_panic(which in 0usize..4, muts in prop::collection::vec(mutation(), 1..8)) {
        check(&apply(samples()[which].clone(), &muts))?;
    }

    #[test]
    fn event_shaped_json_never_panics(v in json_like(), schema in any::<bool>()) {
        let mut v = v;
        if schema && let Value::Object(m) = &mut v {
            m.insert("schema".into(), SCHEMA_V1.into());
        }
        check(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn oversized_is_refused_before_parsing(extra in 1usize..4096, fill in any::<u8>()) {
        let payload = vec![fill; MAX + extra];
        prop_assert!(matches!(Event::decode(&payload, MAX), Err(Reject::TooLarge(..))));
    }
}

#[test]
fn the_samples_are_valid_events() {
    for s in samples() {
        Event::decode(&s, MAX).expect("sample decodes");
    }
}

//! Randomised tests of the rules with events the schema accepts but nobody sane sends: times
//! anywhere in years 0000-9999, dwell times up to f64::MAX, track ids and seqs up to u64::MAX,
//! zones and plates the rules do and do not know, in any order. Whatever arrives, the rules never
//! panic and never raise an absurd alert: each alert is dated within the events' times (less
//! the longest dwell believed), and says nothing infinite.
//!
//! CI runs proptest's default 256 cases; the long run:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release -p gatewatch-core --test rules_props
//! ```

use chrono::{DateTime, Duration, Utc};
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{Event, EventBody, PlateRead, SCHEMA_V1, StationaryEnd, earliest, latest};
use gatewatch_core::geometry::BBox;
use gatewatch_core::incident::{IncidentBook, Sighting, Signal};
use gatewatch_core::registry::{ListEntry, ListKind, Registry};
use gatewatch_core::rules::{
    LoiteringConfig, MAX_DWELL_S, RuleSet, RulesConfig, StationaryRuleConfig, UnknownVehicleConfig, WatchlistConfig,
};
use proptest::prelude::*;

fn rules() -> RuleSet {
    let loitering = |name: &str, zone: &str, min: f64, window: Option<&str>| LoiteringConfig {
        name: name.into(),
        zone: zone.into(),
        min_dwell_s: min,
        classes: vec![ObjectClass::Person, ObjectClass::Car],
        window: window.map(String::from),
        cameras: vec![],
    };
    RuleSet::new(&RulesConfig {
        utc_offset: "+08:00".into(),
        loitering: vec![
            loitering("shed", "shed", 60.0, None),
            loitering("shed-night", "shed", 1.0, Some("22:00-06:00")),
            loitering("fire-lane", "lane", MAX_DWELL_S, None),
        ],
        watchlist: vec![WatchlistConfig { name: "cfg".into(), plates: vec!["京A12345".into()], cooldown_s: 600.0 }],
        unknown_vehicle: vec![UnknownVehicleConfig {
            require_stable: false,
            require_valid: false,
            min_confidence: 0.0,
            ..UnknownVehicleConfig::new("night", "23:00-05:00")
        }],
        stationary: vec![
            StationaryRuleConfig {
                name: "lane-parking".into(),
                zone: "lane".into(),
                min_parked_s: 300.0,
                classes: vec![ObjectClass::Car],
                window: Some("22:00-06:00".into()),
                cameras: vec![],
            },
            StationaryRuleConfig {
                name: "lane-year".into(),
                zone: "lane".into(),
                min_parked_s: MAX_DWELL_S,
                classes: vec![ObjectClass::Car],
                window: None,
                cameras: vec![],
            },
        ],
        ..Default::default()
    })
    .expect("valid rules")
}

fn visit_rules() -> RulesConfig {
    use gatewatch_core::visits::{ExitWithoutEntryConfig, OverstayConfig, UnknownInsideConfig, VisitsConfig};
    RulesConfig {
        visits: VisitsConfig { min_confidence: 0.0, require_valid: false, ..Default::default() },
        overstay: vec![OverstayConfig { name: "overstay".into(), grace_s: MAX_DWELL_S, sites: vec![] }],
        exit_without_entry: vec![ExitWithoutEntryConfig { name: "no-entry".into(), cooldown_s: 0.0, sites: vec![] }],
        unknown_inside: vec![UnknownInsideConfig {
            name: "stranger".into(),
            after_s: 60.0,
            window: Some("22:00-06:00".into()),
            sites: vec![],
        }],
        ..Default::default()
    }
}

fn lists() -> Registry {
    let until = Some("2026-11-28T20:00:00Z".parse().unwrap());
    Registry::new(
        vec![
            ListEntry::new(ListKind::Stolen, "沪A77777", "case", None, None).unwrap(),
            ListEntry::new(ListKind::Resident, "京B12345", "flat", None, None).unwrap(),
            ListEntry::new(ListKind::Visitor, "京C11111", "guest", None, until).unwrap(),
        ],
        Default::default(),
    )
}

/// Any time RFC 3339 can write, with a bias to the edges of the range and to now.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    let (lo, hi) = (earliest().timestamp(), latest().timestamp());
    prop_oneof![
        Just(earliest()),
        Just(latest()),
        (lo..=hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        (0i64..86_400 * 3)
            .prop_map(|s| "2026-11-27T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)),
    ]
}

fn dwell() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1e13),
        Just(f64::MAX),
        Just(MAX_DWELL_S),
        Just(MAX_DWELL_S * 2.0),
        0.0..1e6f64,
        any::<f64>().prop_filter("schema: finite, >= 0", |d| d.is_finite() && *d >= 0.0),
    ]
}

fn track() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(u64::MAX), Just(i64::MAX as u64 + 1), 0u64..5]
}

fn zone() -> impl Strategy<Value = String> {
    prop_oneof![Just("shed".to_string()), Just("lane".to_string()), "[a-z0-9_-]{1,64}"]
}

fn plate() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("京A12345".to_string()),
        Just("沪A7777Z".to_string()),
        Just("京B12345".to_string()),
        Just("京C11111".to_string()),
        "[A-Z0-9]{1,12}",
    ]
}

fn class() -> impl Strategy<Value = ObjectClass> {
    prop_oneof![Just(ObjectClass::Person), Just(ObjectClass::Car), Just(ObjectClass::Bicycle)]
}

fn body() -> impl Strategy<Value = EventBody> {
    prop_oneof![
        (track(), class(), zone()).prop_map(|(track, class, zone)| EventBody::ZoneEntered { track, class, zone }),
        (track(), class(), zone(), dwell()).prop_map(|(track, class, zone, dwell_s)| EventBody::ZoneLeft {
            track,
            class,
            zone,
            dwell_s
        }),
        (track(), class()).prop_map(|(track, class)| EventBody::TrackEnded {
            track,
            class,
            duration_s: 1.0,
            detections: 1,
            best_score: 0.5,
            snapshot: None
        }),
        (track(), plate(), 0.0f32..=1.0, any::<bool>()).prop_map(|(track, plate, confidence, stable)| {
            EventBody::PlateRead(PlateRead {
                track,
                valid: gatewatch_core::plate::apply_grammar(&plate).valid,
                plate,
                confidence,
                reads: 3,
                stable,
                ..Default::default()
            })
        }),
        (track(), track(), class(), time(), zone(), any::<bool>()).prop_map(
            |(track, episode, class, since, zone, resumed)| {
                EventBody::StationaryStarted {
                    track,
                    class,
                    episode,
                    since,
                    bbox: BBox::new(0.0, 0.0, 1e30, f32::MAX),
                    zones: vec![zone],
                    resumed,
                    snapshot: None,
                }
            }
        ),
        (track(), track(), class(), time(), dwell(), any::<bool>()).prop_map(
            |(track, episode, class, since, stationary_s, moved)| EventBody::StationaryEnded {
                track,
                class,
                episode,
                since,
                stationary_s,
                reason: if moved { StationaryEnd::Moved } else { StationaryEnd::Gone },
            }
        ),
        (track(), class(), any::<bool>()).prop_map(|(track, class, inward)| EventBody::LineCrossed {
            track,
            class,
            line: "gate".into(),
            direction: if inward {
                gatewatch_core::lines::Direction::In
            } else {
                gatewatch_core::lines::Direction::Out
            },
        }),
        Just(EventBody::CameraStats {
            frames_decoded: u64::MAX,
            frames_inferred: 0,
            frames_dropped: 0,
            frames_gated: 0,
            period_s: f64::MAX,
            thumbnail: None,
        }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (time(), body(), any::<u64>(), prop_oneof![Just("cam1"), Just("cam2")]).prop_map(|(at, body, seq, camera)| Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: "gate-1".into(),
        camera: camera.into(),
        seq,
        captured_at: at,
        body,
    })
}

proptest! {
    #[test]
    fn hostile_but_valid_events_never_break_the_rules(events in proptest::collection::vec(event(), 1..40)) {
        let mut rules = rules();
        let mut book = IncidentBook::default();
        let lists = lists();
        let valid: Vec<&Event> = events.iter().filter(|e| e.validate().is_ok()).collect();
        prop_assume!(!valid.is_empty());
        let first = valid.iter().map(|e| e.captured_at).min().unwrap();
        let last = valid.iter().map(|e| e.captured_at).max().unwrap();
        let believed = Duration::milliseconds((MAX_DWELL_S * 1000.0) as i64);
        let floor = first.checked_sub_signed(believed).unwrap_or_else(earliest).max(earliest());
        let ceiling = last.checked_add_signed(believed).unwrap_or_else(latest).min(latest());
        let mut visits = gatewatch_core::visits::Visits::new(&visit_rules()).expect("valid visit rules");
        for ev in valid {
            let (_, visit_signals) = visits.on_event(ev);
            let clock = visits.on_clock(ev.captured_at, &lists).into_iter().map(|(_, s)| s);
            for signal in rules.on_event(ev, &lists).into_iter().chain(visit_signals).chain(clock) {
                // The lifecycle behind the rules must not break on these times either.
                book.apply(&signal);
                let Signal::Seen(Sighting { alert: a, .. }) = signal else { continue };
                prop_assert!(a.at >= floor && a.at <= ceiling, "alert dated {} outside {floor}..{ceiling}", a.at);
                prop_assert!(!a.message.contains("inf") && !a.message.contains("NaN"), "{}", a.message);
                // What the store writes must read back as the same time.
                let text = a.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                prop_assert_eq!(DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)), Ok(a.at));
            }
        }
    }
}

/// The message that stopped the centre: `dwell_s: 1e13` on a zone the rules watch.
#[test]
fn the_reported_hostile_zone_left_raises_nothing_absurd() {
    let mut rules = rules();
    let now: DateTime<Utc> = "2026-11-28T03:00:00Z".parse().unwrap();
    for dwell_s in [1e13, f64::MAX] {
        let ev = Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "north".into(),
            edge: "gate-1".into(),
            camera: "cam1".into(),
            seq: 1,
            captured_at: now,
            body: EventBody::ZoneLeft { track: 9, class: ObjectClass::Person, zone: "shed".into(), dwell_s },
        };
        assert!(ev.validate().is_ok(), "the schema accepts it");
        for signal in rules.on_event(&ev, &lists()) {
            let Signal::Seen(Sighting { alert: a, .. }) = signal else { continue };
            assert!(now - a.at <= Duration::days(367), "dated at most a year back: {}", a.at);
            assert!(a.message.contains("31622400 s"), "the believed dwell, not 10^13: {}", a.message);
        }
    }
}

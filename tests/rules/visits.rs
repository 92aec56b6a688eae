//! Visits through a real Mosquitto and a running aggregator: vehicles enter at one gate and
//! leave by another (a plate read on a track that crossed the gate line), are paired into
//! visits per compound, and raise what the desk must see: a visitor whose pass ran out while
//! inside (overstay), a stranger inside too long (unknown inside), a vehicle leaving that was
//! never seen coming in (exit without entry); each visit alert closes when the vehicle leaves.
//! The aggregator is restarted in between: who is inside is known again, nothing is raised
//! twice, and an exit after the restart pairs with an entry from before it.

use std::time::Duration;

use chrono::Utc;
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{Event, EventBody, PlateRead, SCHEMA_V1};
use gatewatch_core::incident::AlertMessage;
use gatewatch_core::lines::Direction;
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_core::rules::{AlertKind, RulesConfig};
use gatewatch_core::visits::{ExitWithoutEntryConfig, OverstayConfig, UnknownInsideConfig};
use gatewatch_store::VisitFilter;
use gatewatch_systests::{Centre, PATIENCE, RunningAggregator, eventually, next_alert};

struct Gate {
    edge: &'static str,
    seq: u64,
}

impl Gate {
    fn event(&mut self, body: EventBody) -> Event {
        self.seq += 1;
        Event {
            schema: SCHEMA_V1.into(),
            event_id: uuid::Uuid::now_v7(),
            site: "north".into(),
            edge: self.edge.into(),
            camera: "lane".into(),
            seq: self.seq,
            captured_at: Utc::now(),
            body,
        }
    }

    /// A vehicle's track `track` crossing the gate line and its plate read.
    fn pass(&mut self, track: u64, plate: &str, direction: Direction) -> [Event; 2] {
        let crossing =
            self.event(EventBody::LineCrossed { track, class: ObjectClass::Car, line: "gate".into(), direction });
        let read = self.event(EventBody::PlateRead(PlateRead {
            track,
            plate: plate.into(),
            confidence: 0.92,
            valid: Some(true),
            reads: 4,
            stable: true,
            ..Default::default()
        }));
        [crossing, read]
    }
}

/// Alert messages until one of `kind` of type `what` (`raised`, `updated`, `closed`) arrives.
async fn until(desk: &mut gatewatch_mqtt::MqttClient, what: &str, kind: AlertKind) -> AlertMessage {
    loop {
        let m = next_alert(desk).await;
        if m.kind() == what && m.alert().kind == kind {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_pair_across_gates_raise_their_alerts_and_survive_a_restart() {
    let rules = RulesConfig {
        overstay: vec![OverstayConfig { name: "overstay".into(), grace_s: 0.0, sites: vec![] }],
        exit_without_entry: vec![ExitWithoutEntryConfig { name: "no-entry".into(), cooldown_s: 3600.0, sites: vec![] }],
        unknown_inside: vec![UnknownInsideConfig {
            name: "stranger".into(),
            after_s: 3.0,
            window: None,
            sites: vec![],
        }],
        ..Default::default()
    };
    // A guest's pass runs out 10 s from now (the centre takes a few to start); a resident; the
    // lists are in the database before the aggregator loads them.
    let pass_until = Utc::now() + chrono::Duration::seconds(10);
    let lists = [
        ListEntry::new(ListKind::Visitor, "京C11111", "guest of 5-102", None, Some(pass_until)).unwrap(),
        ListEntry::new(ListKind::Resident, "京B12345", "flat 3-201", None, None).unwrap(),
    ];
    let Centre { agg, mut desk, gate, cfg, _broker, _dir } = Centre::start_with_lists(rules, &lists).await;
    let send = |ev: &Event| {
        let (gate, ev) = (&gate, ev.clone());
        async move {
            gate.publish(gatewatch_core::topic::events_topic(&ev.site, &ev.edge, &ev.camera), ev.encode())
                .await
                .unwrap()
        }
    };
    let (mut north, mut south) = (Gate { edge: "gate-1", seq: 0 }, Gate { edge: "gate-2", seq: 0 });

    for ev in north
        .pass(1, "京C11111", Direction::In)
        .iter()
        .chain(&north.pass(2, "京B12345", Direction::In))
        .chain(&north.pass(3, "粤Z99999", Direction::In))
    {
        send(ev).await;
    }
    // The stranger, inside for 3 s; the guest, once the pass has run out.
    let stranger = until(&mut desk, "raised", AlertKind::UnknownInside).await;
    assert_eq!(stranger.alert().plate.as_deref(), Some("粤Z99999"));
    let overstay = until(&mut desk, "raised", AlertKind::Overstay).await;
    assert_eq!(overstay.alert().plate.as_deref(), Some("京C11111"));
    assert!(Utc::now() >= pass_until, "not before the pass ran out");

    // The guest leaves by the other gate (its plate read once with an OCR confusion): one visit,
    // and its overstay closes.
    for ev in south.pass(101, "京C1111I", Direction::Out) {
        send(&ev).await;
    }
    let closed = until(&mut desk, "closed", AlertKind::Overstay).await;
    assert_eq!(closed.alert().alert_id, overstay.alert().alert_id);
    // A car leaving that nobody saw come in.
    for ev in south.pass(102, "沪B22222", Direction::Out) {
        send(&ev).await;
    }
    let no_entry = until(&mut desk, "raised", AlertKind::ExitWithoutEntry).await;
    assert_eq!(no_entry.alert().plate.as_deref(), Some("沪B22222"));
    eventually(PATIENCE, "everything stored", || agg.counters.snapshot().stored >= 10).await;
    let inside = |store: gatewatch_store::Store| async move {
        let v = store.visits(&VisitFilter { inside_only: true, limit: 100, ..Default::default() }).await.unwrap();
        let mut plates: Vec<String> = v.into_iter().map(|v| v.plate).collect();
        plates.sort();
        plates
    };
    assert_eq!(inside(agg.store.clone()).await, vec!["京B12345", "粤Z99999"]);

    // Restart the aggregator on the same database.
    let before = agg.stop().await;
    assert_eq!((before.alerts, before.rejected_total()), (3, 0), "stranger, overstay, exit without entry");
    let agg = RunningAggregator::start(cfg).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(4), until(&mut desk, "raised", AlertKind::UnknownInside))
            .await
            .is_err(),
        "the stranger is not raised again after the restart"
    );
    // The stranger leaves: its entry from before the restart pairs with this exit.
    for ev in south.pass(103, "粤Z99999", Direction::Out) {
        send(&ev).await;
    }
    let closed = until(&mut desk, "closed", AlertKind::UnknownInside).await;
    assert_eq!(closed.alert().alert_id, stranger.alert().alert_id);
    assert_eq!(inside(agg.store.clone()).await, vec!["京B12345"]);
    let all = agg.store.visits(&VisitFilter { limit: 100, ..Default::default() }).await.unwrap();
    let states: Vec<(&str, &str)> = all.iter().map(|v| (v.plate.as_str(), v.state.as_str())).collect();
    eprintln!("visits: {states:?}");
    assert_eq!(all.len(), 4, "{states:?}");
    for (plate, state) in
        [("京C11111", "left"), ("粤Z99999", "left"), ("京B12345", "inside"), ("沪B22222", "exit_only")]
    {
        assert!(states.contains(&(plate, state)), "{plate} {state}: {states:?}");
    }
    let guest = all.iter().find(|v| v.plate == "京C11111").unwrap();
    assert_eq!(
        (guest.entry_camera.as_deref(), guest.exit_camera.as_deref()),
        (Some("gate-1/lane"), Some("gate-2/lane"))
    );
    let after = agg.stop().await;
    assert_eq!(after.alerts, 0, "nothing raised twice after the restart");
}

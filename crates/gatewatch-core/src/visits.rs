//! Visits: a vehicle's entries into and exits from a compound, paired across its gates.
//!
//! A gate camera's counting line says a track crossed in or out (`line_crossed`); the track's
//! plate read (`plate_read`) says which vehicle it was. The two meet here by camera and track,
//! in either order: together they are a **passage** (site, plate, direction, time). Passages
//! are paired per compound (site), whichever gate they used:
//!
//! ```text
//!  in  ─▶ inside (an open visit) ─ out ─▶ left (the visit: entered, left)
//!  out with nobody inside ─▶ exit only          (alert: exit without entry)
//!  in again while inside ─▶ the first visit superseded (its exit was not seen)
//!  in that happened before a recorded exit-only (a gate's events arrived late) ─▶ paired late
//! ```
//!
//! An exit pairs with the entry whose plate is within `pair_distance` (OCR confusions such as
//! 8/B cost 0.5), so one misread at one gate does not split a visit. Only trusted reads count
//! (`min_confidence`, the plate grammar). Alerts, each on a moved clock ([`Visits::on_clock`]):
//! a visitor's pass expired while the vehicle is still inside (`overstay`), an exit with no entry
//! (`exit_without_entry`), an unknown vehicle inside longer than `after_s` (`unknown_inside`).
//!
//! Visit ids are the event ids of the crossings that opened them, so replaying stored events
//! (at an aggregator restart) finds the same visits, and the store applies each change once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, EventBody, PlateRead, latest};
use crate::incident::{Ending, Sighting, Signal};
use crate::lines::Direction;
use crate::plate;
use crate::registry::{ListKind, Registry};
use crate::rules::{
    Alert, AlertKind, LocalTime, RulesConfig, TimeWindow, optional_window, positive_secs, unique_name, up_to_a_year,
};
use crate::tracker::TrackId;

/// `[rules.visits]`: which passages count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisitsConfig {
    /// Plate reads of at least this vote confidence count (default 0.7).
    pub min_confidence: f32,
    /// Only reads the Chinese plate grammar accepts (default true; false for foreign plates).
    pub require_valid: bool,
    /// An exit pairs with an entry whose plate is within this confusion distance (default 0.5:
    /// one OCR confusion such as 8/B).
    pub pair_distance: f32,
    /// Gate lines (`site/edge/camera/line`) whose crossings are entries and exits; empty: every
    /// counting line.
    pub lines: Vec<String>,
}

impl Default for VisitsConfig {
    fn default() -> Self {
        Self { min_confidence: 0.7, require_valid: true, pair_distance: 0.5, lines: vec![] }
    }
}

/// A vehicle still inside after its visitor pass expired (and `grace_s` more), with no other
/// pass or resident entry valid now. One alert per visit, closed when it leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverstayConfig {
    pub name: String,
    #[serde(default)]
    pub grace_s: f64,
    /// Only these compounds (site ids); empty means all.
    #[serde(default)]
    pub sites: Vec<String>,
}

/// A vehicle leaving a compound with no entry seen. The incident is the plate at this site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitWithoutEntryConfig {
    pub name: String,
    /// After an officer closes the alert, the same plate at the same site waits this long.
    #[serde(default = "default_exit_cooldown")]
    pub cooldown_s: f64,
    /// Only these compounds (site ids); empty means all.
    #[serde(default)]
    pub sites: Vec<String>,
}

fn default_exit_cooldown() -> f64 {
    3600.0
}

/// A vehicle on no resident list and with no valid visitor pass, inside longer than `after_s`.
/// One alert per visit, closed when it leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnknownInsideConfig {
    pub name: String,
    pub after_s: f64,
    /// Only when the limit passes inside this local time window, e.g. `22:00-06:00`.
    #[serde(default)]
    pub window: Option<String>,
    /// Only these compounds (site ids); empty means all.
    #[serde(default)]
    pub sites: Vec<String>,
}

/// What a passage did to the visits, for the store.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitChange {
    /// A vehicle entered: a visit opens (its id is the entering crossing's event id).
    Entered { visit: Uuid, site: String, plate: String, at: DateTime<Utc>, camera: String },
    /// It left: the visit is over.
    Left { visit: Uuid, at: DateTime<Utc>, event_id: Uuid, camera: String },
    /// It left with no entry seen (its id is the exit's event id).
    ExitOnly { visit: Uuid, site: String, plate: String, at: DateTime<Utc>, camera: String },
    /// The entry of an exit-only visit arrived late (a gate's events were delayed).
    LateEntry { visit: Uuid, at: DateTime<Utc>, event_id: Uuid, camera: String },
    /// It entered again with no exit seen: this earlier visit is closed as such.
    Superseded { visit: Uuid },
}

/// A visit open at a restart, as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenVisit {
    pub visit: Uuid,
    pub site: String,
    pub plate: String,
    pub at: DateTime<Utc>,
    /// The crossing that opened it (alerts about the visit are its sightings).
    pub event: Event,
}

/// An exit-only visit, as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitOnlyVisit {
    pub visit: Uuid,
    pub site: String,
    pub plate: String,
    pub at: DateTime<Utc>,
}

type TrackKey = (String, String, String, TrackId);

/// One track at a gate: its trusted plate, and its crossings waiting for one.
#[derive(Debug)]
struct Passing {
    reads: Option<Vec<String>>,
    crossings: Vec<(Event, Direction)>,
    last: DateTime<Utc>,
}

#[derive(Debug)]
struct Inside {
    visit: Uuid,
    plate: String,
    /// The plate and the read's candidates (for pairing and list look-ups).
    reads: Vec<String>,
    at: DateTime<Utc>,
    event: Event,
    /// Rules that alerted on this visit.
    alerted: HashSet<String>,
}

#[derive(Debug)]
struct Unentered {
    visit: Uuid,
    plate: String,
    reads: Vec<String>,
    at: DateTime<Utc>,
}

/// A track's crossings and plate are forgotten this long after its last event (its
/// `track_ended` was lost).
const PASSING_MAX_AGE: Duration = Duration::hours(1);
/// Exit-only visits wait this long for a late entry.
const LATE_ENTRY_MAX: Duration = Duration::hours(24);

/// Entries, exits and visits of every compound, with their alerts.
#[derive(Debug)]
pub struct Visits {
    cfg: VisitsConfig,
    tz: LocalTime,
    overstay: Vec<(OverstayConfig, Duration)>,
    exit_without_entry: Vec<(ExitWithoutEntryConfig, Duration)>,
    unknown_inside: Vec<(UnknownInsideConfig, Duration, Option<TimeWindow>)>,
    passing: HashMap<TrackKey, Passing>,
    inside: HashMap<String, Vec<Inside>>,
    unentered: HashMap<String, Vec<Unentered>>,
    /// Crossings the store had applied before a restart: skipped while stored events replay.
    applied: HashSet<Uuid>,
}

impl Visits {
    /// From the `[rules]` settings; every problem is reported.
    pub fn new(cfg: &RulesConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        // A bad time zone is the rule set's error to report; here it falls back to UTC.
        let tz = LocalTime::from_config(cfg.timezone.as_deref(), &cfg.utc_offset)
            .unwrap_or_else(|_| LocalTime::Fixed(chrono::FixedOffset::east_opt(0).expect("zero offset")));
        let v = &cfg.visits;
        if !(0.0..=1.0).contains(&v.min_confidence) {
            errors.push("rules.visits.min_confidence: must be within 0..1".into());
        }
        if !(v.pair_distance.is_finite() && (0.0..=2.0).contains(&v.pair_distance)) {
            errors.push("rules.visits.pair_distance: must be within 0..2".into());
        }
        for (i, l) in v.lines.iter().enumerate() {
            if l.split('/').count() != 4 || l.split('/').any(|p| !crate::topic::valid_id(p)) {
                errors.push(format!("rules.visits.lines[{i}]: {l:?} is not site/edge/camera/line"));
            }
        }
        let mut names = HashSet::new();
        let mut overstay = Vec::new();
        for (i, r) in cfg.overstay.iter().enumerate() {
            let at = format!("rules.overstay[{i}] ({})", r.name);
            unique_name(&at, &r.name, &mut names, &mut errors);
            check_sites(&at, &r.sites, &mut errors);
            overstay.push((r.clone(), up_to_a_year(&at, "grace_s", r.grace_s, &mut errors)));
        }
        let mut exit_without_entry = Vec::new();
        for (i, r) in cfg.exit_without_entry.iter().enumerate() {
            let at = format!("rules.exit_without_entry[{i}] ({})", r.name);
            unique_name(&at, &r.name, &mut names, &mut errors);
            check_sites(&at, &r.sites, &mut errors);
            exit_without_entry.push((r.clone(), up_to_a_year(&at, "cooldown_s", r.cooldown_s, &mut errors)));
        }
        let mut unknown_inside = Vec::new();
        for (i, r) in cfg.unknown_inside.iter().enumerate() {
            let at = format!("rules.unknown_inside[{i}] ({})", r.name);
            unique_name(&at, &r.name, &mut names, &mut errors);
            check_sites(&at, &r.sites, &mut errors);
            let after = positive_secs(&at, "after_s", r.after_s, &mut errors);
            let window = optional_window(&at, r.window.as_deref(), &mut errors);
            unknown_inside.push((r.clone(), after, window));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            cfg: v.clone(),
            tz,
            overstay,
            exit_without_entry,
            unknown_inside,
            passing: HashMap::new(),
            inside: HashMap::new(),
            unentered: HashMap::new(),
            applied: HashSet::new(),
        })
    }

    /// The visits the store had open, its recent exit-only visits, and the crossings it had
    /// already applied: stored events replayed after this change nothing twice. Call
    /// [`Visits::replayed`] when the replay is over.
    pub fn restore(&mut self, open: Vec<OpenVisit>, exit_only: Vec<ExitOnlyVisit>, applied: HashSet<Uuid>) {
        for v in open {
            let reads = vec![v.plate.clone()];
            self.inside.entry(v.site).or_default().push(Inside {
                visit: v.visit,
                plate: v.plate,
                reads,
                at: v.at,
                event: v.event,
                alerted: HashSet::new(),
            });
        }
        for v in exit_only {
            let reads = vec![v.plate.clone()];
            self.unentered.entry(v.site).or_default().push(Unentered {
                visit: v.visit,
                plate: v.plate,
                reads,
                at: v.at,
            });
        }
        self.applied = applied;
    }

    /// The replay of stored events is over.
    pub fn replayed(&mut self) {
        self.applied = HashSet::new();
    }

    /// Whether any alert depends on time alone ([`Visits::on_clock`] has work to do).
    pub fn has_clock_rules(&self) -> bool {
        !(self.overstay.is_empty() && self.unknown_inside.is_empty())
    }

    /// Vehicles inside a site now (plates), for tests and diagnostics.
    pub fn inside(&self, site: &str) -> Vec<&str> {
        self.inside.get(site).map(|v| v.iter().map(|i| i.plate.as_str()).collect()).unwrap_or_default()
    }

    fn trusts(&self, read: &PlateRead) -> bool {
        read.confidence >= self.cfg.min_confidence && (read.valid == Some(true) || !self.cfg.require_valid)
    }

    fn counts_line(&self, ev: &Event, line: &str) -> bool {
        self.cfg.lines.is_empty()
            || self.cfg.lines.iter().any(|l| *l == format!("{}/{}/{}/{line}", ev.site, ev.edge, ev.camera))
    }

    /// One stored event: what it did to the visits, and the alerts it raises or ends.
    pub fn on_event(&mut self, ev: &Event) -> (Vec<VisitChange>, Vec<Signal>) {
        let mut changes = Vec::new();
        let mut signals = Vec::new();
        let Some(track) = ev.body.track() else { return (changes, signals) };
        let key: TrackKey = (ev.site.clone(), ev.edge.clone(), ev.camera.clone(), track);
        let ready = match &ev.body {
            EventBody::LineCrossed { class, line, direction, .. }
                if class.is_vehicle() && self.counts_line(ev, line) =>
            {
                let p = self.passing.entry(key.clone()).or_insert(Passing {
                    reads: None,
                    crossings: vec![],
                    last: ev.captured_at,
                });
                p.crossings.push((ev.clone(), *direction));
                p.last = p.last.max(ev.captured_at);
                true
            }
            EventBody::PlateRead(read) if self.trusts(read) => {
                let p = self.passing.entry(key.clone()).or_insert(Passing {
                    reads: None,
                    crossings: vec![],
                    last: ev.captured_at,
                });
                let mut reads = vec![read.plate.clone()];
                reads.extend(read.candidates.iter().cloned());
                p.reads = Some(reads);
                p.last = p.last.max(ev.captured_at);
                true
            }
            EventBody::TrackEnded { .. } => {
                self.passing.remove(&key);
                false
            }
            _ => false,
        };
        if ready
            && let Some(p) = self.passing.get_mut(&key)
            && let Some(reads) = p.reads.clone()
        {
            for (crossing, direction) in std::mem::take(&mut p.crossings) {
                self.passage(&crossing, direction, &reads, &mut changes, &mut signals);
            }
        }
        let now = ev.captured_at;
        self.passing.retain(|_, p| now.signed_duration_since(p.last) < PASSING_MAX_AGE);
        (changes, signals)
    }

    fn pairs(&self, a: &[String], b: &[String]) -> bool {
        a.iter().any(|x| b.iter().any(|y| plate::confusion_distance(x, y) <= self.cfg.pair_distance))
    }

    /// Ends of the visit alerts of `visit` (entered at `entered`), because of event `ev`.
    fn end_visit_alerts(&self, site: &str, v: &Inside, ev: &Event, note: &str, signals: &mut Vec<Signal>) {
        let keys = self.overstay.iter().map(|(r, _)| visit_key("overstay", &r.name, site, &v.plate, v.at)).chain(
            self.unknown_inside.iter().map(|(r, _, _)| visit_key("unknown_inside", &r.name, site, &v.plate, v.at)),
        );
        for key in keys {
            signals.push(Signal::Ended(Ending {
                key,
                at: ev.captured_at,
                event_id: ev.event_id,
                note: note.to_string(),
            }));
        }
    }

    /// A vehicle with plate `reads[0]` crossed a gate line.
    fn passage(
        &mut self,
        ev: &Event,
        direction: Direction,
        reads: &[String],
        changes: &mut Vec<VisitChange>,
        signals: &mut Vec<Signal>,
    ) {
        if self.applied.contains(&ev.event_id) {
            return;
        }
        let (site, at, camera) = (ev.site.clone(), ev.captured_at, format!("{}/{}", ev.edge, ev.camera));
        let plate = reads[0].clone();
        match direction {
            Direction::In => {
                let late = self
                    .unentered
                    .get(&site)
                    .and_then(|u| u.iter().position(|x| x.at >= at && self.pairs(&x.reads, reads)));
                if let Some(i) = late {
                    let x = self.unentered.get_mut(&site).expect("found in it").remove(i);
                    changes.push(VisitChange::LateEntry { visit: x.visit, at, event_id: ev.event_id, camera });
                    for (r, _) in &self.exit_without_entry {
                        signals.push(Signal::Ended(Ending {
                            key: format!("exit_without_entry:{}:{site}:{}", r.name, x.plate),
                            at,
                            event_id: ev.event_id,
                            note: "its entry arrived late".into(),
                        }));
                    }
                    return;
                }
                let again = self.inside.get(&site).and_then(|v| v.iter().position(|x| self.pairs(&x.reads, reads)));
                if let Some(i) = again {
                    if self.inside[&site][i].at > at {
                        return; // an older entry arriving late: the newer one stands
                    }
                    let old = self.inside.get_mut(&site).expect("found in it").remove(i);
                    changes.push(VisitChange::Superseded { visit: old.visit });
                    self.end_visit_alerts(&site, &old, ev, "entered again before an exit was seen", signals);
                }
                changes.push(VisitChange::Entered {
                    visit: ev.event_id,
                    site: site.clone(),
                    plate: plate.clone(),
                    at,
                    camera,
                });
                self.inside.entry(site).or_default().push(Inside {
                    visit: ev.event_id,
                    plate,
                    reads: reads.to_vec(),
                    at,
                    event: ev.clone(),
                    alerted: HashSet::new(),
                });
            }
            Direction::Out => {
                let found = self
                    .inside
                    .get(&site)
                    .and_then(|v| v.iter().position(|x| x.at <= at && self.pairs(&x.reads, reads)));
                if let Some(i) = found {
                    let v = self.inside.get_mut(&site).expect("found in it").remove(i);
                    let stayed = crate::rules::span(at.signed_duration_since(v.at));
                    changes.push(VisitChange::Left { visit: v.visit, at, event_id: ev.event_id, camera });
                    self.end_visit_alerts(&site, &v, ev, &format!("left after {stayed}"), signals);
                    return;
                }
                changes.push(VisitChange::ExitOnly {
                    visit: ev.event_id,
                    site: site.clone(),
                    plate: plate.clone(),
                    at,
                    camera: camera.clone(),
                });
                for (r, cooldown) in self.exit_without_entry.iter().filter(|(r, _)| for_site(&r.sites, &site)) {
                    let alert = visit_alert(
                        ev,
                        AlertKind::ExitWithoutEntry,
                        &r.name,
                        format!("exit_without_entry:{}:{site}:{plate}", r.name),
                        &plate,
                        at,
                        format!("vehicle left through {site}/{camera} with no entry seen"),
                    );
                    signals.push(Signal::Seen(Sighting { alert, cooldown: *cooldown, score: 0.0 }));
                }
                let list = self.unentered.entry(site).or_default();
                list.push(Unentered { visit: ev.event_id, plate, reads: reads.to_vec(), at });
                list.retain(|x| at.signed_duration_since(x.at) < LATE_ENTRY_MAX);
            }
        }
    }

    /// What time alone makes true at `now` with the lists as they are: passes that expired
    /// while their vehicle is inside, unknown vehicles inside too long. Each signal comes with
    /// the event it is about (the visit's entry).
    pub fn on_clock(&mut self, now: DateTime<Utc>, lists: &Registry) -> Vec<(Event, Signal)> {
        let mut out = Vec::new();
        for (site, vehicles) in &mut self.inside {
            for v in vehicles.iter_mut() {
                let reads: Vec<&str> = v.reads.iter().map(String::as_str).collect();
                if lists.is_known(&reads, now) {
                    continue;
                }
                for (r, grace) in &self.overstay {
                    if v.alerted.contains(&r.name) || !for_site(&r.sites, site) {
                        continue;
                    }
                    // The pass it came in on: valid at the entry, over now (and the grace).
                    let expired = lists
                        .entries_for(&reads)
                        .into_iter()
                        .filter(|e| e.kind == ListKind::Visitor && e.valid_at(v.at))
                        .filter_map(|e| e.valid_to)
                        .max();
                    let Some(expired) = expired else { continue };
                    let due = expired.checked_add_signed(*grace).unwrap_or_else(latest);
                    if now >= due {
                        v.alerted.insert(r.name.clone());
                        let alert = visit_alert(
                            &v.event,
                            AlertKind::Overstay,
                            &r.name,
                            visit_key("overstay", &r.name, site, &v.plate, v.at),
                            &v.plate,
                            due,
                            format!("visitor pass expired while the vehicle is still inside {site}"),
                        );
                        out.push((
                            v.event.clone(),
                            Signal::Seen(Sighting { alert, cooldown: Duration::MAX, score: 0.0 }),
                        ));
                    }
                }
                if lists.is_known(&reads, v.at) {
                    continue;
                }
                for (r, after, window) in &self.unknown_inside {
                    let due = v.at.checked_add_signed(*after).unwrap_or_else(latest);
                    if v.alerted.contains(&r.name) || now < due || !for_site(&r.sites, site) {
                        continue;
                    }
                    v.alerted.insert(r.name.clone());
                    if window.is_some_and(|w| !w.contains(due, self.tz)) {
                        continue;
                    }
                    let alert = visit_alert(
                        &v.event,
                        AlertKind::UnknownInside,
                        &r.name,
                        visit_key("unknown_inside", &r.name, site, &v.plate, v.at),
                        &v.plate,
                        due,
                        format!(
                            "vehicle on no resident list and with no valid pass inside {site} for more than {:.0} min",
                            r.after_s / 60.0
                        ),
                    );
                    out.push((v.event.clone(), Signal::Seen(Sighting { alert, cooldown: Duration::MAX, score: 0.0 })));
                }
            }
        }
        out
    }
}

fn check_sites(at: &str, sites: &[String], errors: &mut Vec<String>) {
    for site in sites.iter().filter(|s| !crate::topic::valid_id(s)) {
        errors.push(format!("{at}: sites: {site:?} is not a site id"));
    }
}

fn for_site(sites: &[String], site: &str) -> bool {
    sites.is_empty() || sites.iter().any(|s| s == site)
}

fn visit_key(kind: &str, rule: &str, site: &str, plate: &str, entered: DateTime<Utc>) -> String {
    format!("{kind}:{rule}:{site}:{plate}:{}", entered.timestamp_millis())
}

fn visit_alert(
    ev: &Event,
    kind: AlertKind,
    rule: &str,
    key: String,
    plate: &str,
    at: DateTime<Utc>,
    message: String,
) -> Alert {
    Alert {
        alert_id: Uuid::now_v7(),
        key,
        rule: rule.to_string(),
        kind,
        site: ev.site.clone(),
        edge: ev.edge.clone(),
        camera: ev.camera.clone(),
        track: ev.body.track(),
        zone: None,
        plate: Some(plate.to_string()),
        matched: None,
        candidates: vec![],
        at,
        event_id: ev.event_id,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::ObjectClass;
    use crate::event::SCHEMA_V1;
    use crate::incident::{IncidentBook, Outcome};
    use crate::registry::ListEntry;

    struct Gate {
        t: DateTime<Utc>,
        seq: u64,
    }

    impl Gate {
        fn at(s: &str) -> Self {
            Self { t: s.parse().unwrap(), seq: 0 }
        }
        fn advance(&mut self, secs: i64) -> &mut Self {
            self.t += Duration::seconds(secs);
            self
        }
        fn event(&mut self, edge: &str, body: EventBody) -> Event {
            self.seq += 1;
            Event {
                schema: SCHEMA_V1.into(),
                event_id: Uuid::now_v7(),
                site: "north".into(),
                edge: edge.into(),
                camera: "lane".into(),
                seq: self.seq,
                captured_at: self.t,
                body,
            }
        }
    }

    fn crossing(track: TrackId, direction: Direction) -> EventBody {
        EventBody::LineCrossed { track, class: ObjectClass::Car, line: "gate".into(), direction }
    }

    fn read(track: TrackId, plate: &str, confidence: f32) -> EventBody {
        EventBody::PlateRead(PlateRead {
            track,
            plate: plate.into(),
            confidence,
            valid: crate::plate::apply_grammar(plate).valid,
            reads: 3,
            stable: true,
            ..Default::default()
        })
    }

    fn ended(track: TrackId) -> EventBody {
        EventBody::TrackEnded {
            track,
            class: ObjectClass::Car,
            duration_s: 5.0,
            detections: 10,
            best_score: 0.8,
            snapshot: None,
        }
    }

    fn visits(cfg: RulesConfig) -> Visits {
        Visits::new(&cfg).unwrap()
    }

    fn all_rules() -> RulesConfig {
        RulesConfig {
            timezone: Some("Asia/Shanghai".into()),
            overstay: vec![OverstayConfig { name: "overstay".into(), grace_s: 600.0, sites: vec![] }],
            exit_without_entry: vec![ExitWithoutEntryConfig {
                name: "no-entry".into(),
                cooldown_s: 3600.0,
                sites: vec![],
            }],
            unknown_inside: vec![UnknownInsideConfig {
                name: "stranger".into(),
                after_s: 1800.0,
                window: None,
                sites: vec![],
            }],
            ..Default::default()
        }
    }

    fn lists() -> Registry {
        let t = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        Registry::new(
            vec![
                ListEntry::new(ListKind::Resident, "京B12345", "flat 3-201", None, None).unwrap(),
                ListEntry::new(
                    ListKind::Visitor,
                    "京C11111",
                    "guest",
                    t("2026-12-01T08:00:00Z"),
                    t("2026-12-01T10:00:00Z"),
                )
                .unwrap(),
            ],
            Default::default(),
        )
    }

    #[test]
    fn an_entry_and_an_exit_at_two_gates_are_one_visit_even_with_a_misread() {
        let mut v = visits(RulesConfig::default());
        let mut g = Gate::at("2026-12-01T09:00:00Z");
        // Gate 1: the crossing comes before the plate is settled.
        let entry = g.event("gate-1", crossing(7, Direction::In));
        assert_eq!(v.on_event(&entry), (vec![], vec![]), "no plate yet");
        let (changes, _) = v.on_event(&g.advance(1).event("gate-1", read(7, "京A12345", 0.9)));
        assert_eq!(
            changes,
            vec![VisitChange::Entered {
                visit: entry.event_id,
                site: "north".into(),
                plate: "京A12345".into(),
                at: entry.captured_at,
                camera: "gate-1/lane".into()
            }]
        );
        assert_eq!(v.inside("north"), vec!["京A12345"]);
        // Gate 2, an hour later: the plate first, misread with an OCR confusion (5 as S), then
        // the crossing.
        v.on_event(&g.advance(3600).event("gate-2", read(1044, "京A1234S", 0.8)));
        let exit = g.advance(2).event("gate-2", crossing(1044, Direction::Out));
        let (changes, signals) = v.on_event(&exit);
        assert_eq!(
            changes,
            vec![VisitChange::Left {
                visit: entry.event_id,
                at: exit.captured_at,
                event_id: exit.event_id,
                camera: "gate-2/lane".into()
            }]
        );
        assert!(signals.is_empty(), "no visit rules configured");
        assert!(v.inside("north").is_empty());
    }

    #[test]
    fn untrusted_reads_and_plateless_crossings_make_no_visit() {
        let mut v = visits(RulesConfig::default());
        let mut g = Gate::at("2026-12-01T09:00:00Z");
        v.on_event(&g.event("gate-1", crossing(1, Direction::In)));
        assert!(v.on_event(&g.event("gate-1", read(1, "京A12345", 0.4))).0.is_empty(), "low confidence");
        assert!(v.on_event(&g.event("gate-1", read(1, "京812345", 0.9))).0.is_empty(), "not a valid plate");
        v.on_event(&g.event("gate-1", ended(1)));
        assert!(v.on_event(&g.event("gate-1", read(1, "京A12345", 0.9))).0.is_empty(), "the track ended: forgotten");
        // A person crossing is no vehicle; a line not among the gate lines is no gate.
        let walker = EventBody::LineCrossed {
            track: 2,
            class: ObjectClass::Person,
            line: "gate".into(),
            direction: Direction::In,
        };
        v.on_event(&g.event("gate-1", walker));
        assert!(v.on_event(&g.event("gate-1", read(2, "京A12345", 0.9))).0.is_empty());
        let mut only = visits(RulesConfig {
            visits: VisitsConfig { lines: vec!["north/gate-1/lane/main".into()], ..Default::default() },
            ..Default::default()
        });
        only.on_event(&g.event("gate-1", crossing(3, Direction::In)));
        assert!(only.on_event(&g.event("gate-1", read(3, "京A12345", 0.9))).0.is_empty(), "line 'gate' is not listed");
        assert!(
            Visits::new(&RulesConfig {
                visits: VisitsConfig { lines: vec!["gate".into()], min_confidence: 2.0, ..Default::default() },
                ..Default::default()
            })
            .is_err_and(|e| e.len() == 2)
        );
    }

    #[test]
    fn an_exit_with_no_entry_alerts_and_a_late_entry_closes_it() {
        let mut v = visits(all_rules());
        let mut book = IncidentBook::default();
        let mut g = Gate::at("2026-12-01T09:00:00Z");
        v.on_event(&g.event("gate-2", read(5, "京A12345", 0.9)));
        let exit = g.event("gate-2", crossing(5, Direction::Out));
        let (changes, signals) = v.on_event(&exit);
        assert!(matches!(changes.as_slice(), [VisitChange::ExitOnly { visit, .. }] if *visit == exit.event_id));
        let [Signal::Seen(s)] = signals.as_slice() else { panic!("{signals:?}") };
        assert_eq!(
            (s.alert.kind, s.alert.key.as_str()),
            (AlertKind::ExitWithoutEntry, "exit_without_entry:no-entry:north:京A12345")
        );
        assert_eq!(s.alert.plate.as_deref(), Some("京A12345"));
        assert!(!s.alert.message.contains("12345"), "plates stay out of messages: {}", s.alert.message);
        let Outcome::Raised(alert) = book.apply(&signals[0]) else { panic!() };
        // Gate 1's events arrive late: it entered ten minutes before it left.
        let mut early = Gate::at("2026-12-01T08:50:00Z");
        v.on_event(&early.event("gate-1", crossing(9, Direction::In)));
        let late = early.event("gate-1", read(9, "京A12345", 0.9));
        let (changes, signals) = v.on_event(&late);
        assert!(
            matches!(changes.as_slice(), [VisitChange::LateEntry { visit, .. }] if *visit == exit.event_id),
            "{changes:?}"
        );
        assert_eq!(book.apply(&signals[0]), Outcome::Closed(alert.alert_id));
        assert!(v.inside("north").is_empty(), "it is not inside: it left");
    }

    #[test]
    fn a_closed_exit_without_entry_raises_again_only_after_its_cooldown() {
        let mut v = visits(all_rules());
        let mut book = IncidentBook::default();
        let mut g = Gate::at("2026-12-01T09:00:00Z");
        fn leave(v: &mut Visits, book: &mut IncidentBook, g: &mut Gate, track: TrackId) -> Vec<Outcome> {
            v.on_event(&g.event("gate-2", read(track, "沪B22222", 0.9)));
            let (_, signals) = v.on_event(&g.event("gate-2", crossing(track, Direction::Out)));
            signals.iter().map(|s| book.apply(s)).collect()
        }
        let raised = leave(&mut v, &mut book, &mut g, 1);
        let [Outcome::Raised(first)] = raised.as_slice() else { panic!("{raised:?}") };
        // Out again 5 minutes later (it came back in through a gate without a camera): an update.
        g.advance(300);
        assert!(matches!(leave(&mut v, &mut book, &mut g, 2).as_slice(), [Outcome::Updated(..)]));
        book.act(&first.key, crate::incident::Action::Resolve, g.t).unwrap();
        // Within the hour's cooldown after the resolve: nothing; after it: a new alert.
        g.advance(1800);
        assert_eq!(leave(&mut v, &mut book, &mut g, 3), vec![Outcome::Suppressed]);
        g.advance(1801);
        let again = leave(&mut v, &mut book, &mut g, 4);
        assert!(matches!(again.as_slice(), [Outcome::Raised(a)] if a.alert_id != first.alert_id), "{again:?}");
    }

    #[test]
    fn visit_rules_can_be_for_some_compounds_only() {
        let mut v = visits(RulesConfig {
            exit_without_entry: vec![ExitWithoutEntryConfig {
                name: "no-entry".into(),
                cooldown_s: 0.0,
                sites: vec!["north".into()],
            }],
            ..Default::default()
        });
        let mut g = Gate::at("2026-12-01T09:00:00Z");
        let mut leave = |site: &str, track| {
            let mut r = g.event("gate-2", read(track, "沪B22222", 0.9));
            let mut c = g.event("gate-2", crossing(track, Direction::Out));
            r.site = site.into();
            c.site = site.into();
            v.on_event(&r);
            v.on_event(&c)
        };
        let (changes, signals) = leave("south", 1);
        assert_eq!((changes.len(), signals.len()), (1, 0), "an exit-only visit at south, no alert");
        assert_eq!(leave("north", 2).1.len(), 1);
        assert!(
            Visits::new(&RulesConfig {
                overstay: vec![OverstayConfig { name: "o".into(), grace_s: 0.0, sites: vec!["no rth".into()] }],
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn entering_again_without_an_exit_supersedes_the_first_visit() {
        let mut v = visits(RulesConfig::default());
        let mut g = Gate::at("2026-12-01T09:00:00Z");
        let first = g.event("gate-1", crossing(1, Direction::In));
        v.on_event(&first);
        v.on_event(&g.event("gate-1", read(1, "京A12345", 0.9)));
        v.on_event(&g.advance(7200).event("gate-1", read(2, "京A12345", 0.9)));
        let second = g.event("gate-1", crossing(2, Direction::In));
        let (changes, _) = v.on_event(&second);
        assert!(
            matches!(changes.as_slice(), [VisitChange::Superseded { visit: a }, VisitChange::Entered { visit: b, .. }]
                if *a == first.event_id && *b == second.event_id),
            "{changes:?}"
        );
        assert_eq!(v.inside("north").len(), 1);
    }

    fn enter(v: &mut Visits, g: &mut Gate, track: TrackId, plate: &str) -> Event {
        let e = g.event("gate-1", crossing(track, Direction::In));
        v.on_event(&e);
        v.on_event(&g.event("gate-1", read(track, plate, 0.9)));
        e
    }

    #[test]
    fn a_visitor_still_inside_after_the_pass_and_grace_is_an_overstay_closed_when_it_leaves() {
        let mut v = visits(all_rules());
        let lists = lists();
        let mut book = IncidentBook::default();
        let mut g = Gate::at("2026-12-01T09:30:00Z");
        let entry = enter(&mut v, &mut g, 1, "京C11111");
        enter(&mut v, &mut g, 2, "京B12345"); // a resident
        let clock = |v: &mut Visits, at: &str| v.on_clock(at.parse().unwrap(), &lists);
        assert!(clock(&mut v, "2026-12-01T10:09:59Z").is_empty(), "pass over at 10:00, grace 10 min");
        let due = clock(&mut v, "2026-12-01T10:10:00Z");
        let [(ev, Signal::Seen(s))] = due.as_slice() else { panic!("{due:?}") };
        assert_eq!(ev.event_id, entry.event_id, "a sighting of the visit's entry");
        assert_eq!(s.alert.kind, AlertKind::Overstay);
        assert_eq!(s.alert.at, "2026-12-01T10:10:00Z".parse::<DateTime<Utc>>().unwrap());
        let Outcome::Raised(alert) = book.apply(&due[0].1) else { panic!() };
        assert!(clock(&mut v, "2026-12-01T12:00:00Z").is_empty(), "once per visit; residents never");
        // It leaves: the alert closes.
        v.on_event(&g.advance(3 * 3600).event("gate-2", read(30, "京C11111", 0.9)));
        let (_, signals) = v.on_event(&g.event("gate-2", crossing(30, Direction::Out)));
        let closing: Vec<_> =
            signals.iter().map(|s| book.apply(s)).filter(|o| matches!(o, Outcome::Closed(_))).collect();
        assert_eq!(closing, vec![Outcome::Closed(alert.alert_id)]);
        let Signal::Ended(e) = &signals[0] else { panic!() };
        assert_eq!(e.note, "left after 3 h 0 min");
    }

    #[test]
    fn an_unknown_vehicle_inside_too_long_alerts_once_within_its_window() {
        let mut v = visits(all_rules());
        let lists = lists();
        let mut g = Gate::at("2026-12-01T15:00:00Z"); // 23:00 in Shanghai
        enter(&mut v, &mut g, 1, "粤Z99999");
        enter(&mut v, &mut g, 2, "京B12345");
        assert!(v.on_clock("2026-12-01T15:29:59Z".parse().unwrap(), &lists).is_empty());
        let due = v.on_clock("2026-12-01T15:30:00Z".parse().unwrap(), &lists);
        assert_eq!(due.len(), 1, "the stranger, not the resident: {due:?}");
        assert!(matches!(&due[0].1, Signal::Seen(s) if s.alert.kind == AlertKind::UnknownInside));
        assert!(v.on_clock("2026-12-01T18:00:00Z".parse().unwrap(), &lists).is_empty(), "once");
        // With a night window (22:00-06:00 local), a stranger in at noon passes its limit at 12:30: nothing.
        let mut night = visits(RulesConfig {
            timezone: Some("Asia/Shanghai".into()),
            unknown_inside: vec![UnknownInsideConfig {
                name: "night".into(),
                after_s: 1800.0,
                window: Some("22:00-06:00".into()),
                sites: vec![],
            }],
            ..Default::default()
        });
        let mut noon = Gate::at("2026-12-01T04:00:00Z");
        enter(&mut night, &mut noon, 3, "粤Z99999");
        assert!(night.on_clock("2026-12-01T09:00:00Z".parse().unwrap(), &lists).is_empty());
        // Across midnight: in at 23:50 local, limit at 00:20: inside the window.
        let mut late = Gate::at("2026-12-01T15:50:00Z");
        enter(&mut night, &mut late, 4, "粤Y88888");
        assert_eq!(night.on_clock("2026-12-01T16:20:00Z".parse().unwrap(), &lists).len(), 1);
    }

    #[test]
    fn a_restart_replaying_stored_events_changes_nothing_twice() {
        let mut g = Gate::at("2026-12-01T09:00:00Z");
        let mut before = visits(RulesConfig::default());
        let events = vec![
            g.event("gate-1", crossing(1, Direction::In)),
            g.event("gate-1", read(1, "京A12345", 0.9)),
            g.advance(60).event("gate-1", crossing(2, Direction::In)),
            g.event("gate-1", read(2, "粤Z99999", 0.9)),
            g.advance(60).event("gate-2", read(3, "京A12345", 0.9)),
            g.event("gate-2", crossing(3, Direction::Out)),
        ];
        let mut applied = HashSet::new();
        for e in &events {
            for c in before.on_event(e).0 {
                applied.insert(match c {
                    VisitChange::Entered { visit, .. } | VisitChange::ExitOnly { visit, .. } => visit,
                    VisitChange::Left { event_id, .. } | VisitChange::LateEntry { event_id, .. } => event_id,
                    VisitChange::Superseded { .. } => continue,
                });
            }
        }
        // What the store has after them: one vehicle inside; the crossings it applied.
        let mut after = visits(RulesConfig::default());
        let open = OpenVisit {
            visit: events[2].event_id,
            site: "north".into(),
            plate: "粤Z99999".into(),
            at: events[2].captured_at,
            event: events[2].clone(),
        };
        after.restore(vec![open], vec![], applied);
        for e in &events {
            assert!(after.on_event(e).0.is_empty(), "replayed: {:?}", e.body);
        }
        after.replayed();
        assert_eq!(after.inside("north"), vec!["粤Z99999"]);
        // New events after the replay count as ever.
        v_exit(&mut after, &mut g);
        assert!(after.inside("north").is_empty());
    }

    fn v_exit(v: &mut Visits, g: &mut Gate) {
        v.on_event(&g.advance(60).event("gate-2", read(4, "粤Z99999", 0.9)));
        let (changes, _) = v.on_event(&g.event("gate-2", crossing(4, Direction::Out)));
        assert!(matches!(changes.as_slice(), [VisitChange::Left { .. }]), "{changes:?}");
    }
}

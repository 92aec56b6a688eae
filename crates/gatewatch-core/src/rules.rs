//! Alert rules: plain functions of (state, event, time) → alerts.
//!
//! The clock is the event's capture time: a rule never looks at the wall clock, so a replayed
//! or delayed event judges the same way, and tests move time by sending events. Each alert
//! has a dedupe key; the same (rule, track) raises at most one alert in a `RuleSet`, and the
//! store enforces the same key across restarts and duplicate deliveries.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::detection::ObjectClass;
use crate::event::{Event, EventBody, PlateRead, earliest, latest};
use crate::registry::{ListEntry, ListKind, PlateMatch, Registry};
use crate::tracker::TrackId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Loitering,
    Watchlist,
    UnknownVehicle,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loitering => "loitering",
            Self::Watchlist => "watchlist",
            Self::UnknownVehicle => "unknown_vehicle",
        }
    }
}

/// An alert for the watch desk. `plate` is personal data; `message` never contains it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: Uuid,
    /// Dedupe key: one alert per key, ever.
    pub key: String,
    /// The configured rule's name.
    pub rule: String,
    pub kind: AlertKind,
    pub site: String,
    pub edge: String,
    pub camera: String,
    pub track: Option<TrackId>,
    pub zone: Option<String>,
    pub plate: Option<String>,
    /// For plate alerts: the list entry matched, and how closely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<PlateMatch>,
    /// For plate alerts: the other texts read, so an officer can judge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// When the condition became true (capture time).
    pub at: DateTime<Utc>,
    /// The event that made the rule fire.
    pub event_id: Uuid,
    pub message: String,
}

/// `HH:MM-HH:MM` in the site's local time; may wrap midnight (`22:00-06:00`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWindow {
    start: NaiveTime,
    end: NaiveTime,
}

impl TimeWindow {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').ok_or_else(|| format!("time window {s:?} is not HH:MM-HH:MM"))?;
        let t =
            |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| format!("{x:?} in {s:?} is not HH:MM"));
        let (start, end) = (t(a)?, t(b)?);
        if start == end {
            return Err(format!("time window {s:?} is empty"));
        }
        Ok(Self { start, end })
    }

    pub fn contains(&self, at: DateTime<Utc>, offset: FixedOffset) -> bool {
        let local = at.with_timezone(&offset).time();
        let local = NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second()).unwrap_or(local);
        if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }
}

/// Parse `+08:00`, `-05:30` or `Z`.
pub fn parse_utc_offset(s: &str) -> Result<FixedOffset, String> {
    if s == "Z" || s == "UTC" {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let sign = match s.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(format!("utc_offset {s:?} must look like +08:00")),
    };
    let t =
        NaiveTime::parse_from_str(&s[1..], "%H:%M").map_err(|_| format!("utc_offset {s:?} must look like +08:00"))?;
    FixedOffset::east_opt(sign * (t.hour() as i32 * 3600 + t.minute() as i32 * 60))
        .ok_or_else(|| format!("utc_offset {s:?} out of range"))
}

fn default_person() -> Vec<ObjectClass> {
    vec![ObjectClass::Person]
}

/// A person (or other class) staying in a zone longer than `min_dwell_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoiteringConfig {
    /// Rule name, shown to officers and part of the alert key.
    pub name: String,
    /// Zone name as configured on the edge cameras.
    pub zone: String,
    pub min_dwell_s: f64,
    /// Classes that count; default `["person"]`.
    #[serde(default = "default_person")]
    pub classes: Vec<ObjectClass>,
    /// Only alert when loitering begins inside this local time window, e.g. `22:00-06:00`.
    #[serde(default)]
    pub window: Option<String>,
    /// Only these cameras (`site/edge/camera`); empty means every camera with the zone.
    #[serde(default)]
    pub cameras: Vec<String>,
}

/// A plate-read event whose normalised plate is on the list (a wanted list kept in the
/// config file; lists managed with `gatewatch lists` live in the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchlistConfig {
    pub name: String,
    /// Plates as written; normalised when loaded.
    pub plates: Vec<String>,
}

/// A vehicle whose plate is on no resident list and has no valid visitor pass, read inside
/// a local time window (e.g. `23:00-05:00`).
///
/// "Unknown" is only as good as the read: one misread of a resident's plate would raise an
/// alert at night. By default only settled reads count: the edge's vote had settled
/// (`stable`), the plate grammar accepts the text (`valid: true`) and the vote's confidence
/// is at least `min_confidence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnknownVehicleConfig {
    pub name: String,
    pub window: String,
    /// Only these cameras (`site/edge/camera`); empty means all.
    #[serde(default)]
    pub cameras: Vec<String>,
    /// Only reads whose vote had settled before the track ended (default true).
    #[serde(default = "yes")]
    pub require_stable: bool,
    /// Only reads the Chinese plate grammar accepts (default true); a gate that sees many
    /// foreign plates (no grammar verdict) sets false.
    #[serde(default = "yes")]
    pub require_valid: bool,
    /// Only reads whose vote confidence is at least this (default 0.7, the edge's own bar
    /// for a settled vote).
    #[serde(default = "default_unknown_confidence")]
    pub min_confidence: f32,
}

fn yes() -> bool {
    true
}

fn default_unknown_confidence() -> f32 {
    0.7
}

impl UnknownVehicleConfig {
    /// A rule with the default read requirements.
    pub fn new(name: &str, window: &str) -> Self {
        Self {
            name: name.into(),
            window: window.into(),
            cameras: vec![],
            require_stable: true,
            require_valid: true,
            min_confidence: default_unknown_confidence(),
        }
    }

    /// Whether a read is settled enough for this rule.
    fn trusts(&self, read: &PlateRead) -> bool {
        (read.stable || !self.require_stable)
            && (read.valid == Some(true) || !self.require_valid)
            && read.confidence >= self.min_confidence
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesConfig {
    /// The sites' local time, for time windows. Default UTC.
    #[serde(default = "default_offset")]
    pub utc_offset: String,
    #[serde(default)]
    pub loitering: Vec<LoiteringConfig>,
    #[serde(default)]
    pub watchlist: Vec<WatchlistConfig>,
    #[serde(default)]
    pub unknown_vehicle: Vec<UnknownVehicleConfig>,
    /// Maximum confusion distance for a plate to match an entry, per list kind
    /// (defaults: 1.0 for wanted/stolen/banned, 0.5 for resident/visitor).
    #[serde(default)]
    pub max_distance: std::collections::BTreeMap<ListKind, f32>,
}

fn default_offset() -> String {
    "+00:00".into()
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            utc_offset: default_offset(),
            loitering: vec![],
            watchlist: vec![],
            unknown_vehicle: vec![],
            max_distance: Default::default(),
        }
    }
}

type CameraKey = (String, String, String);
type PresenceKey = (CameraKey, TrackId, String);

/// A presence older than this is forgotten (its track-ended event was lost).
const MAX_PRESENCE: Duration = Duration::hours(24);

/// The longest dwell the rules take an edge's word for (a year). Events are checked for being
/// finite and not negative, not for being plausible: a `zone_left` claiming 10^13 s is valid JSON
/// of the schema, and must neither overflow time arithmetic nor date an alert to the Stone Age.
pub const MAX_DWELL_S: f64 = 366.0 * 24.0 * 3600.0;

/// `secs` as a duration, clamped to `0..=MAX_DWELL_S` (NaN as 0).
fn dwell(secs: f64) -> Duration {
    let ms = (secs.clamp(0.0, MAX_DWELL_S) * 1000.0) as i64; // NaN casts to 0
    Duration::try_milliseconds(ms).unwrap_or(Duration::zero())
}

#[derive(Debug)]
struct Loitering {
    cfg: LoiteringConfig,
    window: Option<TimeWindow>,
    presences: HashMap<PresenceKey, (DateTime<Utc>, Uuid)>,
    alerted: HashSet<PresenceKey>,
}

#[derive(Debug)]
struct UnknownVehicle {
    cfg: UnknownVehicleConfig,
    window: Option<TimeWindow>,
}

/// All configured rules with their state.
#[derive(Debug)]
pub struct RuleSet {
    offset: FixedOffset,
    loitering: Vec<Loitering>,
    /// The config file's watchlists, as wanted-list entries labelled with the rule name.
    config_lists: Registry,
    unknown_vehicle: Vec<UnknownVehicle>,
    max_distance: std::collections::BTreeMap<ListKind, f32>,
    fired: HashSet<String>,
}

impl RuleSet {
    /// Build from configuration; every problem is reported, not just the first.
    pub fn new(cfg: &RulesConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let offset = parse_utc_offset(&cfg.utc_offset).unwrap_or_else(|e| {
            errors.push(format!("rules.utc_offset: {e}"));
            FixedOffset::east_opt(0).expect("zero offset")
        });
        let mut names = HashSet::new();
        let mut loitering = Vec::new();
        for (i, l) in cfg.loitering.iter().enumerate() {
            let at = format!("rules.loitering[{i}] ({})", l.name);
            if !names.insert(l.name.clone()) {
                errors.push(format!("{at}: duplicate rule name"));
            }
            if !(l.min_dwell_s.is_finite() && l.min_dwell_s > 0.0 && l.min_dwell_s <= MAX_DWELL_S) {
                errors.push(format!("{at}: min_dwell_s must be > 0 and at most a year"));
            }
            if l.classes.is_empty() {
                errors.push(format!("{at}: classes is empty"));
            }
            let window = match l.window.as_deref().map(TimeWindow::parse).transpose() {
                Ok(w) => w,
                Err(e) => {
                    errors.push(format!("{at}: {e}"));
                    None
                }
            };
            loitering.push(Loitering { cfg: l.clone(), window, presences: HashMap::new(), alerted: HashSet::new() });
        }
        let mut entries = Vec::new();
        for (i, w) in cfg.watchlist.iter().enumerate() {
            let at = format!("rules.watchlist[{i}] ({})", w.name);
            if !names.insert(w.name.clone()) {
                errors.push(format!("{at}: duplicate rule name"));
            }
            for (j, p) in w.plates.iter().enumerate() {
                match ListEntry::new(ListKind::Wanted, p, &w.name, None, None) {
                    Ok(e) => entries.push(e),
                    Err(e) => errors.push(format!("{at}: plates[{j}]: {e}")),
                }
            }
        }
        let mut unknown_vehicle = Vec::new();
        for (i, u) in cfg.unknown_vehicle.iter().enumerate() {
            let at = format!("rules.unknown_vehicle[{i}] ({})", u.name);
            if !names.insert(u.name.clone()) {
                errors.push(format!("{at}: duplicate rule name"));
            }
            if !(0.0..=1.0).contains(&u.min_confidence) {
                errors.push(format!("{at}: min_confidence must be within 0..1"));
            }
            match TimeWindow::parse(&u.window) {
                Ok(w) => unknown_vehicle.push(UnknownVehicle { cfg: u.clone(), window: Some(w) }),
                Err(e) => errors.push(format!("{at}: {e}")),
            }
        }
        for (kind, d) in &cfg.max_distance {
            if !(d.is_finite() && (0.0..=3.0).contains(d)) {
                errors.push(format!("rules.max_distance.{}: must be within 0..3", kind.as_str()));
            }
        }
        let config_lists = Registry::new(entries, cfg.max_distance.clone());
        if errors.is_empty() {
            Ok(Self {
                offset,
                loitering,
                config_lists,
                unknown_vehicle,
                max_distance: cfg.max_distance.clone(),
                fired: HashSet::new(),
            })
        } else {
            Err(errors)
        }
    }

    /// The per-kind match distances, for building a [`Registry`] from stored lists.
    pub fn max_distance(&self) -> std::collections::BTreeMap<ListKind, f32> {
        self.max_distance.clone()
    }

    /// Apply every rule to one event, with the plate lists as they are now; returns the
    /// alerts it raises (each key once).
    pub fn on_event(&mut self, ev: &Event, lists: &Registry) -> Vec<Alert> {
        let mut out = Vec::new();
        for rule in &mut self.loitering {
            rule.on_event(ev, self.offset, &mut out);
        }
        if let EventBody::PlateRead(read) = &ev.body {
            self.watchlists(ev, read, lists, &mut out);
            for rule in &self.unknown_vehicle {
                rule.on_plate(ev, read, lists, self.offset, &mut out);
            }
        }
        out.retain(|a| self.fired.insert(a.key.clone()));
        out
    }

    fn watchlists(&self, ev: &Event, read: &PlateRead, lists: &Registry, out: &mut Vec<Alert>) {
        let reads = plate_reads(read);
        let from_config = self.config_lists.matches(&reads, ev.captured_at).into_iter().map(|m| (m.label.clone(), m));
        let from_store = lists.matches(&reads, ev.captured_at).into_iter().map(|m| (m.kind.as_str().to_string(), m));
        for (rule, m) in from_config.chain(from_store).filter(|(_, m)| m.kind.alerts()) {
            let cam = camera_path(ev);
            let key = format!("watchlist:{rule}:{cam}:{}:{}", read.track, m.entry_plate);
            let message = format!(
                "vehicle on the {} list ({}) at {cam}, track {}: match distance {:.1}",
                m.kind.as_str(),
                m.label,
                read.track,
                m.distance
            );
            out.push(plate_alert(ev, read, AlertKind::Watchlist, rule, key, message, Some(m)));
        }
    }
}

/// The voted plate and the other candidates, for matching.
fn plate_reads(read: &PlateRead) -> Vec<&str> {
    std::iter::once(read.plate.as_str()).chain(read.candidates.iter().map(String::as_str)).collect()
}

fn camera_path(ev: &Event) -> String {
    format!("{}/{}/{}", ev.site, ev.edge, ev.camera)
}

fn plate_alert(
    ev: &Event,
    read: &PlateRead,
    kind: AlertKind,
    rule: String,
    key: String,
    message: String,
    matched: Option<PlateMatch>,
) -> Alert {
    Alert {
        alert_id: Uuid::now_v7(),
        key,
        rule,
        kind,
        site: ev.site.clone(),
        edge: ev.edge.clone(),
        camera: ev.camera.clone(),
        track: Some(read.track),
        zone: None,
        plate: Some(read.plate.clone()),
        matched,
        candidates: read.candidates.clone(),
        at: ev.captured_at,
        event_id: ev.event_id,
        message,
    }
}

impl Loitering {
    fn on_event(&mut self, ev: &Event, offset: FixedOffset, out: &mut Vec<Alert>) {
        let cam: CameraKey = (ev.site.clone(), ev.edge.clone(), ev.camera.clone());
        if !self.cfg.cameras.is_empty() && !self.cfg.cameras.contains(&format!("{}/{}/{}", cam.0, cam.1, cam.2)) {
            return;
        }
        let min = dwell(self.cfg.min_dwell_s);
        match &ev.body {
            EventBody::ZoneEntered { track, class, zone }
                if *zone == self.cfg.zone && self.cfg.classes.contains(class) =>
            {
                self.presences.entry((cam.clone(), *track, zone.clone())).or_insert((ev.captured_at, ev.event_id));
            }
            EventBody::ZoneLeft { track, class, zone, dwell_s }
                if *zone == self.cfg.zone && self.cfg.classes.contains(class) =>
            {
                let key = (cam.clone(), *track, zone.clone());
                let entered = self.presences.remove(&key);
                if *dwell_s >= self.cfg.min_dwell_s {
                    // What the edge says, within reason, and never before the earliest time.
                    let claimed = dwell(*dwell_s);
                    let since = entered.map(|e| e.0).unwrap_or_else(|| {
                        ev.captured_at.checked_sub_signed(claimed).unwrap_or_else(earliest).max(earliest())
                    });
                    let shown = (claimed.num_milliseconds() as f64 / 1000.0).min(*dwell_s);
                    self.raise(key.clone(), since, shown, ev, offset, min, out);
                }
                self.alerted.remove(&key);
            }
            EventBody::TrackEnded { track, .. } => {
                self.presences.retain(|(c, t, _), _| !(c == &cam && t == track));
                self.alerted.retain(|(c, t, _)| !(c == &cam && t == track));
            }
            _ => {}
        }
        // The event's time is this camera's clock: who has been in the zone long enough?
        let now = ev.captured_at;
        let due: Vec<(PresenceKey, DateTime<Utc>)> = self
            .presences
            .iter()
            .filter(|((c, _, _), (since, _))| c == &cam && now - *since >= min)
            .map(|(k, (since, _))| (k.clone(), *since))
            .collect();
        for (key, since) in due {
            let dwell = (now - since).num_milliseconds() as f64 / 1000.0;
            self.raise(key, since, dwell, ev, offset, min, out);
        }
        self.presences.retain(|_, (since, _)| now - *since < MAX_PRESENCE);
    }

    #[allow(clippy::too_many_arguments)]
    fn raise(
        &mut self,
        key: PresenceKey,
        since: DateTime<Utc>,
        dwell_s: f64,
        ev: &Event,
        offset: FixedOffset,
        min: Duration,
        out: &mut Vec<Alert>,
    ) {
        let began = since.checked_add_signed(min).unwrap_or_else(latest).min(latest());
        if self.window.is_some_and(|w| !w.contains(began, offset)) || !self.alerted.insert(key.clone()) {
            return;
        }
        let ((site, edge, camera), track, zone) = key;
        out.push(Alert {
            alert_id: Uuid::now_v7(),
            key: format!("loitering:{}:{site}/{edge}/{camera}:{track}:{zone}", self.cfg.name),
            rule: self.cfg.name.clone(),
            kind: AlertKind::Loitering,
            message: format!(
                "track {track} has been in zone '{zone}' for {dwell_s:.0} s (limit {} s) at {site}/{edge}/{camera}",
                self.cfg.min_dwell_s
            ),
            site,
            edge,
            camera,
            track: Some(track),
            zone: Some(zone),
            plate: None,
            matched: None,
            candidates: vec![],
            at: began,
            event_id: ev.event_id,
        });
    }
}

impl UnknownVehicle {
    fn on_plate(&self, ev: &Event, read: &PlateRead, lists: &Registry, offset: FixedOffset, out: &mut Vec<Alert>) {
        let cam = camera_path(ev);
        if !self.cfg.cameras.is_empty() && !self.cfg.cameras.contains(&cam) {
            return;
        }
        if !self.cfg.trusts(read) {
            return;
        }
        if self.window.is_some_and(|w| !w.contains(ev.captured_at, offset))
            || lists.is_known(&plate_reads(read), ev.captured_at)
        {
            return;
        }
        let key = format!("unknown_vehicle:{}:{cam}:{}", self.cfg.name, read.track);
        let message = format!("vehicle on no resident list and with no valid pass at {cam}, track {}", read.track);
        out.push(plate_alert(ev, read, AlertKind::UnknownVehicle, self.cfg.name.clone(), key, message, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{PlateRead, SCHEMA_V1};
    use crate::registry::{ListEntry, ListKind};

    impl RuleSet {
        /// Apply an event with no stored plate lists.
        fn on(&mut self, ev: &Event) -> Vec<Alert> {
            self.on_event(ev, &Registry::default())
        }
    }

    struct Clock {
        t: DateTime<Utc>,
        seq: u64,
    }

    impl Clock {
        fn at(s: &str) -> Self {
            Self { t: s.parse().unwrap(), seq: 0 }
        }
        fn advance(&mut self, secs: i64) -> &mut Self {
            self.t += Duration::seconds(secs);
            self
        }
        fn event(&mut self, body: EventBody) -> Event {
            self.seq += 1;
            Event {
                schema: SCHEMA_V1.into(),
                event_id: Uuid::now_v7(),
                site: "north".into(),
                edge: "gate-1".into(),
                camera: "cam1".into(),
                seq: self.seq,
                captured_at: self.t,
                body,
            }
        }
    }

    fn entered(track: TrackId) -> EventBody {
        EventBody::ZoneEntered { track, class: ObjectClass::Person, zone: "shed".into() }
    }
    fn tick() -> EventBody {
        EventBody::CameraStats {
            frames_decoded: 10,
            frames_inferred: 5,
            frames_dropped: 0,
            frames_gated: 0,
            period_s: 1.0,
        }
    }

    fn loitering(window: Option<&str>) -> RuleSet {
        RuleSet::new(&RulesConfig {
            utc_offset: "+08:00".into(),
            loitering: vec![LoiteringConfig {
                name: "shed-night".into(),
                zone: "shed".into(),
                min_dwell_s: 60.0,
                classes: vec![ObjectClass::Person],
                window: window.map(String::from),
                cameras: vec![],
            }],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn loitering_fires_once_when_dwell_passes_the_limit() {
        let mut rules = loitering(None);
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let e = clock.event(entered(7));
        assert!(rules.on(&e).is_empty());
        assert!(rules.on(&clock.advance(59).event(tick())).is_empty());
        let alerts = rules.on(&clock.advance(2).event(tick()));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!((a.kind, a.track, a.zone.as_deref()), (AlertKind::Loitering, Some(7), Some("shed")));
        assert_eq!(a.at, "2026-11-28T12:01:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(a.key, "loitering:shed-night:north/gate-1/cam1:7:shed");
        // Further ticks, a duplicate delivery of the entry, and the leave: no second alert.
        assert!(rules.on(&clock.advance(30).event(tick())).is_empty());
        assert!(rules.on(&e).is_empty());
        let left = EventBody::ZoneLeft { track: 7, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 95.0 };
        assert!(rules.on(&clock.advance(5).event(left)).is_empty());
    }

    #[test]
    fn a_short_visit_or_another_class_does_not_fire() {
        let mut rules = loitering(None);
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        rules.on(&clock.event(entered(1)));
        let left = EventBody::ZoneLeft { track: 1, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 20.0 };
        assert!(rules.on(&clock.advance(20).event(left)).is_empty());
        rules.on(&clock.event(EventBody::ZoneEntered { track: 2, class: ObjectClass::Car, zone: "shed".into() }));
        assert!(rules.on(&clock.advance(600).event(tick())).is_empty());
    }

    #[test]
    fn leaving_after_a_long_dwell_fires_even_without_ticks() {
        let mut rules = loitering(None);
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let left = EventBody::ZoneLeft { track: 3, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 75.0 };
        let alerts = rules.on(&clock.event(left));
        assert_eq!(alerts.len(), 1);
    }

    #[test]
    fn time_window_in_local_time() {
        // 22:00-06:00 at UTC+8: 03:00 local is 19:00 UTC the day before.
        let mut night = loitering(Some("22:00-06:00"));
        let mut clock = Clock::at("2026-11-27T19:00:00Z");
        night.on(&clock.event(entered(1)));
        assert_eq!(night.on(&clock.advance(61).event(tick())).len(), 1);
        // Noon local (04:00 UTC): no alert however long.
        let mut clock = Clock::at("2026-11-28T04:00:00Z");
        night.on(&clock.event(entered(2)));
        assert!(night.on(&clock.advance(3600).event(tick())).is_empty());
    }

    fn plate(track: TrackId, p: &str, candidates: &[&str]) -> EventBody {
        EventBody::PlateRead(PlateRead {
            track,
            plate: p.into(),
            confidence: 0.9,
            valid: crate::plate::apply_grammar(p).valid,
            candidates: candidates.iter().map(|c| c.to_string()).collect(),
            reads: 3,
            stable: true,
            ..Default::default()
        })
    }

    #[test]
    fn watchlist_matches_normalised_and_confused_plates() {
        let mut rules = RuleSet::new(&RulesConfig {
            watchlist: vec![WatchlistConfig { name: "wanted-cfg".into(), plates: vec!["京A·12345".into()] }],
            ..Default::default()
        })
        .unwrap();
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        assert!(rules.on(&clock.event(plate(1, "京A12399", &[]))).is_empty(), "two wrong characters: too far");
        let alerts = rules.on(&clock.event(plate(2, "京A1234S", &["京A12845"])));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.plate.as_deref(), Some("京A1234S"));
        let m = a.matched.as_ref().unwrap();
        assert_eq!((m.entry_plate.as_str(), m.distance, m.kind), ("京A12345", 0.5, ListKind::Wanted));
        assert_eq!(a.candidates, vec!["京A12845"]);
        assert!(!a.message.contains("1234"), "plates stay out of the message: {}", a.message);
        assert!(rules.on(&clock.advance(1).event(plate(2, "京A12345", &[]))).is_empty(), "same track: once");
        assert_eq!(rules.on(&clock.event(plate(3, "京A12345", &[]))).len(), 1, "another track: again");
    }

    fn stored_lists() -> Registry {
        let t = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        Registry::new(
            vec![
                ListEntry::new(ListKind::Stolen, "沪A77777", "reported 2026-11-02", None, None).unwrap(),
                ListEntry::new(ListKind::Resident, "京B12345", "flat 3-201", None, None).unwrap(),
                ListEntry::new(
                    ListKind::Visitor,
                    "京C11111",
                    "guest",
                    t("2026-11-27T12:00:00Z"),
                    t("2026-11-27T18:00:00Z"),
                )
                .unwrap(),
            ],
            Default::default(),
        )
    }

    #[test]
    fn stored_lists_alert_only_for_alerting_kinds() {
        let mut rules = RuleSet::new(&RulesConfig::default()).unwrap();
        let lists = stored_lists();
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let alerts = rules.on_event(&clock.event(plate(1, "沪A77777", &[])), &lists);
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].rule.as_str(), alerts[0].kind), ("stolen", AlertKind::Watchlist));
        assert!(rules.on_event(&clock.event(plate(2, "京B12345", &[])), &lists).is_empty(), "residents raise nothing");
    }

    #[test]
    fn unknown_vehicles_at_night_with_passes_on_a_moved_clock() {
        let mut rules = RuleSet::new(&RulesConfig {
            utc_offset: "+08:00".into(),
            unknown_vehicle: vec![UnknownVehicleConfig::new("night", "23:00-05:00")],
            ..Default::default()
        })
        .unwrap();
        let lists = stored_lists();
        // 02:00 local on the 28th = 18:00 UTC on the 27th.
        let mut clock = Clock::at("2026-11-27T18:00:00Z");
        assert!(rules.on_event(&clock.event(plate(1, "京B12345", &[])), &lists).is_empty(), "a resident");
        let a = rules.on_event(&clock.event(plate(2, "粤Z99999", &[])), &lists);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, AlertKind::UnknownVehicle);
        // The visitor's pass ended at 18:00 UTC: one second earlier it was valid.
        let mut earlier = Clock::at("2026-11-27T17:59:59Z");
        assert!(rules.on_event(&earlier.event(plate(3, "京C11111", &[])), &lists).is_empty(), "pass valid");
        assert_eq!(rules.on_event(&clock.event(plate(4, "京C11111", &[])), &lists).len(), 1, "pass expired");
        // Noon local: nobody is unknown.
        let mut noon = Clock::at("2026-11-28T04:00:00Z");
        assert!(rules.on_event(&noon.event(plate(5, "粤Z99999", &[])), &lists).is_empty());
    }

    #[test]
    fn unknown_vehicles_only_on_settled_valid_reads() {
        let night = |cfg: UnknownVehicleConfig| {
            RuleSet::new(&RulesConfig { unknown_vehicle: vec![cfg], ..Default::default() }).unwrap()
        };
        let read = |stable: bool, confidence: f32, text: &str| {
            let EventBody::PlateRead(mut r) = plate(1, text, &[]) else { unreachable!() };
            r.stable = stable;
            r.confidence = confidence;
            EventBody::PlateRead(r)
        };
        let lists = stored_lists();
        let mut strict = night(UnknownVehicleConfig::new("night", "00:00-23:59"));
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        // A resident's plate misread once, before the vote settled: no alert.
        assert!(strict.on_event(&clock.event(read(false, 0.9, "京B12845")), &lists).is_empty(), "unsettled");
        assert!(strict.on_event(&clock.event(read(true, 0.5, "京B12845")), &lists).is_empty(), "low confidence");
        assert!(strict.on_event(&clock.event(read(true, 0.9, "京812345")), &lists).is_empty(), "grammar: no letter");
        assert!(strict.on_event(&clock.event(read(true, 0.9, "B12345")), &lists).is_empty(), "no grammar verdict");
        assert_eq!(strict.on_event(&clock.event(read(true, 0.9, "粤Z99999")), &lists).len(), 1, "settled, valid");
        // Each requirement can be relaxed.
        let mut loose = night(UnknownVehicleConfig {
            require_stable: false,
            require_valid: false,
            min_confidence: 0.0,
            ..UnknownVehicleConfig::new("night", "00:00-23:59")
        });
        assert_eq!(loose.on_event(&clock.event(read(false, 0.2, "B12345")), &lists).len(), 1);
        let bad = RulesConfig {
            unknown_vehicle: vec![UnknownVehicleConfig {
                min_confidence: 1.5,
                ..UnknownVehicleConfig::new("n", "01:00-02:00")
            }],
            ..Default::default()
        };
        assert_eq!(RuleSet::new(&bad).unwrap_err().len(), 1);
    }

    #[test]
    fn bad_configuration_reports_every_error() {
        let errors = RuleSet::new(&RulesConfig {
            utc_offset: "8".into(),
            loitering: vec![LoiteringConfig {
                name: "x".into(),
                zone: "z".into(),
                min_dwell_s: -1.0,
                classes: vec![],
                window: Some("25:00-01:00".into()),
                cameras: vec![],
            }],
            watchlist: vec![WatchlistConfig { name: "x".into(), plates: vec!["<b>".into()] }],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:#?}");
    }
}

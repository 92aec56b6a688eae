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
use crate::event::{Event, EventBody};
use crate::plate;
use crate::tracker::TrackId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Loitering,
    Watchlist,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loitering => "loitering",
            Self::Watchlist => "watchlist",
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

/// A plate-read event whose normalised plate is on the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchlistConfig {
    pub name: String,
    /// Plates as written; normalised when loaded.
    pub plates: Vec<String>,
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
}

fn default_offset() -> String {
    "+00:00".into()
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self { utc_offset: default_offset(), loitering: vec![], watchlist: vec![] }
    }
}

type CameraKey = (String, String, String);
type PresenceKey = (CameraKey, TrackId, String);

/// A presence older than this is forgotten (its track-ended event was lost).
const MAX_PRESENCE: Duration = Duration::hours(24);

#[derive(Debug)]
struct Loitering {
    cfg: LoiteringConfig,
    window: Option<TimeWindow>,
    presences: HashMap<PresenceKey, (DateTime<Utc>, Uuid)>,
    alerted: HashSet<PresenceKey>,
}

#[derive(Debug)]
struct Watchlist {
    name: String,
    plates: HashSet<String>,
}

/// All configured rules with their state.
#[derive(Debug)]
pub struct RuleSet {
    offset: FixedOffset,
    loitering: Vec<Loitering>,
    watchlist: Vec<Watchlist>,
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
            if !(l.min_dwell_s.is_finite() && l.min_dwell_s > 0.0) {
                errors.push(format!("{at}: min_dwell_s must be > 0"));
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
        let mut watchlist = Vec::new();
        for (i, w) in cfg.watchlist.iter().enumerate() {
            let at = format!("rules.watchlist[{i}] ({})", w.name);
            if !names.insert(w.name.clone()) {
                errors.push(format!("{at}: duplicate rule name"));
            }
            let mut plates = HashSet::new();
            for (j, p) in w.plates.iter().enumerate() {
                match plate::normalize(p) {
                    Ok(n) => {
                        plates.insert(n);
                    }
                    Err(e) => errors.push(format!("{at}: plates[{j}]: {e}")),
                }
            }
            watchlist.push(Watchlist { name: w.name.clone(), plates });
        }
        if errors.is_empty() { Ok(Self { offset, loitering, watchlist, fired: HashSet::new() }) } else { Err(errors) }
    }

    /// Apply every rule to one event; returns the alerts it raises (each key once).
    pub fn on_event(&mut self, ev: &Event) -> Vec<Alert> {
        let mut out = Vec::new();
        for rule in &mut self.loitering {
            rule.on_event(ev, self.offset, &mut out);
        }
        for rule in &self.watchlist {
            rule.on_event(ev, &mut out);
        }
        out.retain(|a| self.fired.insert(a.key.clone()));
        out
    }
}

impl Loitering {
    fn on_event(&mut self, ev: &Event, offset: FixedOffset, out: &mut Vec<Alert>) {
        let cam: CameraKey = (ev.site.clone(), ev.edge.clone(), ev.camera.clone());
        if !self.cfg.cameras.is_empty() && !self.cfg.cameras.contains(&format!("{}/{}/{}", cam.0, cam.1, cam.2)) {
            return;
        }
        let min = Duration::milliseconds((self.cfg.min_dwell_s * 1000.0) as i64);
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
                    let since = entered
                        .map(|e| e.0)
                        .unwrap_or_else(|| ev.captured_at - Duration::milliseconds((*dwell_s * 1000.0) as i64));
                    self.raise(key.clone(), since, *dwell_s, ev, offset, min, out);
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
        let began = since + min;
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
            at: began,
            event_id: ev.event_id,
        });
    }
}

impl Watchlist {
    fn on_event(&self, ev: &Event, out: &mut Vec<Alert>) {
        let EventBody::PlateRead { track, plate, .. } = &ev.body else { return };
        let Ok(normal) = plate::normalize(plate) else { return };
        if !self.plates.contains(&normal) {
            return;
        }
        out.push(Alert {
            alert_id: Uuid::now_v7(),
            key: format!("watchlist:{}:{}/{}/{}:{track}:{normal}", self.name, ev.site, ev.edge, ev.camera),
            rule: self.name.clone(),
            kind: AlertKind::Watchlist,
            site: ev.site.clone(),
            edge: ev.edge.clone(),
            camera: ev.camera.clone(),
            track: Some(*track),
            zone: None,
            plate: Some(normal),
            at: ev.captured_at,
            event_id: ev.event_id,
            message: format!(
                "plate on watchlist '{}' read on track {track} at {}/{}/{}",
                self.name, ev.site, ev.edge, ev.camera
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SCHEMA_V1;

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
        EventBody::CameraStats { frames_decoded: 10, frames_inferred: 5, period_s: 1.0 }
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
            watchlist: vec![],
        })
        .unwrap()
    }

    #[test]
    fn loitering_fires_once_when_dwell_passes_the_limit() {
        let mut rules = loitering(None);
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let e = clock.event(entered(7));
        assert!(rules.on_event(&e).is_empty());
        assert!(rules.on_event(&clock.advance(59).event(tick())).is_empty());
        let alerts = rules.on_event(&clock.advance(2).event(tick()));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!((a.kind, a.track, a.zone.as_deref()), (AlertKind::Loitering, Some(7), Some("shed")));
        assert_eq!(a.at, "2026-11-28T12:01:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(a.key, "loitering:shed-night:north/gate-1/cam1:7:shed");
        // Further ticks, a duplicate delivery of the entry, and the leave: no second alert.
        assert!(rules.on_event(&clock.advance(30).event(tick())).is_empty());
        assert!(rules.on_event(&e).is_empty());
        let left = EventBody::ZoneLeft { track: 7, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 95.0 };
        assert!(rules.on_event(&clock.advance(5).event(left)).is_empty());
    }

    #[test]
    fn a_short_visit_or_another_class_does_not_fire() {
        let mut rules = loitering(None);
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        rules.on_event(&clock.event(entered(1)));
        let left = EventBody::ZoneLeft { track: 1, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 20.0 };
        assert!(rules.on_event(&clock.advance(20).event(left)).is_empty());
        rules.on_event(&clock.event(EventBody::ZoneEntered { track: 2, class: ObjectClass::Car, zone: "shed".into() }));
        assert!(rules.on_event(&clock.advance(600).event(tick())).is_empty());
    }

    #[test]
    fn leaving_after_a_long_dwell_fires_even_without_ticks() {
        let mut rules = loitering(None);
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let left = EventBody::ZoneLeft { track: 3, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 75.0 };
        let alerts = rules.on_event(&clock.event(left));
        assert_eq!(alerts.len(), 1);
    }

    #[test]
    fn time_window_in_local_time() {
        // 22:00-06:00 at UTC+8: 03:00 local is 19:00 UTC the day before.
        let mut night = loitering(Some("22:00-06:00"));
        let mut clock = Clock::at("2026-11-27T19:00:00Z");
        night.on_event(&clock.event(entered(1)));
        assert_eq!(night.on_event(&clock.advance(61).event(tick())).len(), 1);
        // Noon local (04:00 UTC): no alert however long.
        let mut clock = Clock::at("2026-11-28T04:00:00Z");
        night.on_event(&clock.event(entered(2)));
        assert!(night.on_event(&clock.advance(3600).event(tick())).is_empty());
    }

    #[test]
    fn watchlist_matches_normalised_plates() {
        let mut rules = RuleSet::new(&RulesConfig {
            watchlist: vec![WatchlistConfig { name: "wanted".into(), plates: vec!["京A·12345".into()] }],
            ..Default::default()
        })
        .unwrap();
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let read = |t, p: &str| EventBody::PlateRead { track: t, plate: p.into(), confidence: 0.9 };
        assert!(rules.on_event(&clock.event(read(1, "京A12346"))).is_empty());
        let alerts = rules.on_event(&clock.event(read(2, "京A12345")));
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].plate.as_deref(), Some("京A12345"));
        assert!(!alerts[0].message.contains("12345"), "plate stays out of the message");
        assert!(rules.on_event(&clock.advance(1).event(read(2, "京A12345"))).is_empty(), "same track: once");
        assert_eq!(rules.on_event(&clock.event(read(3, "京A12345"))).len(), 1, "another track: again");
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
        })
        .unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:#?}");
    }
}

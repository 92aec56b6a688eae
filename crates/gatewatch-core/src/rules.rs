//! Alert rules: plain functions of (state, event, time) → signals about incidents.
//!
//! The clock is the event's capture time: a rule never looks at the wall clock, so a replayed
//! or delayed event judges the same way, and tests move time by sending events. A rule says
//! "this incident is seen" or "this incident has ended" ([`Signal`]), with the incident's key;
//! whether that raises a new alert, updates the open one or is within a cooldown is decided
//! against the stored alerts ([`crate::incident::decide`]), so it holds across restarts,
//! duplicate deliveries and several aggregators.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::detection::ObjectClass;
use crate::event::{Event, EventBody, PlateRead, StationaryEnd, earliest, latest};
use crate::incident::{Ending, Sighting, Signal};
use crate::registry::{ListEntry, ListKind, PlateMatch, Registry};
use crate::tamper::Tampering;
use crate::tracker::TrackId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Loitering,
    Watchlist,
    UnknownVehicle,
    CameraOffline,
    Stationary,
    Tampering,
    Overstay,
    ExitWithoutEntry,
    UnknownInside,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loitering => "loitering",
            Self::Watchlist => "watchlist",
            Self::UnknownVehicle => "unknown_vehicle",
            Self::CameraOffline => "camera_offline",
            Self::Stationary => "stationary",
            Self::Tampering => "tampering",
            Self::Overstay => "overstay",
            Self::ExitWithoutEntry => "exit_without_entry",
            Self::UnknownInside => "unknown_inside",
        }
    }

    /// How urgently the desk should look: a listed plate at the gate or a camera covered comes
    /// before a blind camera or a person loitering, which come before a long stay.
    pub fn severity(self) -> Severity {
        match self {
            Self::Watchlist | Self::Tampering => Severity::High,
            Self::CameraOffline | Self::Loitering | Self::UnknownInside | Self::ExitWithoutEntry => Severity::Medium,
            Self::Stationary | Self::Overstay | Self::UnknownVehicle => Severity::Low,
        }
    }
}

/// How urgent an alert is, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }
}

/// An alert for the watch desk. `plate` is personal data; `message` never contains it.
///
/// Raised once per incident; a later sighting updates `camera`, `plate`, `message` and the
/// alert's [`AlertStatus`](crate::incident::AlertStatus), never `at` or `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: Uuid,
    /// The incident key: at most one open alert per key.
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
    /// The event that raised the alert (or, in a sighting, the event of that sighting).
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

    pub fn contains(&self, at: DateTime<Utc>, tz: LocalTime) -> bool {
        let local = tz.time_of(at);
        let local = NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second()).unwrap_or(local);
        if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }
}

/// The sites' local time: a named time zone (`Asia/Shanghai`, `Europe/Berlin`: daylight saving
/// time applied as the tz database says) or a fixed offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LocalTime {
    Named(Tz),
    Fixed(FixedOffset),
}

impl LocalTime {
    /// `at` in the sites' local time, with its offset (for showing times to people).
    pub fn local(self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Self::Named(tz) => at.with_timezone(&tz).fixed_offset(),
            Self::Fixed(offset) => at.with_timezone(&offset),
        }
    }

    /// A local date and time as UTC (the earlier one where a clock change repeats it; none in
    /// a gap a clock change skips).
    pub fn to_utc(self, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        use chrono::TimeZone;
        match self {
            Self::Named(tz) => tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)),
            Self::Fixed(offset) => offset.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The local wall-clock time of day at `at`.
    pub fn time_of(self, at: DateTime<Utc>) -> NaiveTime {
        match self {
            Self::Named(tz) => at.with_timezone(&tz).time(),
            Self::Fixed(offset) => at.with_timezone(&offset).time(),
        }
    }

    /// From the `[rules]` settings: `timezone` (a tz database name) wins; else `utc_offset`.
    pub fn from_config(timezone: Option<&str>, utc_offset: &str) -> Result<Self, String> {
        match timezone {
            Some(name) => name
                .parse::<Tz>()
                .map(Self::Named)
                .map_err(|_| format!("timezone {name:?} is not a tz database name like \"Asia/Shanghai\"")),
            None => parse_utc_offset(utc_offset).map(Self::Fixed),
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
///
/// No cooldown: a stay (camera, track, zone, entry) is one incident, raised once and updated
/// when it ends; once closed it stays closed, and the same person entering again is another stay.
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
    /// Only these compounds, gate boxes or cameras (`site`, `site/edge`, `site/edge/camera`);
    /// empty means every camera with the zone.
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_watchlist_cooldown() -> f64 {
    600.0
}

fn default_unknown_cooldown() -> f64 {
    1800.0
}

/// A plate-read event whose normalised plate is on the list (a wanted list kept in the
/// config file; lists managed with `gatewatch lists` live in the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchlistConfig {
    pub name: String,
    /// Plates as written; normalised when loaded.
    pub plates: Vec<String>,
    /// After an officer closes the alert, the same plate at the same site does not raise
    /// again for this long.
    #[serde(default = "default_watchlist_cooldown")]
    pub cooldown_s: f64,
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
    /// Only these compounds, gate boxes or cameras (`site`, `site/edge`, `site/edge/camera`);
    /// empty means all.
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
    /// After an officer closes the alert, the same plate at the same site does not raise
    /// again for this long.
    #[serde(default = "default_unknown_cooldown")]
    pub cooldown_s: f64,
}

/// A camera that reported itself offline (`camera_offline`: its stream died, the edge retries)
/// and has not come back for `after_s`: at a gate, a blind camera is itself an incident. The
/// alert closes by itself when the camera is back (`camera_online`, or frames decoded again).
/// Each outage is one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraOfflineConfig {
    pub name: String,
    /// How long a camera may be offline before it is an alert (default 60 s).
    #[serde(default = "default_offline_after")]
    pub after_s: f64,
    /// Only these compounds, gate boxes or cameras (`site`, `site/edge`, `site/edge/camera`);
    /// empty means all.
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_vehicles() -> Vec<ObjectClass> {
    vec![ObjectClass::Car, ObjectClass::Truck, ObjectClass::Bus, ObjectClass::Motorcycle]
}

/// A vehicle parked in a zone (a fire lane) for longer than `min_parked_s`.
///
/// The edge tells when a vehicle stands still (`stationary_started`: it stopped at `since`)
/// and when it drives off (`stationary_ended`); a parked car whose track breaks (occlusion, a
/// reconnect, an edge restart) keeps its parking episode and its start. One alert per episode,
/// raised once the vehicle has stood `min_parked_s` in the zone and closed by itself when it
/// drives off (or is no longer seen there). A car waiting at a red light is stationary for a
/// minute; one parked all night, for hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationaryRuleConfig {
    pub name: String,
    /// Zone name as configured on the edge cameras (the vehicle's ground point when it stopped).
    pub zone: String,
    pub min_parked_s: f64,
    /// Classes that count; default the vehicles (car, truck, bus, motorcycle).
    #[serde(default = "default_vehicles")]
    pub classes: Vec<ObjectClass>,
    /// Only alert when the limit passes inside this local time window, e.g. `22:00-06:00`.
    #[serde(default)]
    pub window: Option<String>,
    /// Only these compounds, gate boxes or cameras (`site`, `site/edge`, `site/edge/camera`);
    /// empty means every camera with the zone.
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn all_tampering() -> Vec<Tampering> {
    vec![Tampering::Covered, Tampering::Blurred, Tampering::Moved]
}

/// A camera whose view the edge found covered, blurred or turned away (`camera_tampered`):
/// one alert per tampering, closed by itself when the view is back (`camera_view_restored`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TamperingConfig {
    pub name: String,
    /// What counts; default all of `covered`, `blurred`, `moved`.
    #[serde(default = "all_tampering")]
    pub what: Vec<Tampering>,
    /// Only these compounds, gate boxes or cameras (`site`, `site/edge`, `site/edge/camera`);
    /// empty means all.
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_offline_after() -> f64 {
    60.0
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
            cooldown_s: default_unknown_cooldown(),
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
    /// The sites' local time, for time windows, as a fixed offset (`+08:00`). Default UTC.
    #[serde(default = "default_offset")]
    pub utc_offset: String,
    /// The sites' local time as a tz database name (`Asia/Shanghai`, `Europe/Berlin`): time
    /// windows follow daylight saving time. Takes the place of `utc_offset` when set.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub loitering: Vec<LoiteringConfig>,
    #[serde(default)]
    pub watchlist: Vec<WatchlistConfig>,
    #[serde(default)]
    pub unknown_vehicle: Vec<UnknownVehicleConfig>,
    #[serde(default)]
    pub camera_offline: Vec<CameraOfflineConfig>,
    #[serde(default)]
    pub stationary: Vec<StationaryRuleConfig>,
    #[serde(default)]
    pub tampering: Vec<TamperingConfig>,
    /// Which gate-line passages are entries and exits (see [`crate::visits`]).
    #[serde(default)]
    pub visits: crate::visits::VisitsConfig,
    #[serde(default)]
    pub overstay: Vec<crate::visits::OverstayConfig>,
    #[serde(default)]
    pub exit_without_entry: Vec<crate::visits::ExitWithoutEntryConfig>,
    #[serde(default)]
    pub unknown_inside: Vec<crate::visits::UnknownInsideConfig>,
    /// Maximum confusion distance for a plate to match an entry, per list kind
    /// (defaults: 1.0 for wanted/stolen/banned, 0.5 for resident/visitor).
    #[serde(default)]
    pub max_distance: std::collections::BTreeMap<ListKind, f32>,
    /// Cooldown of the alerts raised by the stored wanted, stolen and banned lists.
    #[serde(default = "default_watchlist_cooldown")]
    pub list_cooldown_s: f64,
}

fn default_offset() -> String {
    "+00:00".into()
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            utc_offset: default_offset(),
            timezone: None,
            loitering: vec![],
            watchlist: vec![],
            unknown_vehicle: vec![],
            camera_offline: vec![],
            stationary: vec![],
            tampering: vec![],
            visits: Default::default(),
            overstay: vec![],
            exit_without_entry: vec![],
            unknown_inside: vec![],
            max_distance: Default::default(),
            list_cooldown_s: default_watchlist_cooldown(),
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

/// A duration as an officer reads it: `42 s`, `16 min`, `3 h 5 min`, `2 d 4 h`.
pub fn span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `secs` as a duration, clamped to `0..=MAX_DWELL_S` (NaN as 0).
fn dwell(secs: f64) -> Duration {
    let ms = (secs.clamp(0.0, MAX_DWELL_S) * 1000.0) as i64; // NaN casts to 0
    Duration::try_milliseconds(ms).unwrap_or(Duration::zero())
}

/// Check a rule's `field` of `secs` seconds (more than 0, at most a year) and turn it into a
/// duration.
pub(crate) fn positive_secs(at: &str, field: &str, secs: f64, errors: &mut Vec<String>) -> Duration {
    if !(secs.is_finite() && secs > 0.0 && secs <= MAX_DWELL_S) {
        errors.push(format!("{at}: {field} must be > 0 and at most a year"));
    }
    dwell(secs)
}

/// Check a rule's optional local time `window` (`HH:MM-HH:MM`).
pub(crate) fn optional_window(at: &str, window: Option<&str>, errors: &mut Vec<String>) -> Option<TimeWindow> {
    window.map(TimeWindow::parse).transpose().unwrap_or_else(|e| {
        errors.push(format!("{at}: {e}"));
        None
    })
}

/// Check that a rule's name is given once (names are shown to officers and key the alerts).
pub(crate) fn unique_name(at: &str, name: &str, names: &mut HashSet<String>, errors: &mut Vec<String>) {
    if !names.insert(name.to_string()) {
        errors.push(format!("{at}: duplicate rule name"));
    }
}

/// Check a rule's `cooldown_s` (0 to a year) and turn it into a duration.
fn cooldown(at: &str, secs: f64, errors: &mut Vec<String>) -> Duration {
    up_to_a_year(at, "cooldown_s", secs, errors)
}

/// Check a rule's `field` of `secs` seconds (0 to a year) and turn it into a duration.
pub(crate) fn up_to_a_year(at: &str, field: &str, secs: f64, errors: &mut Vec<String>) -> Duration {
    if !(secs.is_finite() && (0.0..=MAX_DWELL_S).contains(&secs)) {
        errors.push(format!("{at}: {field} must be within 0 s and a year"));
    }
    dwell(secs)
}

#[derive(Debug)]
struct Loitering {
    cfg: LoiteringConfig,
    window: Option<TimeWindow>,
    /// Who is in the zone since when (and the entering event).
    presences: HashMap<PresenceKey, (DateTime<Utc>, Uuid)>,
    /// Presences already signalled as loitering (a tick does not signal them again).
    alerted: HashSet<PresenceKey>,
}

#[derive(Debug)]
struct CameraOffline {
    cfg: CameraOfflineConfig,
    after: Duration,
    /// Cameras offline now: the event that said so, and whether it has been alerted.
    down: HashMap<CameraKey, (Event, bool)>,
}

/// A parking episode a stationary rule follows.
#[derive(Debug)]
struct Parked {
    /// When the vehicle stopped (the edge's word, within a year of the event).
    since: DateTime<Utc>,
    track: TrackId,
    class: ObjectClass,
    alerted: bool,
}

#[derive(Debug)]
struct Stationary {
    cfg: StationaryRuleConfig,
    window: Option<TimeWindow>,
    min: Duration,
    /// Episodes in the rule's zone, by camera and episode id.
    parked: HashMap<(CameraKey, TrackId), Parked>,
}

#[derive(Debug)]
struct UnknownVehicle {
    cfg: UnknownVehicleConfig,
    window: Option<TimeWindow>,
    cooldown: Duration,
}

/// All configured rules with their state.
#[derive(Debug)]
pub struct RuleSet {
    tz: LocalTime,
    loitering: Vec<Loitering>,
    /// The config file's watchlists, as wanted-list entries labelled with the rule name.
    config_lists: Registry,
    /// Each config watchlist's cooldown, by rule name.
    config_list_cooldowns: HashMap<String, Duration>,
    /// Cooldown of the stored lists' alerts.
    list_cooldown: Duration,
    unknown_vehicle: Vec<UnknownVehicle>,
    camera_offline: Vec<CameraOffline>,
    stationary: Vec<Stationary>,
    tampering: Vec<TamperingConfig>,
    max_distance: std::collections::BTreeMap<ListKind, f32>,
}

impl RuleSet {
    /// Build from configuration; every problem is reported, not just the first.
    pub fn new(cfg: &RulesConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let tz = LocalTime::from_config(cfg.timezone.as_deref(), &cfg.utc_offset).unwrap_or_else(|e| {
            let which = if cfg.timezone.is_some() { "timezone" } else { "utc_offset" };
            errors.push(format!("rules.{which}: {e}"));
            LocalTime::Fixed(FixedOffset::east_opt(0).expect("zero offset"))
        });
        if cfg.timezone.is_some() && cfg.utc_offset != default_offset() {
            errors.push("rules: set timezone or utc_offset, not both".into());
        }
        let mut names = HashSet::new();
        let mut loitering = Vec::new();
        for (i, l) in cfg.loitering.iter().enumerate() {
            let at = format!("rules.loitering[{i}] ({})", l.name);
            unique_name(&at, &l.name, &mut names, &mut errors);
            check_places(&at, "cameras", &l.cameras, &mut errors);
            positive_secs(&at, "min_dwell_s", l.min_dwell_s, &mut errors);
            if l.classes.is_empty() {
                errors.push(format!("{at}: classes is empty"));
            }
            let window = optional_window(&at, l.window.as_deref(), &mut errors);
            loitering.push(Loitering { cfg: l.clone(), window, presences: HashMap::new(), alerted: HashSet::new() });
        }
        let mut entries = Vec::new();
        let mut config_list_cooldowns = HashMap::new();
        for (i, w) in cfg.watchlist.iter().enumerate() {
            let at = format!("rules.watchlist[{i}] ({})", w.name);
            unique_name(&at, &w.name, &mut names, &mut errors);
            for (j, p) in w.plates.iter().enumerate() {
                match ListEntry::new(ListKind::Wanted, p, &w.name, None, None) {
                    Ok(e) => entries.push(e),
                    Err(e) => errors.push(format!("{at}: plates[{j}]: {e}")),
                }
            }
            config_list_cooldowns.insert(w.name.clone(), cooldown(&at, w.cooldown_s, &mut errors));
        }
        let mut unknown_vehicle = Vec::new();
        for (i, u) in cfg.unknown_vehicle.iter().enumerate() {
            let at = format!("rules.unknown_vehicle[{i}] ({})", u.name);
            unique_name(&at, &u.name, &mut names, &mut errors);
            check_places(&at, "cameras", &u.cameras, &mut errors);
            if !(0.0..=1.0).contains(&u.min_confidence) {
                errors.push(format!("{at}: min_confidence must be within 0..1"));
            }
            let cooldown = cooldown(&at, u.cooldown_s, &mut errors);
            match TimeWindow::parse(&u.window) {
                Ok(w) => unknown_vehicle.push(UnknownVehicle { cfg: u.clone(), window: Some(w), cooldown }),
                Err(e) => errors.push(format!("{at}: {e}")),
            }
        }
        let mut camera_offline = Vec::new();
        for (i, c) in cfg.camera_offline.iter().enumerate() {
            let at = format!("rules.camera_offline[{i}] ({})", c.name);
            unique_name(&at, &c.name, &mut names, &mut errors);
            check_places(&at, "cameras", &c.cameras, &mut errors);
            let after = positive_secs(&at, "after_s", c.after_s, &mut errors);
            camera_offline.push(CameraOffline { cfg: c.clone(), after, down: HashMap::new() });
        }
        let mut stationary = Vec::new();
        for (i, r) in cfg.stationary.iter().enumerate() {
            let at = format!("rules.stationary[{i}] ({})", r.name);
            unique_name(&at, &r.name, &mut names, &mut errors);
            check_places(&at, "cameras", &r.cameras, &mut errors);
            let min = positive_secs(&at, "min_parked_s", r.min_parked_s, &mut errors);
            if r.classes.is_empty() {
                errors.push(format!("{at}: classes is empty"));
            }
            let window = optional_window(&at, r.window.as_deref(), &mut errors);
            stationary.push(Stationary { cfg: r.clone(), window, min, parked: HashMap::new() });
        }
        for (i, r) in cfg.tampering.iter().enumerate() {
            let at = format!("rules.tampering[{i}] ({})", r.name);
            unique_name(&at, &r.name, &mut names, &mut errors);
            check_places(&at, "cameras", &r.cameras, &mut errors);
            if r.what.is_empty() {
                errors.push(format!("{at}: what is empty"));
            }
        }
        for (kind, d) in &cfg.max_distance {
            if !(d.is_finite() && (0.0..=3.0).contains(d)) {
                errors.push(format!("rules.max_distance.{}: must be within 0..3", kind.as_str()));
            }
        }
        let list_cooldown = cooldown("rules.list_cooldown_s", cfg.list_cooldown_s, &mut errors);
        let config_lists = Registry::new(entries, cfg.max_distance.clone());
        if errors.is_empty() {
            Ok(Self {
                tz,
                loitering,
                config_lists,
                config_list_cooldowns,
                list_cooldown,
                unknown_vehicle,
                camera_offline,
                stationary,
                tampering: cfg.tampering.clone(),
                max_distance: cfg.max_distance.clone(),
            })
        } else {
            Err(errors)
        }
    }

    /// The per-kind match distances, for building a [`Registry`] from stored lists.
    pub fn max_distance(&self) -> std::collections::BTreeMap<ListKind, f32> {
        self.max_distance.clone()
    }

    /// Apply every rule to one event, with the plate lists as they are now; returns what the
    /// event says about incidents (the store turns it into raised, updated or closed alerts).
    pub fn on_event(&mut self, ev: &Event, lists: &Registry) -> Vec<Signal> {
        let mut out = Vec::new();
        for rule in &mut self.loitering {
            rule.on_event(ev, self.tz, &mut out);
        }
        for rule in &mut self.camera_offline {
            rule.on_event(ev, &mut out);
        }
        for rule in &mut self.stationary {
            rule.on_event(ev, self.tz, &mut out);
        }
        for rule in &self.tampering {
            tampering(rule, ev, &mut out);
        }
        if let EventBody::PlateRead(read) = &ev.body {
            self.watchlists(ev, read, lists, &mut out);
            for rule in &self.unknown_vehicle {
                rule.on_plate(ev, read, lists, self.tz, &mut out);
            }
        }
        out
    }

    /// What time alone makes true at wall-clock time `now` (a camera offline for too long),
    /// each signal with the stored event it is about (its sighting). The aggregator calls this
    /// every second; events cannot, since an offline camera sends none.
    pub fn on_clock(&mut self, now: DateTime<Utc>) -> Vec<(Event, Signal)> {
        let mut out = Vec::new();
        for rule in &mut self.camera_offline {
            rule.on_clock(now, &mut out);
        }
        out
    }

    /// A read matching a wanted, stolen or banned entry. The incident is the entry at this
    /// site: every read of that vehicle at any gate of the compound, by any track (a track
    /// split in two included), is a sighting of one alert.
    fn watchlists(&self, ev: &Event, read: &PlateRead, lists: &Registry, out: &mut Vec<Signal>) {
        let reads = plate_reads(read);
        let from_config = self.config_lists.matches(&reads, ev.captured_at).into_iter().map(|m| {
            let cooldown = self.config_list_cooldowns.get(&m.label).copied().unwrap_or(self.list_cooldown);
            (m.label.clone(), cooldown, m)
        });
        let from_store = lists
            .matches(&reads, ev.captured_at)
            .into_iter()
            .map(|m| (m.kind.as_str().to_string(), self.list_cooldown, m));
        for (rule, cooldown, m) in from_config.chain(from_store).filter(|(_, _, m)| m.kind.alerts()) {
            let cam = camera_path(ev);
            let key = format!("watchlist:{rule}:{}:{}", ev.site, m.entry_plate);
            let message = format!(
                "vehicle on the {} list ({}) at {cam}, track {}: match distance {:.1}",
                m.kind.as_str(),
                m.label,
                read.track,
                m.distance
            );
            let alert = plate_alert(ev, read, AlertKind::Watchlist, rule, key, message, Some(m));
            out.push(Signal::Seen(Sighting { alert, cooldown, score: read.confidence }));
        }
    }
}

/// The voted plate and the other candidates, for matching.
fn plate_reads(read: &PlateRead) -> Vec<&str> {
    std::iter::once(read.plate.as_str()).chain(read.candidates.iter().map(String::as_str)).collect()
}

/// Whether a rule limited to `places` (compounds, gate boxes or cameras: `site`, `site/edge`,
/// `site/edge/camera`; none: everywhere) looks at this event.
pub(crate) fn watches(places: &[String], ev: &Event) -> bool {
    places.is_empty()
        || places.iter().any(|p| {
            let mut parts = p.splitn(3, '/');
            let (site, edge, camera) = (parts.next(), parts.next(), parts.next());
            site == Some(ev.site.as_str()) && edge.is_none_or(|e| e == ev.edge) && camera.is_none_or(|c| c == ev.camera)
        })
}

/// Check a rule's `cameras` list: each a `site`, `site/edge` or `site/edge/camera`.
pub(crate) fn check_places(at: &str, field: &str, places: &[String], errors: &mut Vec<String>) {
    for p in places {
        let parts: Vec<&str> = p.split('/').collect();
        if parts.len() > 3 || !parts.iter().all(|x| crate::topic::valid_id(x)) {
            errors.push(format!("{at}: {field}: {p:?} is not a site, site/edge or site/edge/camera"));
        }
    }
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
    fn on_event(&mut self, ev: &Event, tz: LocalTime, out: &mut Vec<Signal>) {
        let cam: CameraKey = (ev.site.clone(), ev.edge.clone(), ev.camera.clone());
        if !watches(&self.cfg.cameras, ev) {
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
                    // Raises the stay if no tick did; otherwise updates it with the whole dwell.
                    self.signal(&key, since, shown, true, ev, tz, min, out);
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
            .filter(|(k, (since, _))| k.0 == cam && now - *since >= min && !self.alerted.contains(*k))
            .map(|(k, (since, _))| (k.clone(), *since))
            .collect();
        for (key, since) in due {
            let dwell = (now - since).num_milliseconds() as f64 / 1000.0;
            self.alerted.insert(key.clone());
            self.signal(&key, since, dwell, false, ev, tz, min, out);
        }
        self.presences.retain(|_, (since, _)| now - *since < MAX_PRESENCE);
    }

    /// Signal the stay of `key` that began at `since` (the incident: camera, track, zone and
    /// entry), dated when the dwell passed the limit.
    #[allow(clippy::too_many_arguments)]
    fn signal(
        &self,
        key: &PresenceKey,
        since: DateTime<Utc>,
        dwell_s: f64,
        left: bool,
        ev: &Event,
        tz: LocalTime,
        min: Duration,
        out: &mut Vec<Signal>,
    ) {
        let began = since.checked_add_signed(min).unwrap_or_else(latest).min(latest());
        if self.window.is_some_and(|w| !w.contains(began, tz)) {
            return;
        }
        let ((site, edge, camera), track, zone) = key.clone();
        let verb = if left { "stayed" } else { "has been" };
        let alert = Alert {
            alert_id: Uuid::now_v7(),
            key: format!(
                "loitering:{}:{site}/{edge}/{camera}:{track}:{zone}:{}",
                self.cfg.name,
                since.timestamp_millis()
            ),
            rule: self.cfg.name.clone(),
            kind: AlertKind::Loitering,
            message: format!(
                "track {track} {verb} in zone '{zone}' for {dwell_s:.0} s (limit {} s) at {site}/{edge}/{camera}",
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
        };
        // A closed stay never raises again (see `LoiteringConfig`).
        out.push(Signal::Seen(Sighting { alert, cooldown: Duration::MAX, score: 0.0 }));
    }
}

impl CameraOffline {
    fn key(&self, cam: &CameraKey, since: &Event) -> String {
        let (site, edge, camera) = cam;
        format!("camera_offline:{}:{site}/{edge}/{camera}:{}", self.cfg.name, since.captured_at.timestamp_millis())
    }

    fn on_event(&mut self, ev: &Event, out: &mut Vec<Signal>) {
        let cam: CameraKey = (ev.site.clone(), ev.edge.clone(), ev.camera.clone());
        if !watches(&self.cfg.cameras, ev) {
            return;
        }
        let back = match &ev.body {
            EventBody::CameraOffline { .. } => {
                self.down.entry(cam).or_insert_with(|| (ev.clone(), false));
                return;
            }
            EventBody::CameraOnline { .. } => true,
            EventBody::CameraStats { frames_decoded, .. } => *frames_decoded > 0,
            _ => false,
        };
        if !back {
            return;
        }
        // Back: forget the outage; close its alert if it had one.
        if let Some((since, true)) = self.down.remove(&cam) {
            let secs = (ev.captured_at - since.captured_at).num_seconds().max(0);
            out.push(Signal::Ended(Ending {
                key: self.key(&cam, &since),
                at: ev.captured_at,
                event_id: ev.event_id,
                note: format!("camera back after {secs} s"),
            }));
        }
    }

    fn on_clock(&mut self, now: DateTime<Utc>, out: &mut Vec<(Event, Signal)>) {
        let after = self.after;
        let due: Vec<CameraKey> = self
            .down
            .iter()
            .filter(|(_, (since, alerted))| !alerted && now.signed_duration_since(since.captured_at) >= after)
            .map(|(k, _)| k.clone())
            .collect();
        for cam in due {
            let Some((since, alerted)) = self.down.get_mut(&cam) else { continue };
            *alerted = true;
            let since = since.clone();
            let (site, edge, camera) = cam.clone();
            let reason = match &since.body {
                EventBody::CameraOffline { reason } => reason.chars().take(200).collect::<String>(),
                _ => String::new(),
            };
            let alert = Alert {
                alert_id: Uuid::now_v7(),
                key: self.key(&cam, &since),
                rule: self.cfg.name.clone(),
                kind: AlertKind::CameraOffline,
                message: format!(
                    "camera {site}/{edge}/{camera} offline for more than {:.0} s: {}",
                    self.cfg.after_s,
                    reason.escape_debug()
                ),
                site,
                edge,
                camera,
                track: None,
                zone: None,
                plate: None,
                matched: None,
                candidates: vec![],
                at: since.captured_at.checked_add_signed(after).unwrap_or_else(latest).min(latest()),
                event_id: since.event_id,
            };
            // One outage, one incident: a closed one stays closed.
            out.push((since, Signal::Seen(Sighting { alert, cooldown: Duration::MAX, score: 0.0 })));
        }
    }
}

impl Stationary {
    fn key(&self, cam: &CameraKey, episode: TrackId) -> String {
        let (site, edge, camera) = cam;
        format!("stationary:{}:{site}/{edge}/{camera}:{episode}", self.cfg.name)
    }

    fn on_event(&mut self, ev: &Event, tz: LocalTime, out: &mut Vec<Signal>) {
        let cam: CameraKey = (ev.site.clone(), ev.edge.clone(), ev.camera.clone());
        if !watches(&self.cfg.cameras, ev) {
            return;
        }
        let now = ev.captured_at;
        match &ev.body {
            EventBody::StationaryStarted { track, class, episode, since, zones, .. }
                if self.cfg.classes.contains(class) && zones.contains(&self.cfg.zone) =>
            {
                // The edge's word on when it stopped, within reason: not after this event, not
                // more than a year before it.
                let floor = now.checked_sub_signed(dwell(MAX_DWELL_S)).unwrap_or_else(earliest).max(earliest());
                let since = (*since).clamp(floor, now);
                let p = self.parked.entry((cam.clone(), *episode)).or_insert(Parked {
                    since,
                    track: *track,
                    class: *class,
                    alerted: false,
                });
                p.track = *track;
            }
            EventBody::StationaryEnded { episode, reason, .. } => {
                let key = (cam.clone(), *episode);
                let known = self.parked.remove(&key);
                // Known or not (rule state older than the replay window), its alert closes.
                if known.as_ref().is_none_or(|p| p.alerted) {
                    let how = match reason {
                        StationaryEnd::Moved => "drove off",
                        StationaryEnd::Gone => "no longer seen",
                    };
                    out.push(Signal::Ended(Ending {
                        key: self.key(&cam, *episode),
                        at: now,
                        event_id: ev.event_id,
                        note: match known {
                            Some(p) => format!("{how} after {}", span(now.signed_duration_since(p.since))),
                            None => how.to_string(),
                        },
                    }));
                }
            }
            _ => {}
        }
        // This camera's clock: who has stood long enough?
        let min = self.min;
        let due: Vec<TrackId> = self
            .parked
            .iter()
            .filter(|((c, _), p)| *c == cam && !p.alerted && now.signed_duration_since(p.since) >= min)
            .map(|((_, e), _)| *e)
            .collect();
        for episode in due {
            let key = self.key(&cam, episode);
            let Some(p) = self.parked.get_mut(&(cam.clone(), episode)) else { continue };
            p.alerted = true;
            let began = p.since.checked_add_signed(min).unwrap_or_else(latest).min(latest());
            if self.window.is_some_and(|w| !w.contains(began, tz)) {
                continue;
            }
            let (site, edge, camera) = cam.clone();
            let parked_s = now.signed_duration_since(p.since).num_seconds();
            let alert = Alert {
                alert_id: Uuid::now_v7(),
                key,
                rule: self.cfg.name.clone(),
                kind: AlertKind::Stationary,
                message: format!(
                    "{} parked in zone '{}' for {parked_s} s (limit {} s) at {site}/{edge}/{camera}, track {}",
                    p.class, self.cfg.zone, self.cfg.min_parked_s, p.track
                ),
                site,
                edge,
                camera,
                track: Some(p.track),
                zone: Some(self.cfg.zone.clone()),
                plate: None,
                matched: None,
                candidates: vec![],
                at: began,
                event_id: ev.event_id,
            };
            // One parking episode, one incident: once closed it stays closed.
            out.push(Signal::Seen(Sighting { alert, cooldown: Duration::MAX, score: 0.0 }));
        }
    }
}

/// A tampering is one incident (camera + when it began): raised by `camera_tampered`, closed
/// by the `camera_view_restored` of the same start.
fn tampering(rule: &TamperingConfig, ev: &Event, out: &mut Vec<Signal>) {
    let cam = camera_path(ev);
    if !watches(&rule.cameras, ev) {
        return;
    }
    let key = |since: &DateTime<Utc>| format!("tampering:{}:{cam}:{}", rule.name, since.timestamp_millis());
    match &ev.body {
        EventBody::CameraTampered { what, since, score, .. } if rule.what.contains(what) => {
            let alert = Alert {
                alert_id: Uuid::now_v7(),
                key: key(since),
                rule: rule.name.clone(),
                kind: AlertKind::Tampering,
                message: format!(
                    "camera {cam} {}: its view is not what it was (measure {score:.2})",
                    match what {
                        Tampering::Covered => "covered",
                        Tampering::Blurred => "blurred or out of focus",
                        Tampering::Moved => "turned away",
                    }
                ),
                site: ev.site.clone(),
                edge: ev.edge.clone(),
                camera: ev.camera.clone(),
                track: None,
                zone: None,
                plate: None,
                matched: None,
                candidates: vec![],
                // When the edge says it began, never after it said so.
                at: (*since).min(ev.captured_at),
                event_id: ev.event_id,
            };
            out.push(Signal::Seen(Sighting { alert, cooldown: Duration::MAX, score: 0.0 }));
        }
        EventBody::CameraViewRestored { what, since, tampered_s } if rule.what.contains(what) => {
            out.push(Signal::Ended(Ending {
                key: key(since),
                at: ev.captured_at,
                event_id: ev.event_id,
                note: format!("view back after {:.0} s", tampered_s.min(MAX_DWELL_S)),
            }));
        }
        _ => {}
    }
}

impl UnknownVehicle {
    /// A settled read of a plate on no resident list and with no valid pass, in the window.
    /// The incident is the plate at this site.
    fn on_plate(&self, ev: &Event, read: &PlateRead, lists: &Registry, tz: LocalTime, out: &mut Vec<Signal>) {
        let cam = camera_path(ev);
        if !watches(&self.cfg.cameras, ev) {
            return;
        }
        if !self.cfg.trusts(read) {
            return;
        }
        if self.window.is_some_and(|w| !w.contains(ev.captured_at, tz))
            || lists.is_known(&plate_reads(read), ev.captured_at)
        {
            return;
        }
        let key = format!("unknown_vehicle:{}:{}:{}", self.cfg.name, ev.site, read.plate);
        let message = format!("vehicle on no resident list and with no valid pass at {cam}, track {}", read.track);
        let alert = plate_alert(ev, read, AlertKind::UnknownVehicle, self.cfg.name.clone(), key, message, None);
        out.push(Signal::Seen(Sighting { alert, cooldown: self.cooldown, score: read.confidence }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{PlateRead, SCHEMA_V1};
    use crate::incident::{Action, IncidentBook, Outcome};
    use crate::registry::{ListEntry, ListKind};

    /// The rules with the incident lifecycle behind them, as the aggregator and store run them.
    #[derive(Debug)]
    struct Rules {
        rules: RuleSet,
        book: IncidentBook,
        /// Every outcome so far, in order.
        outcomes: Vec<Outcome>,
    }

    impl Rules {
        fn new(cfg: &RulesConfig) -> Result<Self, Vec<String>> {
            Ok(Self { rules: RuleSet::new(cfg)?, book: IncidentBook::default(), outcomes: vec![] })
        }

        /// Apply an event with no stored plate lists; returns the alerts it raised.
        fn on(&mut self, ev: &Event) -> Vec<Alert> {
            self.on_event(ev, &Registry::default())
        }

        /// Apply an event; returns the alerts it raised (updates are in `outcomes`).
        fn on_event(&mut self, ev: &Event, lists: &Registry) -> Vec<Alert> {
            let mut raised = vec![];
            for signal in self.rules.on_event(ev, lists) {
                let outcome = self.book.apply(&signal);
                if let Outcome::Raised(a) = &outcome {
                    raised.push(a.clone());
                }
                self.outcomes.push(outcome);
            }
            raised
        }

        fn updates(&self) -> usize {
            self.outcomes.iter().filter(|o| matches!(o, Outcome::Updated(..))).count()
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
            thumbnail: None,
        }
    }

    fn loitering(window: Option<&str>) -> Rules {
        Rules::new(&RulesConfig {
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
        let entry = e.captured_at.timestamp_millis();
        assert_eq!(a.key, format!("loitering:shed-night:north/gate-1/cam1:7:shed:{entry}"));
        // Further ticks, a duplicate delivery of the entry, and the leave: no second alert.
        assert!(rules.on(&clock.advance(30).event(tick())).is_empty());
        assert!(rules.on(&e).is_empty());
        let left = EventBody::ZoneLeft { track: 7, class: ObjectClass::Person, zone: "shed".into(), dwell_s: 95.0 };
        assert!(rules.on(&clock.advance(5).event(left)).is_empty());
        // The leave updates the alert with the whole stay; nothing else did.
        assert_eq!(rules.updates(), 1, "{:?}", rules.outcomes);
        // The same track back in the zone is another stay: another incident.
        rules.on(&clock.advance(10).event(entered(7)));
        assert_eq!(rules.on(&clock.advance(61).event(tick())).len(), 1);
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

    #[test]
    fn time_windows_follow_daylight_saving_time_in_a_named_zone() {
        let night = TimeWindow::parse("22:00-06:00").unwrap();
        let berlin = LocalTime::from_config(Some("Europe/Berlin"), "+00:00").unwrap();
        let fixed = LocalTime::from_config(None, "+01:00").unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Clocks go forward at 02:00 on 2026-03-29: 04:30 UTC is 06:30 in Berlin, not 05:30.
        assert!(night.contains(t("2026-03-29T03:30:00Z"), berlin), "05:30 local (CEST): night");
        assert!(!night.contains(t("2026-03-29T04:30:00Z"), berlin), "06:30 local (CEST): morning");
        assert!(night.contains(t("2026-03-29T04:30:00Z"), fixed), "a fixed +01:00 would still say 05:30");
        // Across midnight before the change: 21:30 UTC on the 28th is 22:30 CET.
        assert!(night.contains(t("2026-03-28T21:30:00Z"), berlin));
        assert!(!night.contains(t("2026-03-28T20:30:00Z"), berlin), "21:30 CET: not yet");
        // Clocks go back at 03:00 on 2026-10-25: 05:30 UTC is 06:30 CET (outside), 04:30 UTC is 05:30.
        assert!(night.contains(t("2026-10-25T04:30:00Z"), berlin));
        assert!(!night.contains(t("2026-10-25T05:30:00Z"), berlin));
        // Shanghai has no DST: the same as +08:00 all year.
        let shanghai = LocalTime::from_config(Some("Asia/Shanghai"), "+00:00").unwrap();
        let plus8 = LocalTime::from_config(None, "+08:00").unwrap();
        for at in ["2026-01-15T15:00:00Z", "2026-07-15T21:59:00Z", "2026-07-15T22:00:00Z"] {
            assert_eq!(night.contains(t(at), shanghai), night.contains(t(at), plus8), "{at}");
        }
        assert!(LocalTime::from_config(Some("Mars/Olympus"), "+00:00").is_err());
        let both = RuleSet::new(&RulesConfig {
            timezone: Some("Asia/Shanghai".into()),
            utc_offset: "+08:00".into(),
            ..Default::default()
        });
        assert_eq!(both.unwrap_err(), vec!["rules: set timezone or utc_offset, not both".to_string()]);
    }

    #[test]
    fn a_camera_offline_too_long_raises_once_and_closes_when_back() {
        let mut rules = Rules::new(&RulesConfig {
            camera_offline: vec![CameraOfflineConfig { name: "blind-gate".into(), after_s: 60.0, cameras: vec![] }],
            ..Default::default()
        })
        .unwrap();
        let mut clock = Clock::at("2026-12-01T03:00:00Z");
        let down = clock.event(EventBody::CameraOffline { reason: "rtsp: connection refused".into() });
        rules.on(&down);
        let on_clock = |rules: &mut Rules, at: &str| {
            let signals = rules.rules.on_clock(at.parse().unwrap());
            signals.into_iter().map(|(ev, s)| (ev.event_id, rules.book.apply(&s))).collect::<Vec<_>>()
        };
        assert!(on_clock(&mut rules, "2026-12-01T03:00:59Z").is_empty(), "59 s: not yet");
        let raised = on_clock(&mut rules, "2026-12-01T03:01:00Z");
        let [(event, Outcome::Raised(a))] = raised.as_slice() else { panic!("{raised:?}") };
        assert_eq!(
            (*event, a.kind, a.at),
            (down.event_id, AlertKind::CameraOffline, "2026-12-01T03:01:00Z".parse().unwrap())
        );
        assert!(a.message.contains("connection refused"), "{}", a.message);
        assert!(on_clock(&mut rules, "2026-12-01T03:05:00Z").is_empty(), "raised once");
        // Back: the alert closes by itself, saying after how long.
        let back = clock.advance(600).event(EventBody::CameraOnline { width: 1920, height: 1080 });
        let signals = rules.rules.on_event(&back, &Registry::default());
        let [Signal::Ended(end)] = signals.as_slice() else { panic!("{signals:?}") };
        assert_eq!((end.key.as_str(), end.note.as_str()), (a.key.as_str(), "camera back after 600 s"));
        assert_eq!(rules.book.apply(&signals[0]), Outcome::Closed(a.alert_id));
        // A short outage raises nothing and ends nothing.
        rules.on(&clock.advance(10).event(EventBody::CameraOffline { reason: "eos".into() }));
        assert!(rules.on(&clock.advance(20).event(tick())).is_empty());
        assert!(on_clock(&mut rules, "2026-12-01T03:10:50Z").is_empty());
    }

    fn fire_lane(window: Option<&str>) -> Rules {
        Rules::new(&RulesConfig {
            timezone: Some("Asia/Shanghai".into()),
            stationary: vec![StationaryRuleConfig {
                name: "fire-lane".into(),
                zone: "lane".into(),
                min_parked_s: 300.0,
                classes: default_vehicles(),
                window: window.map(String::from),
                cameras: vec![],
            }],
            ..Default::default()
        })
        .unwrap()
    }

    fn stopped(track: TrackId, episode: TrackId, since: DateTime<Utc>, zone: &str) -> EventBody {
        EventBody::StationaryStarted {
            track,
            class: ObjectClass::Car,
            episode,
            since,
            bbox: crate::geometry::BBox::new(10.0, 10.0, 130.0, 70.0),
            zones: vec![zone.into()],
            resumed: track != episode,
            snapshot: None,
        }
    }

    fn drove_off(track: TrackId, episode: TrackId, since: DateTime<Utc>, reason: StationaryEnd) -> EventBody {
        EventBody::StationaryEnded { track, class: ObjectClass::Car, episode, since, stationary_s: 0.0, reason }
    }

    #[test]
    fn a_parked_car_raises_once_per_episode_and_closes_when_it_drives_off() {
        let mut rules = fire_lane(None);
        let mut clock = Clock::at("2026-12-01T14:00:10Z");
        let since: DateTime<Utc> = "2026-12-01T14:00:00Z".parse().unwrap();
        assert!(rules.on(&clock.event(stopped(7, 7, since, "lane"))).is_empty());
        assert!(rules.on(&clock.advance(280).event(tick())).is_empty(), "4 min 50 s: not yet");
        let raised = rules.on(&clock.advance(20).event(tick()));
        assert_eq!(raised.len(), 1);
        let a = &raised[0];
        assert_eq!((a.kind, a.track, a.zone.as_deref()), (AlertKind::Stationary, Some(7), Some("lane")));
        assert_eq!(a.at, since + Duration::seconds(300), "dated when the limit passed, from when it stopped");
        assert_eq!(a.key, "stationary:fire-lane:north/gate-1/cam1:7");
        // Its track breaks and a new track takes the episode over: no new alert, no new clock.
        assert!(rules.on(&clock.advance(60).event(stopped(1004, 7, since, "lane"))).is_empty());
        assert!(rules.on(&clock.advance(600).event(tick())).is_empty());
        // It drives off: the alert closes by itself, saying after how long.
        let off = clock.advance(40).event(drove_off(1004, 7, since, StationaryEnd::Moved));
        let signals = rules.rules.on_event(&off, &Registry::default());
        let [Signal::Ended(end)] = signals.as_slice() else { panic!("{signals:?}") };
        assert_eq!((end.key.as_str(), end.note.as_str()), (a.key.as_str(), "drove off after 16 min"));
        assert_eq!(rules.book.apply(&signals[0]), Outcome::Closed(a.alert_id));
        // The same car parking there again later is another episode: another alert.
        let later = clock.advance(30).t;
        rules.on(&clock.event(stopped(1010, 1010, later, "lane")));
        assert_eq!(rules.on(&clock.advance(301).event(tick())).len(), 1);
    }

    #[test]
    fn a_car_waiting_briefly_or_parked_elsewhere_raises_nothing() {
        let mut rules = fire_lane(None);
        let mut clock = Clock::at("2026-12-01T14:00:00Z");
        let since = clock.t;
        // At the red light for 90 s, then on.
        rules.on(&clock.event(stopped(1, 1, since, "lane")));
        let off = rules
            .rules
            .on_event(&clock.advance(90).event(drove_off(1, 1, since, StationaryEnd::Moved)), &Registry::default());
        assert!(off.is_empty(), "nothing to close: {off:?}");
        assert!(rules.on(&clock.advance(600).event(tick())).is_empty());
        // Parked in another zone, or a person standing in the lane.
        rules.on(&clock.event(stopped(2, 2, clock.t, "visitor-bays")));
        let mut walker = stopped(3, 3, clock.t, "lane");
        if let EventBody::StationaryStarted { class, .. } = &mut walker {
            *class = ObjectClass::Person;
        }
        rules.on(&clock.event(walker));
        assert!(rules.on(&clock.advance(3600).event(tick())).is_empty());
        // A parked car on another camera does not make this camera's clock tick for it.
        let mut other = Clock::at("2026-12-01T15:00:00Z");
        let mut ev = other.event(stopped(4, 4, other.t, "lane"));
        ev.camera = "cam2".into();
        rules.on(&ev);
        assert!(rules.on(&clock.advance(400).event(tick())).is_empty(), "cam1's clock says nothing of cam2");
    }

    #[test]
    fn a_fire_lane_window_across_midnight_in_local_time() {
        // 22:00-06:00 in Shanghai (+08:00): a car stopping at 21:57 local passes 5 min at 22:02.
        let mut night = fire_lane(Some("22:00-06:00"));
        let mut clock = Clock::at("2026-12-01T13:57:00Z");
        night.on(&clock.event(stopped(1, 1, clock.t, "lane")));
        assert_eq!(night.on(&clock.advance(300).event(tick())).len(), 1, "22:02 local: inside the window");
        // One stopping at 05:57 local passes its limit at 06:02: outside, and never later.
        let mut clock = Clock::at("2026-12-01T21:57:00Z");
        night.on(&clock.event(stopped(2, 2, clock.t, "lane")));
        assert!(night.on(&clock.advance(300).event(tick())).is_empty());
        assert!(night.on(&clock.advance(3600).event(tick())).is_empty());
    }

    #[test]
    fn a_parked_car_gone_unseen_closes_and_hostile_times_stay_sane() {
        let mut rules = fire_lane(None);
        let mut clock = Clock::at("2026-12-01T14:00:00Z");
        // The edge claims the car stopped in the year 0 and in the future.
        let raised = rules.on(&clock.event(stopped(1, 1, earliest(), "lane")));
        assert!(rules.on(&clock.event(stopped(2, 2, latest(), "lane"))).is_empty(), "the future one is not due");
        assert_eq!(raised.len(), 1, "the year-0 one is past its limit at once: {raised:?}");
        assert!(clock.t - raised[0].at <= Duration::days(366), "dated at most a year back: {}", raised[0].at);
        let raised = rules.on(&clock.advance(300).event(tick()));
        assert_eq!(raised.len(), 1, "the future one counts from now");
        let gone = clock.event(drove_off(1, 1, earliest(), StationaryEnd::Gone));
        let signals = rules.rules.on_event(&gone, &Registry::default());
        let [Signal::Ended(end)] = signals.as_slice() else { panic!("{signals:?}") };
        assert!(end.note.starts_with("no longer seen after "), "{}", end.note);
        // An end for an episode the rules never saw (older than their replay) still closes its alert.
        let unknown = clock.event(drove_off(77, 77, clock.t, StationaryEnd::Moved));
        let signals = rules.rules.on_event(&unknown, &Registry::default());
        assert!(matches!(signals.as_slice(), [Signal::Ended(e)] if e.note == "drove off"), "{signals:?}");
    }

    #[test]
    fn a_tampered_view_raises_once_and_closes_when_restored() {
        let mut rules = Rules::new(&RulesConfig {
            tampering: vec![TamperingConfig {
                name: "tamper".into(),
                what: vec![Tampering::Covered, Tampering::Moved],
                cameras: vec![],
            }],
            ..Default::default()
        })
        .unwrap();
        let mut clock = Clock::at("2026-12-01T02:00:05Z");
        let since: DateTime<Utc> = "2026-12-01T02:00:00Z".parse().unwrap();
        let covered = EventBody::CameraTampered { what: Tampering::Covered, since, score: 0.05, snapshot: None };
        let raised = rules.on(&clock.event(covered.clone()));
        assert_eq!(raised.len(), 1);
        assert_eq!((raised[0].kind, raised[0].at), (AlertKind::Tampering, since));
        assert!(raised[0].message.contains("covered"), "{}", raised[0].message);
        assert!(rules.on(&clock.advance(1).event(covered)).is_empty(), "a repeat is a sighting, not an alert");
        let back = EventBody::CameraViewRestored { what: Tampering::Covered, since, tampered_s: 95.0 };
        let signals = rules.rules.on_event(&clock.advance(90).event(back), &Registry::default());
        let [Signal::Ended(end)] = signals.as_slice() else { panic!("{signals:?}") };
        assert_eq!((end.key.as_str(), end.note.as_str()), (raised[0].key.as_str(), "view back after 95 s"));
        // Blur is not among this rule's `what`; a new covering is a new incident.
        let blur = EventBody::CameraTampered { what: Tampering::Blurred, since: clock.t, score: 0.2, snapshot: None };
        assert!(rules.on(&clock.event(blur)).is_empty());
        let again = EventBody::CameraTampered { what: Tampering::Covered, since: clock.t, score: 0.1, snapshot: None };
        assert_eq!(rules.on(&clock.advance(5).event(again)).len(), 1);
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
        let mut rules = Rules::new(&RulesConfig {
            watchlist: vec![WatchlistConfig {
                name: "wanted-cfg".into(),
                plates: vec!["京A·12345".into()],
                cooldown_s: 600.0,
            }],
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
        // The same vehicle read again, by the same track or by a fragment of it: one incident.
        assert!(rules.on(&clock.advance(1).event(plate(2, "京A12345", &[]))).is_empty(), "same track: an update");
        assert!(rules.on(&clock.event(plate(3, "京A12345", &[]))).is_empty(), "another track: an update");
        assert_eq!(rules.updates(), 2);
        let mut south = clock.event(plate(4, "京A12345", &[]));
        south.site = "south".into();
        assert_eq!(rules.on(&south).len(), 1, "another compound: its own incident");
    }

    #[test]
    fn a_resolved_watchlist_incident_raises_again_only_after_its_cooldown() {
        let mut rules = Rules::new(&RulesConfig {
            watchlist: vec![WatchlistConfig {
                name: "wanted-cfg".into(),
                plates: vec!["京A12345".into()],
                cooldown_s: 600.0,
            }],
            ..Default::default()
        })
        .unwrap();
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let raised = rules.on(&clock.event(plate(1, "京A12345", &[])));
        assert_eq!(raised.len(), 1);
        rules.book.act(&raised[0].key, Action::Acknowledge, clock.t).unwrap();
        assert!(rules.on(&clock.advance(60).event(plate(1, "京A12345", &[]))).is_empty(), "acknowledged: update");
        assert_eq!(rules.updates(), 1);
        rules.book.act(&raised[0].key, Action::Resolve, clock.t).unwrap();
        // Back 9 minutes later: within the cooldown, nothing.
        assert!(rules.on(&clock.advance(540).event(plate(2, "京A12345", &[]))).is_empty());
        assert_eq!(rules.outcomes.last(), Some(&Outcome::Suppressed));
        // 10 minutes after the resolve: a new alert.
        let again = rules.on(&clock.advance(60).event(plate(3, "京A12345", &[])));
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].alert_id, raised[0].alert_id);
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
        let mut rules = Rules::new(&RulesConfig::default()).unwrap();
        let lists = stored_lists();
        let mut clock = Clock::at("2026-11-28T12:00:00Z");
        let alerts = rules.on_event(&clock.event(plate(1, "沪A77777", &[])), &lists);
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].rule.as_str(), alerts[0].kind), ("stolen", AlertKind::Watchlist));
        assert!(rules.on_event(&clock.event(plate(2, "京B12345", &[])), &lists).is_empty(), "residents raise nothing");
    }

    #[test]
    fn unknown_vehicles_at_night_with_passes_on_a_moved_clock() {
        let mut rules = Rules::new(&RulesConfig {
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
            Rules::new(&RulesConfig { unknown_vehicle: vec![cfg], ..Default::default() }).unwrap()
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
        assert_eq!(Rules::new(&bad).unwrap_err().len(), 1);
    }

    #[test]
    fn a_rule_can_watch_a_compound_a_gate_box_or_one_camera() {
        let mut clock = Clock::at("2026-12-01T12:00:00Z");
        let ev = clock.event(tick()); // north/gate-1/cam1
        let places = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(watches(&[], &ev), "no places: everywhere");
        for yes in [&["north"][..], &["north/gate-1"], &["north/gate-1/cam1"], &["south", "north"]] {
            assert!(watches(&places(yes), &ev), "{yes:?}");
        }
        for no in [&["south"][..], &["north/gate-2"], &["north/gate-1/cam2"], &["nor"], &["north/gate-1/cam1/x"]] {
            assert!(!watches(&places(no), &ev), "{no:?}");
        }
        let mut errors = vec![];
        check_places("r", "cameras", &places(&["north", "north/gate 1", "a/b/c/d", ""]), &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
        // A gated compound's night rule leaves the open compounds alone.
        let mut gated = Rules::new(&RulesConfig {
            unknown_vehicle: vec![UnknownVehicleConfig {
                cameras: vec!["north".into()],
                ..UnknownVehicleConfig::new("night", "00:00-23:59")
            }],
            ..Default::default()
        })
        .unwrap();
        let mut south = clock.event(plate(1, "粤Z99999", &[]));
        south.site = "south".into();
        assert!(gated.on(&south).is_empty());
        assert_eq!(gated.on(&clock.event(plate(2, "粤Z99999", &[]))).len(), 1);
    }

    #[test]
    fn bad_configuration_reports_every_error() {
        let errors = Rules::new(&RulesConfig {
            utc_offset: "8".into(),
            loitering: vec![LoiteringConfig {
                name: "x".into(),
                zone: "z".into(),
                min_dwell_s: -1.0,
                classes: vec![],
                window: Some("25:00-01:00".into()),
                cameras: vec![],
            }],
            watchlist: vec![WatchlistConfig { name: "x".into(), plates: vec!["<b>".into()], cooldown_s: f64::NAN }],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(errors.len(), 7, "{errors:#?}");
    }
}

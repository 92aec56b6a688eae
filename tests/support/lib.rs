//! Shared helpers for the whole-system tests in `tests/`: where the real assets are, and a
//! real Mosquitto broker started on a free port that a test can stop and restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (where `models/` and `media/` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A real asset made by `deploy/setup.sh`; panics with the fix if it is missing.
pub fn asset(relative: &str) -> PathBuf {
    let p = repo_root().join(relative);
    assert!(p.exists(), "{} is missing: run deploy/setup.sh first", p.display());
    p
}

pub fn vision_config() -> gatewatch_core::config::VisionConfig {
    gatewatch_core::config::VisionConfig {
        model: asset("models/nanodet-m-416.onnx"),
        onnxruntime: asset("models/onnxruntime/libonnxruntime.so"),
        ..Default::default()
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    gatewatch_harness::free_port().expect("free port")
}

/// Log to the test output (`RUST_LOG` filters; default warnings and errors).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

pub use gatewatch_harness::{LocalPostgres, Mosquitto};

/// Wait until `f` holds, polling; panics with `what` after `limit`.
pub async fn eventually<F: FnMut() -> bool>(limit: Duration, what: &str, mut f: F) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Run a command and return stdout (for tests that drive the `gatewatch` binary).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("command runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Kill a child process on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long whole-system waits may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// An edge config for tests that drive the edge's delivery path (spool, publisher) with
/// synthetic events: site/edge ids, a broker port, a spool directory. Its one camera is never
/// opened.
pub fn edge_config(site: &str, edge: &str, port: u16, spool: &Path) -> gatewatch_core::config::EdgeConfig {
    let text = format!(
        "site = \"{site}\"\nedge = \"{edge}\"\n[mqtt]\nport = {port}\n[spool]\ndir = \"{}\"\nresend_after_s = 3.0\n\
         [[cameras]]\nid = \"cam\"\nuri = \"rtsp://127.0.0.1:9/none\"\n",
        spool.display()
    );
    gatewatch_core::config::EdgeConfig::from_toml(&text).expect("test edge config is valid")
}

/// The `i`-th synthetic event of a camera: a mix of routine and rule-relevant kinds, with its
/// own event id; the publisher stamps the seq.
pub fn synthetic_event(site: &str, edge: &str, camera: &str, i: u64) -> gatewatch_core::event::Event {
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::event::{EventBody, SCHEMA_V1};
    let track = i / 3;
    let body = match i % 3 {
        0 => EventBody::CameraStats {
            frames_decoded: i,
            frames_inferred: i / 2,
            frames_dropped: 0,
            frames_gated: 0,
            period_s: 1.0,
            thumbnail: None,
        },
        1 => EventBody::ZoneEntered { track, class: ObjectClass::Person, zone: "gate".into() },
        _ => EventBody::ZoneLeft { track, class: ObjectClass::Person, zone: "gate".into(), dwell_s: 1.5 },
    };
    gatewatch_core::event::Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: site.into(),
        edge: edge.into(),
        camera: camera.into(),
        seq: 0,
        captured_at: chrono::Utc::now(),
        body,
    }
}

/// The edge's real delivery path for `cfg`: its spool, its MQTT connection, its publisher.
pub fn edge_publisher(cfg: &gatewatch_core::config::EdgeConfig) -> gatewatch_edge::Publisher {
    let spool = gatewatch_edge::spool::Spool::open(&cfg.spool).expect("spool opens");
    let mqtt = gatewatch_edge::connect(cfg).expect("edge connects");
    gatewatch_edge::Publisher::new(&cfg.site, &cfg.edge, &cfg.spool, spool, mqtt)
}

/// Run the real edge delivery path (spool + publisher + MQTT) fed with `rate` synthetic
/// events per second for `duration`; then wait up to `flush` for the aggregator's acks.
/// Returns the event ids produced, in order, and what delivery reported.
pub async fn synthetic_edge(
    cfg: &gatewatch_core::config::EdgeConfig,
    rate: f64,
    duration: Duration,
    flush: Duration,
) -> (Vec<uuid::Uuid>, gatewatch_edge::Delivered) {
    let publisher = edge_publisher(cfg);
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let (site, edge) = (cfg.site.clone(), cfg.edge.clone());
    let producer = tokio::spawn(async move {
        let mut ids = Vec::new();
        let start = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut i = 0u64;
        while start.elapsed() < duration {
            tick.tick().await;
            let due = (start.elapsed().as_secs_f64() * rate) as u64;
            while i < due {
                let ev = synthetic_event(&site, &edge, "cam", i);
                ids.push(ev.event_id);
                tx.send(ev).await.expect("publisher alive");
                i += 1;
            }
        }
        ids
    });
    let delivered = publisher.run(rx, flush).await;
    (producer.await.expect("producer"), delivered)
}

/// An aggregator running in this process; stop it with [`RunningAggregator::stop`].
pub struct RunningAggregator {
    pub counters: std::sync::Arc<gatewatch_aggregator::IngestCounters>,
    pub store: gatewatch_store::Store,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<gatewatch_aggregator::IngestSnapshot>>,
}

impl RunningAggregator {
    pub async fn start(cfg: gatewatch_core::config::AggregatorConfig) -> Self {
        let aggregator = gatewatch_aggregator::Aggregator::new(cfg).await.expect("aggregator starts");
        let (counters, store) = (aggregator.counters(), aggregator.store());
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(aggregator.run(rx));
        // Messages published before the broker has the subscription go nowhere (edges replay
        // them; a test's raw publisher would not): start once the aggregator listens.
        eventually(PATIENCE, "the aggregator to subscribe", || counters.snapshot().subscribed).await;
        Self { counters, store, stop, task }
    }

    pub async fn stop(self) -> gatewatch_aggregator::IngestSnapshot {
        self.stop_result().await.expect("aggregator ran")
    }

    /// Ask it to stop and return how its run ended (an ingest error included).
    pub async fn stop_result(self) -> anyhow::Result<gatewatch_aggregator::IngestSnapshot> {
        let _ = self.stop.send(true); // it may have ended by itself
        self.task.await.expect("aggregator task")
    }

    /// Its run ended by itself (an error no retry could fix).
    pub fn has_ended(&self) -> bool {
        self.task.is_finished()
    }
}

/// An aggregator config on a broker port and an SQLite file, with no rules.
pub fn aggregator_config(port: u16, db: &Path) -> gatewatch_core::config::AggregatorConfig {
    gatewatch_core::config::AggregatorConfig {
        mqtt: gatewatch_core::config::MqttConfig { port, ..Default::default() },
        database: gatewatch_core::config::DatabaseConfig { url: format!("sqlite://{}", db.display()) },
        ..Default::default()
    }
}

/// A car with a readable plate (5AU5341), from the real photo `media/car-5AU5341.png`: 4 s at
/// `fps`, the view narrowing from the whole photo to 75 % of it around the car's rear.
pub fn car_zoom_frames(w: u32, h: u32, fps: u32) -> Vec<Vec<u8>> {
    use image::imageops;
    let photo = image::open(asset("media/car-5AU5341.png")).unwrap().to_rgb8();
    let (pw, ph) = (photo.width() as f32, photo.height() as f32);
    let (cx, cy) = (0.62 * pw, 0.55 * ph);
    (0..4 * fps)
        .map(|i| {
            let s = 1.0 - 0.25 * i as f32 / (4 * fps - 1) as f32;
            let (cw, ch) = (pw * s, ph * s);
            let x = (cx - cw / 2.0).clamp(0.0, pw - cw);
            let y = (cy - ch / 2.0).clamp(0.0, ph - ch);
            let view = imageops::crop_imm(&photo, x as u32, y as u32, cw as u32, ch as u32).to_image();
            imageops::resize(&view, w, h, imageops::FilterType::Triangle).into_raw()
        })
        .collect()
}

/// The car's zoom twice with the view blank for `gap` frames between: the tracker loses it
/// and sees it again as a second track, as a fragmented track or a second pass is.
pub fn car_two_passes(w: u32, h: u32, fps: u32, gap: u32) -> Vec<Vec<u8>> {
    let zoom = car_zoom_frames(w, h, fps);
    let blank = vec![96u8; (w * h * 3) as usize];
    zoom.iter().cloned().chain((0..gap).map(|_| blank.clone())).chain(zoom.iter().cloned()).collect()
}

/// Plate reading with the real models, for the car photo's Czech plate: this detector, trained
/// on Chinese plates, scores it about 0.6, so the threshold is 0.5.
pub fn plates_config() -> gatewatch_core::config::PlatesConfig {
    gatewatch_core::config::PlatesConfig {
        enabled: true,
        detector: asset("models/clp_det.onnx"),
        recogniser: asset("models/ch_PP-OCRv4_rec_infer.onnx"),
        score_threshold: 0.5,
        ..Default::default()
    }
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.1, connection closed): the status and the body.
pub async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("the endpoint listens");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// The value of one sample in a Prometheus text exposition: `series` is the name with its
/// labels as written (`gatewatch_payloads_rejected_total{reason="malformed"}`).
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split_whitespace().next()?.parse().ok())
}

/// The demo's gate box with plate reading and one camera, `lane-in`, playing `clip` at 10
/// detections a second with no zones or lines (its first camera, as `deploy/demo-edge.toml`
/// has it, stays in `plaza`'s place for callers that add it back).
pub fn plate_lane_edge(
    port: u16,
    spool: &Path,
    clip: &Path,
) -> (gatewatch_core::config::EdgeConfig, gatewatch_core::config::CameraConfig) {
    let mut edge = gatewatch_core::config::EdgeConfig::from_toml(include_str!("../../deploy/demo-edge.toml")).unwrap();
    edge.mqtt.port = port;
    edge.vision = vision_config();
    edge.spool.dir = spool.to_path_buf();
    edge.plates = plates_config();
    let plaza = edge.cameras[0].clone();
    edge.cameras = vec![gatewatch_core::config::CameraConfig {
        id: "lane-in".into(),
        uri: clip.display().to_string(),
        detect_fps: 10.0,
        zones: vec![],
        lines: vec![],
        ..plaza.clone()
    }];
    (edge, plaza)
}

/// Debian's chromedriver on a free port, for tests that drive a real Chromium; stopped on drop.
pub struct ChromeDriver {
    _child: KillOnDrop,
    pub port: u16,
}

impl ChromeDriver {
    /// Start it; an error says how to install it.
    pub fn start() -> Result<Self, String> {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("chromedriver: {e} (deploy/setup.sh installs Debian's chromium and chromium-driver)")
            })?;
        let child = KillOnDrop(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                return Err("chromedriver did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { _child: child, port })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A parked car filmed by a camera that pans once, `w`x`h` RGB frames at 10 fps, made from the
/// real photo `media/car-5AU5341.png`: 50 still frames, 30 frames panning 4 px per frame, 20
/// still frames.
pub fn parked_car_frames(w: u32, h: u32) -> Vec<Vec<u8>> {
    car_view_frames(w, h, 50, 30, 20)
}

/// The real photo `media/car-5AU5341.png` as `w`x`h` RGB frames: `still` frames of the parked
/// car, then `pan` frames in which the view slides 4 px (of the photo) per frame, so the car
/// moves across the picture as if it drove off, then `after` still frames where it ended up.
pub fn car_view_frames(w: u32, h: u32, still: usize, pan: u32, after: usize) -> Vec<Vec<u8>> {
    use image::imageops;
    let photo = image::open(asset("media/car-5AU5341.png")).expect("the car photo decodes").to_rgb8();
    let (cw, ch) = (photo.width() * 3 / 4, photo.height() * 3 / 4);
    let view = |dx: u32| {
        let crop = imageops::crop_imm(&photo, dx, photo.height() / 8, cw, ch).to_image();
        imageops::resize(&crop, w, h, imageops::FilterType::Triangle).into_raw()
    };
    let end = (pan * 4).min(photo.width() - cw);
    let offsets =
        std::iter::repeat_n(0, still).chain((1..=pan).map(|i| (i * 4).min(end))).chain(std::iter::repeat_n(end, after));
    offsets.map(view).collect()
}

/// A car that is parked and then drives away, `w`x`h` RGB frames: the real photo
/// `media/car-5AU5341.png` scaled to half the picture's width on a grey ground, `still` frames
/// in place, then `moving` frames sliding right by `w / 40` pixels a frame (out of the picture
/// within 40 frames), then `after` frames of the empty ground.
pub fn car_drive_off_frames(w: u32, h: u32, still: usize, moving: usize, after: usize) -> Vec<Vec<u8>> {
    use image::{Rgb, RgbImage, imageops};
    let photo = image::open(asset("media/car-5AU5341.png")).expect("the car photo decodes").to_rgb8();
    let pw = w / 2;
    let ph = photo.height() * pw / photo.width();
    let car = imageops::resize(&photo, pw, ph, imageops::FilterType::Triangle);
    let (x0, y0) = (i64::from(w / 4), i64::from((h - ph.min(h)) / 2));
    let frame = |x: Option<i64>| {
        let mut canvas = RgbImage::from_pixel(w, h, Rgb([118, 118, 112]));
        if let Some(x) = x {
            imageops::overlay(&mut canvas, &car, x, y0);
        }
        canvas.into_raw()
    };
    let step = i64::from(w / 40);
    std::iter::repeat_n(Some(x0), still)
        .chain((1..=moving as i64).map(|i| Some(x0 + i * step)))
        .chain(std::iter::repeat_n(None, after))
        .map(frame)
        .collect()
}

/// `BIN SERVICE --config CONFIG` as a child process (`BIN`: the test's
/// `env!("CARGO_BIN_EXE_gatewatch")`), warnings only, killed on drop.
pub fn start_service(bin: &str, service: &str, config: &Path) -> KillOnDrop {
    let child = Command::new(bin)
        .args([service, "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("gatewatch {service} starts: {e}"));
    KillOnDrop(child)
}

/// An aggregator config file in `dir` on a broker port and an SQLite file, with `rules` (TOML,
/// may be empty) appended; returns its path and the database URL.
pub fn aggregator_toml(dir: &Path, port: u16, rules: &str) -> (PathBuf, String) {
    let url = format!("sqlite://{}", dir.join("agg.db").display());
    let config = dir.join("aggregator.toml");
    std::fs::write(&config, format!("[mqtt]\nport = {port}\n[database]\nurl = \"{url}\"\n{rules}"))
        .expect("config written");
    (config, url)
}

/// A broker, an aggregator with `rules` on a fresh SQLite file, a desk subscribed to every
/// site's alerts, and a gate's MQTT connection to publish events with. Keep the whole value, or
/// bind `_broker` and `_dir` by name when destructuring (a `..` drops them at once, and with
/// them the broker and the database directory).
pub struct Centre {
    pub agg: RunningAggregator,
    pub desk: gatewatch_mqtt::MqttClient,
    pub gate: gatewatch_mqtt::MqttClient,
    /// The aggregator's configuration (to start it again on the same database).
    pub cfg: gatewatch_core::config::AggregatorConfig,
    pub _broker: Mosquitto,
    pub _dir: tempfile::TempDir,
}

impl Centre {
    pub async fn start(rules: gatewatch_core::rules::RulesConfig) -> Self {
        Self::start_with_lists(rules, &[]).await
    }

    /// A centre whose database holds these list entries before the aggregator starts (it
    /// loads the lists at its first tick and then only every LISTS_MAX_AGE: entries put
    /// afterwards may come too late for a test's first events).
    pub async fn start_with_lists(
        rules: gatewatch_core::rules::RulesConfig,
        entries: &[gatewatch_core::registry::ListEntry],
    ) -> Self {
        use gatewatch_mqtt::client::Session;
        init_tracing();
        let broker = Mosquitto::start().expect("mosquitto starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("centre.db");
        if !entries.is_empty() {
            let store = gatewatch_store::Store::open(&format!("sqlite://{}", db.display())).await.expect("store opens");
            for e in entries {
                store.put_entry(e).await.expect("list entry stored");
            }
        }
        let mut cfg = aggregator_config(broker.port(), &db);
        cfg.rules = rules;
        let agg = RunningAggregator::start(cfg.clone()).await;
        let mqtt = gatewatch_core::config::MqttConfig { port: broker.port(), ..Default::default() };
        let desk_session =
            Session { subscribe: vec![gatewatch_core::topic::ALERTS_FILTER.into()], ..Default::default() };
        let desk = gatewatch_mqtt::MqttClient::connect(&mqtt, "desk", desk_session).expect("desk connects");
        eventually(PATIENCE, "the desk to subscribe", || desk.is_subscribed()).await;
        let gate = gatewatch_mqtt::MqttClient::connect(&mqtt, "gate-9", Session::default()).expect("gate connects");
        Self { agg, desk, gate, cfg, _broker: broker, _dir: dir }
    }
}

/// The next alert message on the desk's subscription, decoded (it must decode).
pub async fn next_alert(desk: &mut gatewatch_mqtt::MqttClient) -> gatewatch_core::incident::AlertMessage {
    let msg = tokio::time::timeout(PATIENCE, desk.recv()).await.expect("an alert message in time").expect("open");
    assert!(msg.topic.ends_with("/alerts"), "{}", msg.topic);
    serde_json::from_slice(&msg.payload).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&msg.payload)))
}

//! The watch desk in a real browser (Debian's Chromium, driven through chromedriver) over the
//! real pipeline: two cameras of one gate box, a clip of a car with a stolen plate and the
//! demo's vtest.avi (loiterers, parked vehicles) → edge with plate reading → Mosquitto →
//! aggregator with the demo's rules → store → desk. An officer logs in, watches the alert appear and update without a
//! reload, opens it, acknowledges it, reloads and finds it acknowledged, looks the plate up and
//! finds its sightings, and cannot open the users page; an admin finds all of it in the audit
//! log. The time from the aggregator storing each alert change to the page showing it is
//! measured (p50/p95) and printed. Screenshots and page HTML of every step are kept in
//! `target/desk-browser/` (on failure too, named `failure-*`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use gatewatch_aggregator::Aggregator;
use gatewatch_core::config::{AggregatorConfig, CameraConfig};
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_core::rules::AlertKind;
use gatewatch_store::{AuditFilter, Role, Store};
use gatewatch_systests::{
    ChromeDriver, Mosquitto, aggregator_config, asset, car_two_passes, init_tracing, plate_lane_edge,
};

const W: u32 = 512;
const H: u32 = 320;
const FPS: u32 = 10;
const OFFICER: (&str, &str) = ("li.wei", "an officer's password");
const ADMIN: (&str, &str) = ("admin-1", "the admin's password");

/// Where screenshots and page HTML go.
fn shots_dir() -> PathBuf {
    let dir = gatewatch_systests::repo_root().join("target/desk-browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Browser {
    c: Client,
    base: String,
}

impl Browser {
    async fn open(driver: &ChromeDriver, base: String) -> anyhow::Result<Self> {
        let profile = tempfile::tempdir()?.keep();
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", "--lang=zh-CN",
                         format!("--user-data-dir={}", profile.display())],
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let c = ClientBuilder::native()
            .capabilities(caps)
            .connect(&driver.url())
            .await
            .context("connecting to chromedriver")?;
        Ok(Self { c, base })
    }

    async fn goto(&self, path: &str) -> anyhow::Result<()> {
        Ok(self.c.goto(&format!("{}{path}", self.base)).await?)
    }

    /// Keep a screenshot and the HTML of the page as it is now.
    async fn shot(&self, name: &str) {
        let dir = shots_dir();
        if let Ok(png) = self.c.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
        if let Ok(html) = self.c.source().await {
            let _ = std::fs::write(dir.join(format!("{name}.html")), html);
        }
    }

    async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.c.find(Locator::Css(css)).await.with_context(|| format!("finding {css}"))?.text().await?)
    }

    async fn login(&self, (name, password): (&str, &str)) -> anyhow::Result<()> {
        self.goto("/login").await?;
        self.c.find(Locator::Css("#name")).await?.send_keys(name).await?;
        self.c.find(Locator::Css("#password")).await?.send_keys(password).await?;
        self.c.find(Locator::Css("#login")).await?.click().await?;
        self.wait_for("#user", Duration::from_secs(10)).await.context("logged in: the header names the user")?;
        let user = self.text("#user").await?;
        ensure!(user == name, "logged in as {user:?}");
        Ok(())
    }

    async fn logout(&self) -> anyhow::Result<()> {
        self.c.find(Locator::Css("#logout")).await?.click().await?;
        self.c.wait().for_element(Locator::Css("#login")).await?;
        Ok(())
    }

    /// Wait until `css` matches an element, for at most `limit`.
    async fn wait_for(&self, css: &str, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if self.c.find(Locator::Css(css)).await.is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!("{css} did not appear within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_watches_a_real_alert_arrive_acts_on_it_and_looks_the_car_up() {
    init_tracing();
    let driver = ChromeDriver::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("car-5AU5341.mp4");
    gatewatch_media::clip::write_mp4(&clip, W, H, FPS, car_two_passes(W, H, FPS, 3 * FPS)).unwrap();

    let broker = Mosquitto::start().unwrap();
    let mut cfg = aggregator_config(broker.port(), &dir.path().join("desk.db"));
    cfg.desk.listen = "127.0.0.1:0".into();
    let demo = AggregatorConfig::from_toml(include_str!("../deploy/demo-aggregator.toml")).unwrap();
    cfg.rules.loitering = demo.rules.loitering;
    cfg.rules.stationary = demo.rules.stationary;
    let aggregator = Aggregator::new(cfg.clone()).await.unwrap();
    let store: Store = aggregator.store();
    let entry = ListEntry::new(ListKind::Stolen, "5AU 5341", "reported stolen 2026-11-20", None, None).unwrap();
    store.put_entry(&entry).await.unwrap();
    let now = chrono::Utc::now();
    store.add_user(OFFICER.0, Role::Officer, OFFICER.1, now).await.unwrap();
    store.add_user(ADMIN.0, Role::Admin, ADMIN.1, now).await.unwrap();
    let counters = aggregator.counters();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (desk_addr, desk) = gatewatch_desk::start(store.clone(), &cfg, stop_rx.clone()).await.unwrap();
    let agg = tokio::spawn(aggregator.run(stop_rx));
    while !counters.snapshot().subscribed {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (mut edge, plaza) = plate_lane_edge(broker.port(), &dir.path().join("spool"), &clip);
    edge.cameras.push(CameraConfig { uri: asset("media/vtest.avi").display().to_string(), ..plaza });

    let b = Browser::open(&driver, format!("http://{desk_addr}")).await.unwrap();
    let result = async {
        // An officer logs in and waits on the live page; then the car comes to the gate.
        b.login(OFFICER).await?;
        b.wait_for("table#live", Duration::from_secs(5)).await?;
        b.shot("1-live-empty").await;
        let edge_run =
            tokio::spawn(gatewatch_edge::run(edge, Arc::new(AtomicBool::new(false)), Duration::from_secs(30)));
        b.wait_for("#live tbody tr[data-state]", Duration::from_secs(120)).await.context("the alert appears live")?;
        let report = edge_run.await??;
        ensure!(report.delivery.unacked == 0, "the edge's events all stored");
        // Every alert's last change reaches the page too: wait until each row shows what the
        // store has (sightings and state), without a reload.
        let alerts = store.alerts(false).await?;
        let plate: Vec<_> = alerts.iter().filter(|a| a.alert.kind == AlertKind::Watchlist).collect();
        ensure!(plate.len() == 1, "one alert for the car's two passes: {alerts:#?}");
        ensure!(alerts.iter().any(|a| a.alert.kind == AlertKind::Loitering), "the plaza's loiterers: {alerts:#?}");
        let start = Instant::now();
        for a in &alerts {
            let row = format!("a-{}", a.alert.alert_id);
            let want = serde_json::json!([a.status.sightings.to_string(), a.status.state.as_str()]);
            // Read in one script: a live update may replace the row between two look-ups.
            let read = "const r = document.getElementById(arguments[0]); \
                        return r ? [r.children[6].textContent.trim(), r.dataset.state] : null;";
            loop {
                let shown = b.c.execute(read, vec![serde_json::json!(row)]).await?;
                if shown == want {
                    break;
                }
                ensure!(start.elapsed() < Duration::from_secs(15), "{row} shows {shown:?}, the store has {want:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let a = plate[0];
        let id = a.alert.alert_id.to_string();
        b.shot("2-live-alerts").await;
        let title: String = b.c.title().await?;
        ensure!(title.starts_with('(') && title.contains("新警报"), "new alerts show in the title: {title:?}");

        // Alert-to-browser latency: from the store's change (updated_at) to the row shown.
        let log = b.c.execute("return window.gatewatchLive || [];", vec![]).await?;
        let mut ms: Vec<f64> = log
            .as_array()
            .context("the page's live log")?
            .iter()
            .filter_map(|e| Some(e["shown_ms"].as_f64()? - e["updated_ms"].as_f64()?))
            .collect();
        ensure!(!ms.is_empty(), "the page logged the rows it showed");
        ms.sort_by(f64::total_cmp);
        let line = format!(
            "alert-to-browser latency over {} alert changes ({} alerts): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            ms.len(),
            alerts.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            ms[ms.len() - 1]
        );
        println!("{line}");
        std::fs::write(shots_dir().join("latency.txt"), format!("{line}\n"))?;

        // Open it: the plate, the list entry, the pictures; acknowledge it.
        b.c.find(Locator::Css(&format!("#a-{id} a"))).await?.click().await?;
        b.wait_for("#ack", Duration::from_secs(5)).await?;
        ensure!(b.text("#plate").await? == "5AU5341", "the plate read");
        ensure!(b.text("main").await?.contains("reported stolen 2026-11-20"), "the list entry matched");
        b.shot("3-alert-detail").await;
        b.c.find(Locator::Css("input[name=note]")).await?.send_keys("车辆已拦下 / car stopped at the gate").await?;
        b.c.find(Locator::Css("#ack")).await?.click().await?;
        b.wait_for("p.notice", Duration::from_secs(5)).await?;
        b.c.refresh().await?;
        ensure!(b.text("#state").await? == "处理中", "acknowledged after a reload");
        ensure!(b.text("#history").await?.contains("车辆已拦下"), "the note in the history");
        b.shot("4-alert-acknowledged").await;
        let stored = store.alert(&id).await?.context("the alert")?;
        ensure!(stored.status.state.as_str() == "acknowledged");
        let history = store.alert_history(&id).await?;
        ensure!(history.last().and_then(|h| h.by.as_deref()) == Some(OFFICER.0), "by the officer: {history:?}");

        // Where was this car seen: typed as an officer would, lower case with a space.
        b.goto("/vehicles").await?;
        b.c.find(Locator::Css("#plate-query")).await?.send_keys("5au 5341").await?;
        b.c.find(Locator::Css("#lookup")).await?.click().await?;
        b.wait_for("#sightings tr", Duration::from_secs(5)).await?;
        let seen = b.text("#sightings").await?;
        ensure!(seen.contains("5AU5341") && seen.contains("lane-in"), "its sightings: {seen}");
        b.shot("5-vehicle-lookup").await;
        b.goto("/history").await?;
        b.shot("6-history").await;
        b.goto("/gates").await?;
        ensure!(b.text("#cameras").await?.contains("lane-in"), "the camera is listed");
        let thumbs = b.c.find_all(Locator::Css("#cameras img.thumb")).await?;
        ensure!(thumbs.len() == 2, "each camera's latest view: {} thumbnails", thumbs.len());
        b.shot("7-gates").await;

        // An officer may not open the users page.
        b.goto("/users").await?;
        ensure!(b.text("main").await?.contains("您无权打开此页"), "refused");
        ensure!(b.c.find(Locator::Css("#users")).await.is_err(), "no user table for an officer");
        b.shot("8-officer-refused-users").await;
        b.goto("/").await?;
        b.logout().await?;

        // The admin sees the users, the lists and the audit log of what the officer did.
        b.login(ADMIN).await?;
        b.goto("/users").await?;
        ensure!(b.text("#users").await?.contains(OFFICER.0));
        b.shot("9-admin-users").await;
        b.goto("/lists").await?;
        ensure!(b.text("#entries").await?.contains("5AU5341"));
        b.shot("10-admin-lists").await;
        b.goto("/audit").await?;
        let audit = b.text("#audit").await?;
        for action in ["vehicle_lookup", "alert_acknowledged", "picture_viewed", "login"] {
            ensure!(audit.contains(action), "{action} audited: {audit}");
        }
        b.shot("11-admin-audit").await;
        let lookups = store
            .audit_log(&AuditFilter { action: Some("vehicle_lookup".into()), limit: 10, ..Default::default() })
            .await?;
        ensure!(lookups.iter().any(|(_, e)| e.user == OFFICER.0 && e.subject == "5AU5341"), "{lookups:?}");
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = &result {
        b.shot("failure").await;
        eprintln!("kept the failing page in {}", shots_dir().display());
        let _ = b.c.clone().close().await;
        panic!("{e:#}");
    }
    b.c.close().await.unwrap();
    stop_tx.send(true).unwrap();
    agg.await.unwrap().unwrap();
    desk.await.unwrap().unwrap();
}

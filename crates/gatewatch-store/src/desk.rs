//! What the watch desk reads: alerts changed since a moment (the live page), alerts by filter
//! (history), the pictures of an event, plate reads in a time range (vehicle look-up) and the
//! latest status of every camera (gates page). Read-only; the desk's writes are the alert
//! actions, sessions and the audit log.

use chrono::{DateTime, Utc};
use gatewatch_core::event::EventBody;

use crate::alerts::AlertRow;
use crate::{Pool, Store, StoreError, StoredAlert, parse_time, ts};

/// Which alerts the history shows, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// `open`, `acknowledged`, `resolved` or `false_alarm`.
    pub state: Option<String>,
    pub rule: Option<String>,
    /// Compound.
    pub site: Option<String>,
    /// Gate box.
    pub edge: Option<String>,
    /// Alerts whose condition became true in `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Older than this alert (`at`, `alert_id`): the previous page's last row.
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: i64,
}

/// The pictures an event may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    /// A track's best picture, or a tampered camera's view.
    Snapshot,
    /// A plate read's plate crop.
    Plate,
    /// A plate read's vehicle crop.
    Vehicle,
}

/// One stored plate read, without its pictures.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateSighting {
    pub event_id: String,
    pub site: String,
    pub edge: String,
    pub camera: String,
    pub at: DateTime<Utc>,
    pub track: Option<u64>,
    /// The voted plate, then the other texts read. Personal data.
    pub plates: Vec<String>,
}

/// The latest status a camera reported.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStatus {
    pub site: String,
    pub edge: String,
    pub camera: String,
    /// From its latest `camera_online` / `camera_offline`; unknown (`None`) when only
    /// heartbeats were heard.
    pub online: Option<bool>,
    /// When that status was reported.
    pub status_at: Option<DateTime<Utc>>,
    /// The latest event of any kind from this camera.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The latest heartbeat: frames decoded per second, frames dropped in its period.
    pub decoded_fps: Option<f64>,
    pub dropped: Option<u64>,
    pub stats_at: Option<DateTime<Utc>>,
    /// The view is covered or turned (a `camera_tampered` newer than its `camera_view_restored`).
    pub tampered: bool,
    /// The latest heartbeat that carried a thumbnail of the view (its event id).
    pub thumbnail_event: Option<String>,
}

/// What the metrics endpoint reads from the store at a scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreGauges {
    /// `(rule, state)` → alerts.
    pub alerts: Vec<(String, String, i64)>,
    /// Plate list entries.
    pub list_entries: i64,
    /// `(site, edge)` → when its latest event was received.
    pub edges_last_seen: Vec<(String, String, DateTime<Utc>)>,
}

impl Store {
    /// Write this process's health row: true when the database took the write.
    pub async fn probe_write(&self, process: &str, now: DateTime<Utc>) -> bool {
        let r: Result<(), sqlx::Error> = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO health (process, at) VALUES ($1, $2) ON CONFLICT (process) DO UPDATE SET at = $2",
            )
            .bind(process)
            .bind(ts(now))
            .execute(pool)
            .await
            .map(|_| ())
        });
        r.is_ok()
    }

    /// Alerts by rule and state, list size and each edge's last event, for a metrics scrape.
    pub async fn gauges(&self) -> Result<StoreGauges, StoreError> {
        type Rows = (Vec<(String, String, i64)>, i64, Vec<(String, String, String)>);
        let (alerts, list_entries, edges): Rows = on_pool!(self, pool => {
            (
                sqlx::query_as("SELECT rule, state, COUNT(*) FROM alerts GROUP BY rule, state ORDER BY rule, state")
                    .fetch_all(pool)
                    .await?,
                sqlx::query_scalar("SELECT COUNT(*) FROM plate_lists").fetch_one(pool).await?,
                sqlx::query_as("SELECT site, edge, MAX(received_at) FROM events GROUP BY site, edge ORDER BY site, edge")
                    .fetch_all(pool)
                    .await?,
            )
        });
        let edges_last_seen =
            edges.into_iter().filter_map(|(site, edge, at)| Some((site, edge, parse_time(&at)?))).collect();
        Ok(StoreGauges { alerts, list_entries, edges_last_seen })
    }

    /// Alerts whose row changed at or after `since` (raised, seen again, acted on, ended),
    /// oldest change first, at most `limit`: what a live page polls for.
    pub async fn alerts_changed_since(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<StoredAlert>, StoreError> {
        const Q: &str = concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE updated_at >= $1 ORDER BY updated_at, alert_id LIMIT $2"
        );
        let rows: Vec<AlertRow> = on_pool!(self, pool => {
            sqlx::query_as(Q).bind(ts(since)).bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(AlertRow::into_stored).collect())
    }

    /// Alerts matching `f`, newest first.
    pub async fn alerts_filtered(&self, f: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
        const Q: &str = concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR rule = $2) \
             AND ($3 IS NULL OR site = $3) AND ($4 IS NULL OR edge = $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR at < $6) AND ($7 IS NULL OR at < $7 OR (at = $7 AND alert_id < $8)) \
             ORDER BY at DESC, alert_id DESC LIMIT $9"
        );
        let (before_at, before_id) = match &f.before {
            Some((at, id)) => (Some(ts(*at)), id.clone()),
            None => (None, String::new()),
        };
        let rows: Vec<AlertRow> = on_pool!(self, pool => {
            sqlx::query_as(Q)
                .bind(&f.state)
                .bind(&f.rule)
                .bind(&f.site)
                .bind(&f.edge)
                .bind(f.from.map(ts))
                .bind(f.to.map(ts))
                .bind(before_at)
                .bind(before_id)
                .bind(f.limit.clamp(1, 1000))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(AlertRow::into_stored).collect())
    }

    /// The rules and sites alerts were raised for, sorted: the history's filter choices.
    pub async fn alert_rules_and_sites(&self) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let (rules, sites): (Vec<String>, Vec<String>) = on_pool!(self, pool => {
            (
                sqlx::query_scalar("SELECT DISTINCT rule FROM alerts ORDER BY rule").fetch_all(pool).await?,
                sqlx::query_scalar("SELECT DISTINCT site FROM alerts ORDER BY site").fetch_all(pool).await?,
            )
        });
        Ok((rules, sites))
    }

    /// A picture of an event, as `(content type, bytes)`.
    pub async fn picture(&self, event_id: &str, which: Picture) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        if which == Picture::Snapshot {
            return Ok(self.snapshot(event_id).await?.map(|b| ("image/jpeg".to_string(), b)));
        }
        let body: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT body FROM events WHERE event_id = $1 AND kind = 'plate_read'")
                .bind(event_id)
                .fetch_optional(pool)
                .await?
        });
        let Some(EventBody::PlateRead(read)) = body.and_then(|b| serde_json::from_str(&b).ok()) else {
            return Ok(None);
        };
        let snap = if which == Picture::Plate { read.plate_snapshot } else { read.vehicle_snapshot };
        Ok(snap.and_then(|s| Some((s.content_type.clone(), s.bytes().ok()?))))
    }

    /// The picture that shows an alert, `(event id, which)`: a plate read's vehicle; else the
    /// latest picture of its track (a loiterer's, when their track ends; a parked vehicle's,
    /// from when it stopped); else its best event's own (a covered camera's view, or the
    /// heartbeat's view of the scene when the rules' clock raised it).
    pub async fn alert_picture(&self, a: &StoredAlert) -> Result<Option<(String, Picture)>, StoreError> {
        let best = a.status.best_event_id.to_string();
        let own: Option<(String, bool)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT kind, snapshot IS NOT NULL FROM events WHERE event_id = $1")
                .bind(&best)
                .fetch_optional(pool)
                .await?
        });
        if own.as_ref().is_some_and(|(kind, _)| kind == "plate_read") {
            return Ok(Some((best, Picture::Vehicle)));
        }
        if let Some(track) = a.alert.track {
            let latest: Option<String> = on_pool!(self, pool => {
                sqlx::query_scalar(
                    "SELECT event_id FROM events WHERE site = $1 AND edge = $2 AND camera = $3 AND track = $4 \
                     AND snapshot IS NOT NULL ORDER BY captured_at DESC LIMIT 1",
                )
                .bind(&a.alert.site)
                .bind(&a.alert.edge)
                .bind(&a.alert.camera)
                .bind(track as i64)
                .fetch_optional(pool)
                .await?
            });
            if let Some(id) = latest {
                return Ok(Some((id, Picture::Snapshot)));
            }
        }
        Ok(own.filter(|(_, has)| *has).map(|_| (best, Picture::Snapshot)))
    }

    /// Plate reads captured in `[since, until)`, newest first, at most `limit`.
    pub async fn plate_sightings(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PlateSighting>, StoreError> {
        type Row = (String, String, String, String, String, Option<i64>, Option<String>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT event_id, site, edge, camera, captured_at, track, plates FROM events \
                 WHERE kind = 'plate_read' AND captured_at >= $1 AND captured_at < $2 \
                 ORDER BY captured_at DESC LIMIT $3",
            )
            .bind(ts(since))
            .bind(ts(until))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(event_id, site, edge, camera, at, track, plates)| {
                Some(PlateSighting {
                    event_id,
                    site,
                    edge,
                    camera,
                    at: parse_time(&at)?,
                    track: track.map(|t| t as u64),
                    plates: plates.unwrap_or_default().split_whitespace().map(str::to_string).collect(),
                })
            })
            .collect())
    }

    /// Every camera that reported a status kind since `since`, with its latest status, by
    /// site, edge and camera.
    pub async fn camera_status(&self, since: DateTime<Utc>) -> Result<Vec<CameraStatus>, StoreError> {
        type Row = (String, String, String, String, String);
        // The latest event of each kind per camera, then the bodies of the latest heartbeats.
        const Q: &str = "SELECT site, edge, camera, kind, MAX(captured_at) FROM events WHERE captured_at >= $1 \
             AND kind IN ('camera_online', 'camera_offline', 'camera_stats', 'camera_tampered', 'camera_view_restored') \
             GROUP BY site, edge, camera, kind";
        let latest: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(Q).bind(ts(since)).fetch_all(pool).await?
        });
        /// `(site, edge, camera)`.
        type Key = (String, String, String);
        let mut cams: std::collections::BTreeMap<Key, CameraStatus> = Default::default();
        let mut kinds: std::collections::HashMap<Key, Vec<(String, DateTime<Utc>)>> = Default::default();
        for (site, edge, camera, kind, at) in latest {
            let Some(at) = parse_time(&at) else { continue };
            let key = (site.clone(), edge.clone(), camera.clone());
            let c = cams.entry(key.clone()).or_insert_with(|| CameraStatus {
                site,
                edge,
                camera,
                online: None,
                status_at: None,
                last_event_at: None,
                decoded_fps: None,
                dropped: None,
                stats_at: None,
                tampered: false,
                thumbnail_event: None,
            });
            c.last_event_at = c.last_event_at.max(Some(at));
            kinds.entry(key).or_default().push((kind, at));
        }
        for (key, seen) in kinds {
            let at = |k: &str| seen.iter().find(|(kind, _)| kind == k).map(|(_, t)| *t);
            let c = cams.get_mut(&key).expect("every key has a camera");
            match (at("camera_online"), at("camera_offline")) {
                (Some(on), off) if off.is_none_or(|off| on >= off) => (c.online, c.status_at) = (Some(true), Some(on)),
                (_, Some(off)) => (c.online, c.status_at) = (Some(false), Some(off)),
                _ => {}
            }
            c.tampered = match (at("camera_tampered"), at("camera_view_restored")) {
                (Some(t), r) => r.is_none_or(|r| t > r),
                _ => false,
            };
            if let Some(stats_at) = at("camera_stats") {
                let body: Option<String> = on_pool!(self, pool => {
                    sqlx::query_scalar(
                        "SELECT body FROM events WHERE site = $1 AND edge = $2 AND camera = $3 \
                         AND captured_at = $4 AND kind = 'camera_stats' LIMIT 1",
                    )
                    .bind(&key.0)
                    .bind(&key.1)
                    .bind(&key.2)
                    .bind(ts(stats_at))
                    .fetch_optional(pool)
                    .await?
                });
                if let Some(EventBody::CameraStats { frames_decoded, frames_dropped, period_s, .. }) =
                    body.and_then(|b| serde_json::from_str(&b).ok())
                {
                    c.decoded_fps = (period_s > 0.0).then(|| frames_decoded as f64 / period_s);
                    c.dropped = Some(frames_dropped);
                    c.stats_at = Some(stats_at);
                }
            }
        }
        // The latest event of any kind, for a camera heard from at all.
        for c in cams.values_mut() {
            let last: Option<String> = on_pool!(self, pool => {
                sqlx::query_scalar("SELECT MAX(captured_at) FROM events WHERE site = $1 AND edge = $2 AND camera = $3")
                    .bind(&c.site)
                    .bind(&c.edge)
                    .bind(&c.camera)
                    .fetch_one(pool)
                    .await?
            });
            c.last_event_at = c.last_event_at.max(last.as_deref().and_then(parse_time));
            c.thumbnail_event = on_pool!(self, pool => {
                sqlx::query_scalar(
                    "SELECT event_id FROM events WHERE site = $1 AND edge = $2 AND camera = $3 \
                     AND kind = 'camera_stats' AND snapshot IS NOT NULL ORDER BY captured_at DESC LIMIT 1",
                )
                .bind(&c.site)
                .bind(&c.edge)
                .bind(&c.camera)
                .fetch_optional(pool)
                .await?
            });
        }
        Ok(cams.into_values().collect())
    }
}

//! Retention in the store: delete each class of data past its cut-off
//! ([`gatewatch_core::retention`]). Plate reads of vehicles on a list are kept; which those are
//! the caller says (the aggregator matches reads against its lists as the rules do). SQLite runs
//! with `secure_delete`, so deleted rows are overwritten, not left in free pages.

use chrono::{DateTime, Utc};
use gatewatch_core::event::EventBody;
use gatewatch_core::retention::Cutoffs;
use sqlx::QueryBuilder;

use crate::{CHUNK, Pool, Store, StoreError, ts};

/// How many rows each class lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    pub routine: u64,
    pub events: u64,
    pub plate_reads: u64,
    pub visits: u64,
    pub snapshots: u64,
    pub alerts: u64,
    pub audit: u64,
    pub rejected: u64,
}

impl Store {
    /// Delete what is past its cut-off; a plate read whose texts `on_a_list` says match a list
    /// entry is kept.
    pub async fn enforce_retention(
        &self,
        c: &Cutoffs,
        on_a_list: impl Fn(&[&str]) -> bool,
    ) -> Result<Expired, StoreError> {
        let mut x = Expired::default();
        if let Some(t) = c.routine {
            x.routine = self
                .exec("DELETE FROM events WHERE kind IN ('camera_stats', 'track_started') AND captured_at < $1", t)
                .await?;
        }
        if let Some(t) = c.events {
            x.events = self.exec("DELETE FROM events WHERE captured_at < $1", t).await?;
        }
        if let Some(t) = c.plate_reads {
            let reads: Vec<(String, Option<String>)> = on_pool!(self, pool => {
                sqlx::query_as("SELECT event_id, plates FROM events WHERE kind = 'plate_read' AND captured_at < $1")
                    .bind(ts(t))
                    .fetch_all(pool)
                    .await?
            });
            let gone: Vec<String> = reads
                .into_iter()
                .filter(|(_, plates)| {
                    let texts: Vec<&str> = plates.as_deref().unwrap_or_default().split_whitespace().collect();
                    !on_a_list(&texts)
                })
                .map(|(id, _)| id)
                .collect();
            x.plate_reads = self.delete_ids("DELETE FROM events WHERE event_id IN (", &gone).await?;
            x.visits = self.exec("DELETE FROM visits WHERE state <> 'inside' AND updated_at < $1", t).await?;
        }
        if let Some(t) = c.snapshots {
            x.snapshots = self
                .exec("UPDATE events SET snapshot = NULL WHERE snapshot IS NOT NULL AND captured_at < $1", t)
                .await?;
            x.snapshots += self.strip_plate_pictures(t).await?;
        }
        if let Some(t) = c.alerts {
            let ids: Vec<String> = on_pool!(self, pool => {
                sqlx::query_scalar("SELECT alert_id FROM alerts WHERE state IN ('resolved', 'false_alarm') AND closed_at < $1")
                    .bind(ts(t))
                    .fetch_all(pool)
                    .await?
            });
            self.delete_ids("DELETE FROM alert_history WHERE alert_id IN (", &ids).await?;
            self.delete_ids("DELETE FROM alert_sightings WHERE alert_id IN (", &ids).await?;
            x.alerts = self.delete_ids("DELETE FROM alerts WHERE alert_id IN (", &ids).await?;
        }
        if let Some(t) = c.audit {
            x.audit = self.exec("DELETE FROM audit_log WHERE at < $1", t).await?;
        }
        if let Some(t) = c.rejected {
            x.rejected = self.exec("DELETE FROM rejected WHERE received_at < $1", t).await?;
        }
        Ok(x)
    }

    /// One statement with the time bound as `$1`; rows changed.
    async fn exec(&self, sql: &'static str, t: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query(sql).bind(ts(t)).execute(pool).await?.rows_affected()
        }))
    }

    /// `prefix` + the ids + `)`, a chunk at a time; rows changed.
    async fn delete_ids(&self, prefix: &'static str, ids: &[String]) -> Result<u64, StoreError> {
        let mut n = 0;
        for chunk in ids.chunks(CHUNK) {
            n += on_pool!(self, pool => {
                let mut q = QueryBuilder::new(prefix);
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.clone());
                }
                q.push(")");
                q.build().execute(pool).await?.rows_affected()
            });
        }
        Ok(n)
    }

    /// Plate reads keep their plate and vehicle crops in the body: rewrite those older than `t`.
    async fn strip_plate_pictures(&self, t: DateTime<Utc>) -> Result<u64, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT event_id, body FROM events WHERE kind = 'plate_read' AND captured_at < $1 \
                 AND body LIKE '%_snapshot\"%'",
            )
            .bind(ts(t))
            .fetch_all(pool)
            .await?
        });
        let mut n = 0;
        for (id, body) in rows {
            let Ok(EventBody::PlateRead(mut read)) = serde_json::from_str::<EventBody>(&body) else { continue };
            let (plate, vehicle) = (read.plate_snapshot.take(), read.vehicle_snapshot.take());
            if plate.is_none() && vehicle.is_none() {
                continue;
            }
            let stripped = serde_json::to_string(&EventBody::PlateRead(read)).unwrap_or(body);
            n += on_pool!(self, pool => {
                sqlx::query("UPDATE events SET body = $1 WHERE event_id = $2")
                    .bind(&stripped)
                    .bind(&id)
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
        }
        Ok(n)
    }
}

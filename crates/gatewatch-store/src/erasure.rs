//! Erasure by plate in the database (`gatewatch erase --plate`), and the record of each
//! request and of each edge's acknowledgement (see `gatewatch_core::erasure`).
//!
//! One transaction: plate reads of the plate (voted or a candidate) become `erased` events
//! (id and sequence kept, so a replay of one is known as stored), the pictures of their tracks
//! go, alerts naming the plate go with their sightings and history, visits go, resident and
//! visitor entries go (wanted, stolen and banned entries are the police's and stay: `gatewatch
//! lists remove` takes them off), refused payloads holding it go, and audit subjects, details
//! and officers' notes naming it are replaced by its hash. The request itself is audited. On
//! SQLite the write-ahead log is then checkpointed and truncated: with `secure_delete` on, the
//! old rows are overwritten, not just unlinked.

use chrono::{DateTime, Utc};
use gatewatch_core::erasure::{Erasure, plate_hash};
use gatewatch_core::event::EventBody;
use serde::Serialize;

use crate::{Pool, Store, StoreError, ts};

/// What an erasure removed from the database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    pub erasure_id: String,
    pub plate_sha256: String,
    /// Plate reads blanked.
    pub events: u64,
    /// Pictures removed from the same tracks' other events.
    pub pictures: u64,
    pub alerts: u64,
    pub visits: u64,
    pub list_entries: u64,
    pub rejected: u64,
    /// Audit subjects and details, and officers' notes, that named the plate.
    pub redacted: u64,
    /// Police lists the plate stays on.
    pub kept_on: Vec<String>,
}

/// One request, with who has acknowledged it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasureStatus {
    pub erasure: Erasure,
    pub requested_by: String,
    pub summary: String,
    /// `(site, edge, acked_at, events changed)`.
    pub acks: Vec<(String, String, DateTime<Utc>, i64)>,
}

type AckRow = (String, String, String, String, i64);

/// Plate reads of the plate: `$1` is `% PLATE %` (the `plates` column is space-separated).
macro_rules! reads {
    () => {
        "kind = 'plate_read' AND (' ' || plates || ' ') LIKE $1"
    };
}

/// Alerts naming the plate (`$2`: the plate, `$3`: `%PLATE%`) or raised by one of its reads.
macro_rules! alerts_of {
    () => {
        concat!(
            "plate = $2 OR alert_key LIKE $3 OR matched LIKE $3 OR candidates LIKE $3 OR message LIKE $3 ",
            "OR event_id IN (SELECT event_id FROM events WHERE ",
            reads!(),
            ") OR best_event_id IN (SELECT event_id FROM events WHERE ",
            reads!(),
            ")"
        )
    };
}

impl Store {
    /// Erase `plate` (normalised) from the database, as of `now`; audited as `by`.
    pub async fn erase_plate(
        &self,
        plate: &str,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError> {
        let hash = plate_hash(plate);
        let token = format!("% {plate} %");
        let anywhere = format!("%{plate}%");
        let mut r = ErasureReport {
            erasure_id: uuid::Uuid::now_v7().to_string(),
            plate_sha256: hash.clone(),
            ..Default::default()
        };
        let redacted = format!("[erased plate sha256:{}]", &hash[..16]);
        let erased_body = serde_json::to_string(&EventBody::Erased {}).expect("serialises");
        let rejected = match self.pool {
            Pool::Sqlite(_) => "DELETE FROM rejected WHERE instr(payload, CAST($1 AS BLOB)) > 0",
            Pool::Postgres(_) => "DELETE FROM rejected WHERE position(convert_to($1, 'UTF8') in payload) > 0",
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let tracks: Vec<(String, String, i64)> =
                sqlx::query_as(concat!("SELECT DISTINCT site, edge, track FROM events WHERE ", reads!(), " AND track IS NOT NULL"))
                    .bind(&token)
                    .fetch_all(&mut *tx)
                    .await?;
            for q in [
                concat!("DELETE FROM alert_sightings WHERE alert_id IN (SELECT alert_id FROM alerts WHERE ", alerts_of!(), ")"),
                concat!("DELETE FROM alert_history WHERE alert_id IN (SELECT alert_id FROM alerts WHERE ", alerts_of!(), ")"),
            ] {
                sqlx::query(q).bind(&token).bind(plate).bind(&anywhere).execute(&mut *tx).await?;
            }
            r.alerts = sqlx::query(concat!("DELETE FROM alerts WHERE ", alerts_of!()))
                .bind(&token).bind(plate).bind(&anywhere)
                .execute(&mut *tx).await?.rows_affected();
            r.events = sqlx::query(concat!(
                "UPDATE events SET kind = 'erased', body = $2, plates = NULL, snapshot = NULL, track = NULL WHERE ",
                reads!()
            ))
            .bind(&token).bind(&erased_body)
            .execute(&mut *tx).await?.rows_affected();
            for (site, edge, track) in &tracks {
                r.pictures += sqlx::query(
                    "UPDATE events SET snapshot = NULL WHERE site = $1 AND edge = $2 AND track = $3 AND snapshot IS NOT NULL",
                )
                .bind(site).bind(edge).bind(track)
                .execute(&mut *tx).await?.rows_affected();
            }
            r.visits = sqlx::query("DELETE FROM visits WHERE plate = $1").bind(plate).execute(&mut *tx).await?.rows_affected();
            let kept: Vec<(String,)> = sqlx::query_as(
                "SELECT kind FROM plate_lists WHERE plate = $1 AND kind NOT IN ('resident', 'visitor') ORDER BY kind",
            )
            .bind(plate).fetch_all(&mut *tx).await?;
            r.kept_on = kept.into_iter().map(|k| k.0).collect();
            r.list_entries = sqlx::query("DELETE FROM plate_lists WHERE plate = $1 AND kind IN ('resident', 'visitor')")
                .bind(plate).execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM plate_list_changes WHERE plate = $1 AND kind IN ('resident', 'visitor')")
                .bind(plate).execute(&mut *tx).await?;
            r.rejected = sqlx::query(rejected).bind(plate).execute(&mut *tx).await?.rows_affected();
            for q in [
                "UPDATE audit_log SET subject = $2 WHERE subject LIKE $1",
                "UPDATE audit_log SET detail = $2 WHERE detail LIKE $1",
                "UPDATE alert_history SET note = $2 WHERE note LIKE $1",
            ] {
                r.redacted += sqlx::query(q).bind(&anywhere).bind(&redacted).execute(&mut *tx).await?.rows_affected();
            }
            let summary = serde_json::to_string(&r).expect("serialises");
            sqlx::query(
                "INSERT INTO erasures (erasure_id, plate_sha256, requested_at, requested_by, reason, summary) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&r.erasure_id).bind(&hash).bind(ts(now)).bind(by).bind(reason).bind(&summary)
            .execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO audit_log (at, user_name, action, subject, detail, source) VALUES ($1, $2, 'plate_erased', $3, $4, NULL)",
            )
            .bind(ts(now)).bind(by).bind(format!("sha256:{hash}")).bind(&summary)
            .execute(&mut *tx).await?;
            tx.commit().await?
        });
        if let Pool::Sqlite(pool) = &self.pool {
            // Busy while another connection (the aggregator) is mid-transaction: try again.
            for _ in 0..50 {
                let (busy, _, _): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await?;
                if busy == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Ok(r)
    }

    /// Erasures requested at or after `since`, newest first, at most `limit`.
    pub async fn erasures_since(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<Erasure>, StoreError> {
        let rows: Vec<(String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT erasure_id, plate_sha256, requested_at FROM erasures WHERE requested_at >= $1 \
                 ORDER BY requested_at DESC LIMIT $2",
            )
            .bind(ts(since)).bind(limit)
            .fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id, hash, at)| {
                Some(Erasure { id, plate_sha256: hash, requested_at: crate::parse_time(&at)? })
            })
            .collect())
    }

    /// `site/edge` has carried out the erasures `ids` on its spool (unknown ids are ignored).
    pub async fn erasure_acked(
        &self,
        ids: &[String],
        site: &str,
        edge: &str,
        events: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let events = i64::try_from(events).unwrap_or(i64::MAX);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for id in ids {
                sqlx::query(
                    "INSERT INTO erasure_acks (erasure_id, site, edge, acked_at, events) \
                     SELECT erasure_id, $2, $3, $4, $5 FROM erasures WHERE erasure_id = $1 \
                     ON CONFLICT (erasure_id, site, edge) DO NOTHING",
                )
                .bind(id).bind(site).bind(edge).bind(ts(now)).bind(events)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// Every erasure requested at or after `since`, oldest first, with its acknowledgements.
    pub async fn erasure_status(&self, since: DateTime<Utc>) -> Result<Vec<ErasureStatus>, StoreError> {
        let rows: Vec<(String, String, String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT erasure_id, plate_sha256, requested_at, requested_by, summary FROM erasures \
                 WHERE requested_at >= $1 ORDER BY requested_at",
            )
            .bind(ts(since)).fetch_all(pool).await?
        });
        let acks: Vec<AckRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT a.erasure_id, a.site, a.edge, a.acked_at, a.events FROM erasure_acks a \
                 JOIN erasures e ON e.erasure_id = a.erasure_id WHERE e.requested_at >= $1 ORDER BY a.site, a.edge",
            )
            .bind(ts(since)).fetch_all(pool).await?
        });
        let mut out = Vec::new();
        for (id, hash, at, by, summary) in rows {
            let Some(requested_at) = crate::parse_time(&at) else { continue };
            let acks = acks
                .iter()
                .filter(|a| a.0 == id)
                .filter_map(|a| Some((a.1.clone(), a.2.clone(), crate::parse_time(&a.3)?, a.4)))
                .collect();
            out.push(ErasureStatus {
                erasure: Erasure { id, plate_sha256: hash, requested_at },
                requested_by: by,
                summary,
                acks,
            });
        }
        Ok(out)
    }

    /// Every edge the centre has delivered from (those that owe an erasure acknowledgement).
    pub async fn known_edges(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT site, edge FROM edge_watermarks ORDER BY site, edge").fetch_all(pool).await?
        }))
    }
}

//! Who processes the edges' events: a lease row in the database (`ingest_lease`), so several
//! aggregators can run against one PostgreSQL and exactly one of them ingests at a time.
//!
//! - A waiting aggregator tries [`Store::acquire_lease`] every second; it gets the lease only
//!   once the holder's expiry has passed (by the database's clock, so the hosts' clocks do not
//!   matter), and the epoch grows by one.
//! - The holder renews it every second, and every ingest transaction renews it too, for its
//!   own holder and epoch: when that matches no row, the transaction fails with
//!   [`StoreError::LeaseLost`] and nothing of it is stored. A process that was paused, cut off
//!   or too slow therefore cannot write after its successor took over (the epoch is a fencing
//!   token).
//! - A clean stop releases the lease at once; a dead process's lease runs out after its TTL.
//!
//! Per edge, the ack watermark is kept beside it (`edge_watermarks`), so the successor acks
//! from where the last holder was.

use std::sync::Arc;

use chrono::Utc;

use crate::{Pool, Store, StoreError, ts};

/// The database's clock in milliseconds since 1970, as SQL, per backend.
macro_rules! sqlite_now_ms {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}
macro_rules! pg_now_ms {
    () => {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    };
}

macro_rules! renew_sql {
    ($now:expr) => {
        concat!(
            "UPDATE ingest_lease SET expires_ms = ",
            $now,
            " + $3 WHERE name = 'ingest' AND holder = $1 AND epoch = $2"
        )
    };
}

macro_rules! acquire_sql {
    ($now:expr) => {
        concat!(
            "UPDATE ingest_lease SET holder = $1, epoch = epoch + 1, expires_ms = ",
            $now,
            " + $2 WHERE name = 'ingest' AND expires_ms < ",
            $now,
            " RETURNING epoch"
        )
    };
}

macro_rules! holder_sql {
    ($now:expr) => {
        concat!("SELECT holder, epoch, expires_ms - ", $now, " FROM ingest_lease WHERE name = 'ingest'")
    };
}

/// A held lease: who, which epoch, and how long each renewal extends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub epoch: i64,
    pub ttl_ms: i64,
}

/// The lease as the database has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: String,
    pub epoch: i64,
    /// Milliseconds until it runs out (negative: it has).
    pub remaining_ms: i64,
}

impl Store {
    /// This store, with every ingest transaction (events, alerts, rejected payloads,
    /// watermarks) fenced by `lease`: it renews the lease or fails with
    /// [`StoreError::LeaseLost`].
    pub fn fenced(&self, lease: Lease) -> Store {
        Store { pool: self.pool.clone(), fence: Some(Arc::new(lease)) }
    }

    /// The lease this store is fenced by.
    pub fn lease(&self) -> Option<&Lease> {
        self.fence.as_deref()
    }

    /// Take the ingest lease for `holder` if nobody holds it (or the holder's has run out).
    pub async fn acquire_lease(&self, holder: &str, ttl_ms: i64) -> Result<Option<Lease>, StoreError> {
        const SEED: &str = "INSERT INTO ingest_lease (name, holder, epoch, expires_ms) VALUES ('ingest', '', 0, 0) \
                            ON CONFLICT (name) DO NOTHING";
        let epoch: Option<i64> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query(SEED).execute(pool).await?;
                sqlx::query_scalar(acquire_sql!(sqlite_now_ms!()))
                    .bind(holder)
                    .bind(ttl_ms)
                    .fetch_optional(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query(SEED).execute(pool).await?;
                sqlx::query_scalar(acquire_sql!(pg_now_ms!())).bind(holder).bind(ttl_ms).fetch_optional(pool).await?
            }
        };
        Ok(epoch.map(|epoch| Lease { holder: holder.into(), epoch, ttl_ms }))
    }

    /// Extend the lease this store is fenced by; [`StoreError::LeaseLost`] when another
    /// holder has it now. Without a fence, nothing to do.
    pub async fn renew_lease(&self) -> Result<(), StoreError> {
        let Some(l) = self.fence.as_deref() else { return Ok(()) };
        let renew = self.renew_statement();
        let n = on_pool!(self, pool => {
            sqlx::query(renew).bind(&l.holder).bind(l.epoch).bind(l.ttl_ms).execute(pool).await?.rows_affected()
        });
        if n == 0 { Err(self.lease_lost()) } else { Ok(()) }
    }

    /// Give the lease up now (a clean stop): a waiting aggregator takes it at its next try.
    pub async fn release_lease(&self) -> Result<(), StoreError> {
        let Some(l) = self.fence.as_deref() else { return Ok(()) };
        on_pool!(self, pool => {
            sqlx::query("UPDATE ingest_lease SET expires_ms = 0 WHERE name = 'ingest' AND holder = $1 AND epoch = $2")
                .bind(&l.holder)
                .bind(l.epoch)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Who holds the lease, if it was ever taken.
    pub async fn lease_state(&self) -> Result<Option<LeaseState>, StoreError> {
        let row: Option<(String, i64, i64)> = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_as(holder_sql!(sqlite_now_ms!())).fetch_optional(pool).await?,
            Pool::Postgres(pool) => sqlx::query_as(holder_sql!(pg_now_ms!())).fetch_optional(pool).await?,
        };
        Ok(row.filter(|(holder, ..)| !holder.is_empty()).map(|(holder, epoch, remaining_ms)| LeaseState {
            holder,
            epoch,
            remaining_ms,
        }))
    }

    /// Every edge's ack watermark, as last stored.
    pub async fn watermarks(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT site, edge, done FROM edge_watermarks").fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(s, e, d)| (s, e, d.max(0) as u64)).collect())
    }

    /// Store ack watermarks (fenced; a watermark never moves back).
    pub async fn save_watermarks(&self, marks: &[(String, String, u64)]) -> Result<(), StoreError> {
        const UPSERT: &str = "INSERT INTO edge_watermarks (site, edge, done, updated_at) VALUES ($1, $2, $3, $4) \
                              ON CONFLICT (site, edge) DO UPDATE SET done = excluded.done, updated_at = excluded.updated_at \
                              WHERE excluded.done > edge_watermarks.done";
        let now = ts(Utc::now());
        let renew = self.renew_statement();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            fence!(self, tx, renew);
            for (site, edge, done) in marks {
                let done = i64::try_from(*done).unwrap_or(i64::MAX);
                sqlx::query(UPSERT).bind(site).bind(edge).bind(done).bind(&now).execute(&mut *tx).await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// The renewal statement for this backend.
    pub(crate) fn renew_statement(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => renew_sql!(sqlite_now_ms!()),
            Pool::Postgres(_) => renew_sql!(pg_now_ms!()),
        }
    }

    pub(crate) fn lease_lost(&self) -> StoreError {
        let l = self.fence.as_deref();
        StoreError::LeaseLost {
            holder: l.map(|l| l.holder.clone()).unwrap_or_default(),
            epoch: l.map(|l| l.epoch).unwrap_or_default(),
        }
    }
}

//! Visits in the store: what the core's visit changes ([`gatewatch_core::visits`]) do to the
//! `visits` table, inside the event batch's transaction; what the aggregator restores at start;
//! what the desk and the CLI read. Plates are personal data: bound, never formatted into SQL.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use gatewatch_core::visits::{ExitOnlyVisit, OpenVisit};
use uuid::Uuid;

use crate::{EventRow, Pool, Store, StoreError, decode_row, parse_time, ts};

/// A visit as the desk sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVisit {
    pub visit_id: String,
    pub site: String,
    pub plate: String,
    /// `inside`, `left`, `exit_only` or `superseded`.
    pub state: String,
    pub entered_at: Option<DateTime<Utc>>,
    /// `edge/camera` of the entry.
    pub entry_camera: Option<String>,
    pub left_at: Option<DateTime<Utc>>,
    pub exit_camera: Option<String>,
}

/// Which visits to list.
#[derive(Debug, Clone, Default)]
pub struct VisitFilter {
    pub site: Option<String>,
    /// Exactly this (normalised) plate.
    pub plate: Option<String>,
    /// Only vehicles inside now.
    pub inside_only: bool,
    pub limit: i64,
}

pub(crate) const ENTERED: &str = "INSERT INTO visits (visit_id, site, plate, state, entered_at, entry_event_id, entry_camera, \
     updated_at) VALUES ($1, $2, $3, 'inside', $4, $1, $5, $6) ON CONFLICT DO NOTHING";
pub(crate) const LEFT: &str = "UPDATE visits SET state = 'left', left_at = $1, exit_event_id = $2, exit_camera = $3, updated_at = $4 \
     WHERE visit_id = $5 AND state = 'inside'";
pub(crate) const EXIT_ONLY: &str = "INSERT INTO visits (visit_id, site, plate, state, left_at, exit_event_id, exit_camera, \
     updated_at) VALUES ($1, $2, $3, 'exit_only', $4, $1, $5, $6) ON CONFLICT DO NOTHING";
pub(crate) const LATE_ENTRY: &str = "UPDATE visits SET state = 'left', entered_at = $1, entry_event_id = $2, entry_camera = $3, \
     updated_at = $4 WHERE visit_id = $5 AND state = 'exit_only'";
pub(crate) const SUPERSEDED: &str =
    "UPDATE visits SET state = 'superseded', updated_at = $1 WHERE visit_id = $2 AND state = 'inside'";

/// Apply visit changes inside the open transaction `$tx` (either backend; compiled once per
/// backend like `on_pool!`'s body). Each change applies once: a replay does nothing.
macro_rules! apply_visits {
    ($tx:ident, $changes:expr, $now:expr) => {{
        let now: String = $now;
        for change in $changes.iter() {
            match change {
                gatewatch_core::visits::VisitChange::Entered { visit, site, plate, at, camera } => {
                    sqlx::query(crate::visits::ENTERED)
                        .bind(visit.to_string())
                        .bind(site)
                        .bind(plate)
                        .bind(crate::ts(*at))
                        .bind(camera)
                        .bind(&now)
                        .execute(&mut *$tx)
                        .await?;
                }
                gatewatch_core::visits::VisitChange::Left { visit, at, event_id, camera } => {
                    sqlx::query(crate::visits::LEFT)
                        .bind(crate::ts(*at))
                        .bind(event_id.to_string())
                        .bind(camera)
                        .bind(&now)
                        .bind(visit.to_string())
                        .execute(&mut *$tx)
                        .await?;
                }
                gatewatch_core::visits::VisitChange::ExitOnly { visit, site, plate, at, camera } => {
                    sqlx::query(crate::visits::EXIT_ONLY)
                        .bind(visit.to_string())
                        .bind(site)
                        .bind(plate)
                        .bind(crate::ts(*at))
                        .bind(camera)
                        .bind(&now)
                        .execute(&mut *$tx)
                        .await?;
                }
                gatewatch_core::visits::VisitChange::LateEntry { visit, at, event_id, camera } => {
                    sqlx::query(crate::visits::LATE_ENTRY)
                        .bind(crate::ts(*at))
                        .bind(event_id.to_string())
                        .bind(camera)
                        .bind(&now)
                        .bind(visit.to_string())
                        .execute(&mut *$tx)
                        .await?;
                }
                gatewatch_core::visits::VisitChange::Superseded { visit } => {
                    sqlx::query(crate::visits::SUPERSEDED)
                        .bind(&now)
                        .bind(visit.to_string())
                        .execute(&mut *$tx)
                        .await?;
                }
            }
        }
        Ok::<_, sqlx::Error>(())
    }};
}
pub(crate) use apply_visits;

type VisitRow = (String, String, String, String, Option<String>, Option<String>, Option<String>, Option<String>);

impl Store {
    /// Visits, newest first (by entry, else exit), as `filter` says.
    pub async fn visits(&self, filter: &VisitFilter) -> Result<Vec<StoredVisit>, StoreError> {
        let rows: Vec<VisitRow> = on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT visit_id, site, plate, state, entered_at, entry_camera, left_at, exit_camera FROM visits WHERE 1 = 1",
            );
            if let Some(site) = &filter.site {
                q.push(" AND site = ").push_bind(site.clone());
            }
            if let Some(plate) = &filter.plate {
                q.push(" AND plate = ").push_bind(plate.clone());
            }
            if filter.inside_only {
                q.push(" AND state = 'inside'");
            }
            q.push(" ORDER BY COALESCE(entered_at, left_at) DESC LIMIT ").push_bind(filter.limit.max(0));
            q.build_query_as::<VisitRow>().fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(visit_id, site, plate, state, entered_at, entry_camera, left_at, exit_camera)| StoredVisit {
                visit_id,
                site,
                plate,
                state,
                entered_at: entered_at.as_deref().and_then(parse_time),
                entry_camera,
                left_at: left_at.as_deref().and_then(parse_time),
                exit_camera,
            })
            .collect())
    }

    /// What the visit rules need back at a start: the open visits with their entry events, the
    /// exit-only visits since `since`, and the crossings (entry and exit event ids) of visits
    /// changed since `since` (stored events of that window are replayed; these are skipped).
    pub async fn visits_to_restore(
        &self,
        since: DateTime<Utc>,
    ) -> Result<(Vec<OpenVisit>, Vec<ExitOnlyVisit>, HashSet<Uuid>), StoreError> {
        type OpenRow = (String, String, String, String, String, String, String, i64, String, String);
        let open: Vec<OpenRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT v.visit_id, v.plate, v.entered_at, e.event_id, e.site, e.edge, e.camera, e.seq, e.captured_at, e.body
                 FROM visits v JOIN events e ON e.event_id = v.entry_event_id WHERE v.state = 'inside'",
            )
            .fetch_all(pool)
            .await?
        });
        let open = open
            .into_iter()
            .filter_map(|(visit, plate, at, event_id, site, edge, camera, seq, captured_at, body)| {
                let row: EventRow = (event_id, site.clone(), edge, camera, seq, captured_at, body);
                Some(OpenVisit {
                    visit: visit.parse().ok()?,
                    site,
                    plate,
                    at: parse_time(&at)?,
                    event: decode_row(row)?,
                })
            })
            .collect();
        let exits: Vec<(String, String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT visit_id, site, plate, left_at FROM visits WHERE state = 'exit_only' AND left_at >= $1")
                .bind(ts(since))
                .fetch_all(pool)
                .await?
        });
        let exits = exits
            .into_iter()
            .filter_map(|(visit, site, plate, at)| {
                Some(ExitOnlyVisit { visit: visit.parse().ok()?, site, plate, at: parse_time(&at)? })
            })
            .collect();
        let applied: Vec<(Option<String>, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT entry_event_id, exit_event_id FROM visits WHERE updated_at >= $1")
                .bind(ts(since))
                .fetch_all(pool)
                .await?
        });
        let applied =
            applied.into_iter().flat_map(|(a, b)| [a, b]).flatten().filter_map(|id| id.parse().ok()).collect();
        Ok((open, exits, applied))
    }
}

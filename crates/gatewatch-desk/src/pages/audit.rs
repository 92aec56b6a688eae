//! The audit log (admins): who looked at or changed what, newest first, filtered by user or
//! action, a page at a time; exported as CSV (the export is itself audited).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use gatewatch_core::lists_csv::csv_field;
use gatewatch_store::AuditFilter;
use maud::{Markup, html};
use serde::Deserialize;

use super::{given, shown};
use crate::layout::{self, Nav};
use crate::session::Admin;
use crate::{Desk, Refusal};

const PAGE: i64 = 100;
/// Most rows in one export.
const EXPORT_MAX: i64 = 10_000;

#[derive(Deserialize)]
pub struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

fn filter(q: &AuditQuery, limit: i64) -> AuditFilter {
    AuditFilter {
        user: given(&q.user).map(str::to_string),
        action: given(&q.action).map(str::to_string),
        before: q.before,
        limit,
    }
}

/// `GET /audit`.
pub async fn audit(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Markup, Refusal> {
    let t = user.t();
    let rows = desk.store.audit_log(&filter(&q, PAGE)).await?;
    let next = (rows.len() as i64 == PAGE).then(|| rows.last().map(|(id, _)| *id)).flatten();
    let keep = |k: &str, v: &Option<String>| {
        given(v).map(|v| format!("&{k}={}", super::alerts::url_encode(v))).unwrap_or_default()
    };
    let body = html! {
        form.box method="get" action="/audit" {
            label { (t.audit_user) " " input type="text" name="user" value=(given(&q.user).unwrap_or_default()); }
            label { (t.audit_action) " " input type="text" name="action" value=(given(&q.action).unwrap_or_default()); }
            button type="submit" { (t.filter) }
            " " a href={ "/audit.csv?" (keep("user", &q.user)) (keep("action", &q.action)) } { (t.export_csv) }
        }
        table #audit {
            thead { tr { th { (t.time) } th { (t.audit_user) } th { (t.audit_action) } th { (t.audit_subject) } th { (t.audit_detail) } th { (t.audit_source) } } }
            tbody {
                @for (_, e) in &rows {
                    tr {
                        td { (desk.time(e.at)) } td { (shown(&e.user)) } td { (shown(&e.action)) } td { (shown(&e.subject)) }
                        td { (shown(e.detail.as_deref().unwrap_or_default())) } td { (shown(e.source.as_deref().unwrap_or_default())) }
                    }
                }
            }
        }
        @if let Some(before) = next {
            p { a href={ "/audit?before=" (before) (keep("user", &q.user)) (keep("action", &q.action)) } { (t.next_page) } }
        }
    };
    Ok(layout::page(&user, Nav::Audit, t.nav_audit, body))
}

/// `GET /audit.csv`: the filtered log, newest first, at most 10,000 rows.
pub async fn export(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, Refusal> {
    let rows = desk.store.audit_log(&filter(&q, EXPORT_MAX)).await?;
    desk.audit(user.name(), "audit_exported", "csv", Some(format!("{} rows", rows.len())), user.audit_source()).await?;
    let mut csv = String::from("id,at,user,action,subject,detail,source\n");
    for (id, e) in &rows {
        let f = |s: &str| csv_field(s);
        csv.push_str(&format!(
            "{id},{},{},{},{},{},{}\n",
            e.at.to_rfc3339(),
            f(&e.user),
            f(&e.action),
            f(&e.subject),
            f(e.detail.as_deref().unwrap_or_default()),
            f(e.source.as_deref().unwrap_or_default())
        ));
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"gatewatch-audit.csv\""),
        ],
        csv,
    )
        .into_response())
}

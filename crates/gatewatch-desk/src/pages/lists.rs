//! The plate lists (admins): wanted, stolen, banned, resident, visitor passes. Add or change
//! an entry, remove one, import and export CSV with the rules of `gatewatch lists` (a bad row
//! imports nothing and is named). Every change and every export is audited. A running
//! aggregator reads list changes from the store within its list refresh (10 s).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use gatewatch_core::lists_csv::{HEADER, parse_csv, to_csv_row};
use gatewatch_core::registry::{ListEntry, ListKind};
use maud::{Markup, html};
use serde::Deserialize;

use super::{given, local_time, shown};
use crate::layout::{self, Nav, csrf};
use crate::session::Admin;
use crate::{Desk, Refusal};

/// Most entries shown at once (a city's stolen list has 10^5): narrow with the search.
const SHOWN: usize = 500;
/// Largest CSV accepted from the form, in bytes.
pub const MAX_IMPORT: usize = 8 * 1024 * 1024;

#[derive(Deserialize)]
pub struct ListsQuery {
    q: Option<String>,
    kind: Option<String>,
    done: Option<String>,
}

/// `GET /lists`.
pub async fn lists(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    Query(q): Query<ListsQuery>,
) -> Result<Markup, Refusal> {
    page(&desk, &user, &q, None).await
}

async fn page(desk: &Desk, user: &crate::User, q: &ListsQuery, error: Option<String>) -> Result<Markup, Refusal> {
    let t = user.t();
    let kind: Option<ListKind> = given(&q.kind).and_then(|k| k.parse().ok());
    let needle = given(&q.q).map(|s| gatewatch_core::plate::normalize(s).unwrap_or_else(|_| s.to_uppercase()));
    let all = desk.store.list_entries().await?;
    let matching: Vec<&ListEntry> = all
        .iter()
        .filter(|e| kind.is_none_or(|k| k == e.kind))
        .filter(|e| needle.as_deref().is_none_or(|n| e.plate.contains(n)))
        .collect();
    let body = html! {
        @if let Some(e) = &error { pre.warning #list-error { (e) } }
        @if let Some(d) = given(&q.done) { p.notice { (t.done) " " (shown(d)) } }
        form.box method="get" action="/lists" {
            label { (t.plate) " " input type="text" name="q" value=(given(&q.q).unwrap_or_default()); }
            label { (t.list) " " select name="kind" {
                option value="" { (t.all) }
                @for k in ListKind::ALL { option value=(k.as_str()) selected[kind == Some(k)] { (t.list_kind(k)) } }
            } }
            button type="submit" { (t.filter) }
            " " a href="/lists.csv" { (t.export_csv) }
        }
        form.box #add-entry method="post" action="/lists/put" {
            (csrf(user))
            label { (t.list) " " select name="kind" {
                @for k in ListKind::ALL { option value=(k.as_str()) { (t.list_kind(k)) } }
            } }
            label { (t.plate) " " input type="text" name="plate" required maxlength="32"; }
            label { (t.label) " " input type="text" name="label" maxlength="200" size="30"; }
            label { (t.valid_from) " " input type="datetime-local" name="valid_from"; }
            label { (t.valid_to) " " input type="datetime-local" name="valid_to"; }
            button type="submit" { (t.add) }
        }
        table #entries {
            thead { tr { th { (t.list) } th { (t.plate) } th { (t.label) } th { (t.valid_from) } th { (t.valid_to) } th {} } }
            tbody {
                @for e in matching.iter().take(SHOWN) {
                    tr {
                        td { (t.list_kind(e.kind)) }
                        td { span.plate { (shown(&e.plate)) } }
                        td { (shown(&e.label)) }
                        td { (e.valid_from.map(|x| desk.time(x)).unwrap_or_else(|| t.always.into())) }
                        td { (e.valid_to.map(|x| desk.time(x)).unwrap_or_else(|| t.always.into())) }
                        td {
                            form.inline method="post" action="/lists/remove" {
                                (csrf(user))
                                input type="hidden" name="kind" value=(e.kind.as_str());
                                input type="hidden" name="plate" value=(e.plate);
                                button type="submit" { (t.remove) }
                            }
                        }
                    }
                }
            }
        }
        p.muted { (matching.len().min(SHOWN)) " / " (matching.len()) }
        form.box #import method="post" action="/lists/import" {
            (csrf(user))
            p { (t.import_csv) ": " code { (HEADER) } }
            textarea name="csv" {}
            button type="submit" { (t.import_button) }
        }
    };
    Ok(layout::page(user, Nav::Lists, t.nav_lists, body))
}

#[derive(Deserialize)]
pub struct PutForm {
    csrf: String,
    kind: String,
    plate: String,
    label: Option<String>,
    valid_from: Option<String>,
    valid_to: Option<String>,
}

fn bad(e: impl std::fmt::Display) -> Refusal {
    Refusal::BadRequest(e.to_string())
}

/// `POST /lists/put`: add an entry, or change the one with the same list and plate.
pub async fn put(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    headers: HeaderMap,
    Form(f): Form<PutForm>,
) -> Result<Response, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    let local = desk.settings.local;
    let kind: ListKind = f.kind.parse().map_err(bad)?;
    let from = local_time(local, "valid_from", &f.valid_from)?;
    let to = local_time(local, "valid_to", &f.valid_to)?;
    let e = ListEntry::new(kind, &f.plate, given(&f.label).unwrap_or_default(), from, to).map_err(bad)?;
    let new = desk.store.put_entry(&e).await?;
    let action = if new { "list_added" } else { "list_changed" };
    desk.audit(user.name(), action, &e.plate, Some(kind.as_str().into()), user.audit_source()).await?;
    Ok(Redirect::to(&format!("/lists?done={}", super::alerts::url_encode(&e.plate))).into_response())
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
    kind: String,
    plate: String,
}

/// `POST /lists/remove`.
pub async fn remove(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    headers: HeaderMap,
    Form(f): Form<RemoveForm>,
) -> Result<Response, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    let kind: ListKind = f.kind.parse().map_err(bad)?;
    let plate = gatewatch_core::plate::normalize(&f.plate).map_err(bad)?;
    if !desk.store.remove_entry(kind, &plate).await? {
        return Err(Refusal::NotFound);
    }
    desk.audit(user.name(), "list_removed", &plate, Some(kind.as_str().into()), user.audit_source()).await?;
    Ok(Redirect::to(&format!("/lists?done={}", super::alerts::url_encode(&plate))).into_response())
}

#[derive(Deserialize)]
pub struct ImportForm {
    csrf: String,
    csv: String,
}

/// `POST /lists/import`: all rows or none; the bad rows are named on the page.
pub async fn import(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    headers: HeaderMap,
    Form(f): Form<ImportForm>,
) -> Result<Response, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    if f.csv.len() > MAX_IMPORT {
        return Err(Refusal::BadRequest(format!("CSV larger than {MAX_IMPORT} bytes")));
    }
    let q = ListsQuery { q: None, kind: None, done: None };
    let entries = match parse_csv(&f.csv) {
        Ok(e) => e,
        Err(errors) => {
            let text = format!("{} bad row(s), nothing imported:\n{}", errors.len(), errors.join("\n"));
            return Ok((axum::http::StatusCode::BAD_REQUEST, page(&desk, &user, &q, Some(text)).await?).into_response());
        }
    };
    let mut added = 0;
    for e in &entries {
        added += usize::from(desk.store.put_entry(e).await?);
    }
    let detail = format!("{} entries, {added} new", entries.len());
    desk.audit(user.name(), "list_imported", "csv", Some(detail.clone()), user.audit_source()).await?;
    Ok(Redirect::to(&format!("/lists?done={}", super::alerts::url_encode(&detail))).into_response())
}

/// `GET /lists.csv`: every entry (personal data: the export is audited).
pub async fn export(State(desk): State<Arc<Desk>>, Admin(user): Admin) -> Result<Response, Refusal> {
    let entries = desk.store.list_entries().await?;
    desk.audit(user.name(), "list_exported", "csv", Some(format!("{} entries", entries.len())), user.audit_source())
        .await?;
    let mut csv = format!("{HEADER}\n");
    for e in &entries {
        csv.push_str(&to_csv_row(e));
        csv.push('\n');
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"gatewatch-lists.csv\""),
        ],
        csv,
    )
        .into_response())
}

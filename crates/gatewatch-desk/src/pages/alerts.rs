//! Alerts: the live page, one alert whole (pictures, sightings, history, actions), the
//! history with filters and paging, and the pictures themselves (logged-in users only, every
//! view audited).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatewatch_core::incident::Action;
use gatewatch_store::{ActError, AlertFilter, Picture, StoredAlert};
use maud::{Markup, html};
use serde::Deserialize;

use super::{free_text, given, local_field, local_time, shown};
use crate::i18n::Strings;
use crate::layout::{self, Nav, csrf};
use crate::{Desk, Refusal, User};

/// Most alerts on the live page (open ones, newest first).
const LIVE_ROWS: i64 = 200;
/// Alerts per history page.
const HISTORY_PAGE: i64 = 50;
/// Longest note on an alert action, in characters.
const MAX_NOTE: usize = 500;

/// One alert as a row of the live page or the history (also sent over the live stream).
pub fn row(desk: &Desk, t: &Strings, a: &StoredAlert) -> Markup {
    let (al, st) = (&a.alert, &a.status);
    let sev = al.kind.severity();
    html! {
        tr id={ "a-" (al.alert_id) } class={ "sev-" (sev.as_str()) } data-state=(st.state.as_str()) {
            td { (t.severity_name(sev)) }
            td { (desk.time(al.at)) @if st.sightings > 1 { br; span.muted { (t.last_seen) " " (desk.time(st.last_seen)) } } }
            td { b { (t.kind(al.kind)) } br; span.muted { (al.rule) } }
            td { (al.site) " / " (al.edge) " / " (al.camera) }
            td {
                (shown(&t.summary(al))) br;
                @if let Some(p) = &al.plate { span.plate { (shown(p)) } }
                @if let Some(m) = &al.matched {
                    br; (t.list_kind(m.kind)) ": " span.plate { (shown(&m.entry_plate)) } " " (shown(&m.label))
                    " (" (t.distance) " " (format!("{:.1}", m.distance)) ")"
                }
                @if !al.candidates.is_empty() {
                    br; span.muted { (t.candidates) ": " }
                    @for c in &al.candidates { span.plate { (shown(c)) } " " }
                }

            }
            td class={ "state-" (st.state.as_str()) } { (t.state(st.state)) }
            td { (st.sightings) }
            td { img.thumb src={ "/alerts/" (al.alert_id) "/picture" } alt=(t.no_picture) loading="lazy"; }
            td { a href={ "/alerts/" (al.alert_id) } { (t.open_alert) } }
        }
    }
}

fn table_head(t: &Strings) -> Markup {
    html! {
        thead { tr {
            th { (t.severity) } th { (t.time) } th { (t.rule) } th { (t.place) } th { (t.plate) " / " (t.message) }
            th { (t.state) } th { (t.sightings) } th { (t.snapshot) } th {}
        } }
    }
}

/// `GET /`: the open alerts, newest first; new and changed ones arrive by themselves.
pub async fn live_page(State(desk): State<Arc<Desk>>, user: User) -> Result<Markup, Refusal> {
    let t = user.t();
    let alerts = desk.store.alerts_page(true, LIVE_ROWS).await?;
    let body = html! {
        p.muted { (t.live_hint) }
        table #live data-new-alert=(t.new_alert) {
            (table_head(t))
            tbody {
                @for a in &alerts { (row(&desk, t, a)) }
            }
        }
        @if alerts.is_empty() { p #no-alerts { (t.no_alerts) } }
    };
    Ok(layout::page(&user, Nav::Live, t.nav_live, body))
}

#[derive(Deserialize)]
pub struct DetailQuery {
    done: Option<String>,
}

/// `GET /alerts/{id}`: one alert whole.
pub async fn detail(
    State(desk): State<Arc<Desk>>,
    user: User,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Markup, Refusal> {
    let notice = q.done.is_some().then_some(Notice::Done);
    render_detail(&desk, &user, &id, notice).await
}

enum Notice {
    Done,
    Refused(String),
}

async fn render_detail(desk: &Desk, user: &User, id: &str, notice: Option<Notice>) -> Result<Markup, Refusal> {
    let t = user.t();
    let a = desk.store.alert(id).await?.ok_or(Refusal::NotFound)?;
    let history = desk.store.alert_history(id).await?;
    let sightings = desk.store.alert_sightings(id).await?;
    let picture = desk.store.alert_picture(&a).await?;
    let (al, st) = (&a.alert, &a.status);
    let best = st.best_event_id;
    let body = html! {
        @match &notice {
            Some(Notice::Done) => p.notice { (t.done) },
            Some(Notice::Refused(why)) => p.warning { (t.refused) (why) },
            None => {},
        }
        table.box {
            tr { th { (t.rule) } td { b { (t.kind(al.kind)) } " · " (al.rule) " · " (t.severity_name(al.kind.severity())) } }
            tr { th { (t.state) } td class={ "state-" (st.state.as_str()) } #state { (t.state(st.state)) } }
            tr { th { (t.place) } td { (al.site) " / " (al.edge) " / " (al.camera) } }
            @if let Some(z) = &al.zone { tr { th { (t.zone) } td { (shown(z)) } } }
            @if let Some(tr_id) = al.track { tr { th { (t.track) } td { (tr_id) } } }
            tr { th { (t.time) } td { (desk.time(al.at)) } }
            tr { th { (t.last_seen) } td { (desk.time(st.last_seen)) " · " (t.sightings) " " (st.sightings) } }
            tr { th { (t.message) } td { (shown(&t.summary(al))) br; span.muted { (shown(&al.message)) } } }
            @if let Some(p) = &al.plate { tr { th { (t.plate) } td { span.plate #plate { (shown(p)) } } } }
            @if let Some(m) = &al.matched {
                tr { th { (t.matched) } td {
                    (t.list_kind(m.kind)) ": " span.plate { (shown(&m.entry_plate)) } " — " (shown(&m.label)) br;
                    (t.read_as) " " span.plate { (shown(&m.read)) } ", " (t.distance) " " (format!("{:.1}", m.distance))
                } }
            }
            @if !al.candidates.is_empty() {
                tr { th { (t.candidates) } td { @for c in &al.candidates { span.plate { (shown(c)) } " " } } }
            }
        }
        h2 { (t.snapshot) }
        p {
            @if al.plate.is_some() {
                img.full src={ "/pictures/" (best) "/plate" } alt=(t.plate_picture);
                " "
            }
            @if picture.is_some() {
                img.full #picture src={ "/alerts/" (al.alert_id) "/picture" } alt=(t.snapshot);
            } @else {
                span.muted { (t.no_picture_yet) }
            }
        }
        @if !st.state.is_closed() {
            form.box method="post" action={ "/alerts/" (al.alert_id) "/act" } {
                (csrf(user))
                label { (t.note) " " input type="text" name="note" maxlength="500" size="60"; }
                @if st.state == gatewatch_core::incident::AlertState::Open {
                    button #ack type="submit" name="action" value="acknowledge" { (t.act_acknowledge) }
                    " "
                }
                button #resolve type="submit" name="action" value="resolve" { (t.act_resolve) }
                " "
                button #false-alarm type="submit" name="action" value="false_alarm" { (t.act_false_alarm) }
            }
        }
        h2 { (t.alert_history) }
        table #history {
            @for h in &history {
                tr {
                    td { (desk.time(h.at)) }
                    td { (t.history_action(&h.action)) }
                    td { (h.by.as_deref().unwrap_or(t.by_rules)) }
                    td { (shown(h.note.as_deref().unwrap_or_default())) }
                }
            }
        }
        h2 { (t.sightings_list) }
        table {
            @for s in &sightings {
                tr {
                    td { (desk.time(s.at)) }
                    td { (s.camera) }
                }
            }
        }
    };
    Ok(layout::page(user, Nav::Live, t.alert_title, body))
}

#[derive(Deserialize)]
pub struct ActForm {
    csrf: String,
    action: String,
    note: Option<String>,
}

/// `POST /alerts/{id}/act`: acknowledge, resolve or call a false alarm, with a note.
pub async fn act(
    State(desk): State<Arc<Desk>>,
    user: User,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ActForm>,
) -> Result<Response, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    match act_as(&desk, user.name(), user.audit_source(), &id, &f.action, &f.note).await {
        Ok(_) => Ok(Redirect::to(&format!("/alerts/{id}?done=1")).into_response()),
        Err(Refusal::Conflict(why)) => {
            let page = render_detail(&desk, &user, &id, Some(Notice::Refused(why))).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `who` acknowledges, resolves or calls a false alarm (`action`), with a note; audited.
pub(crate) async fn act_as(
    desk: &Desk,
    who: &str,
    source: Option<String>,
    id: &str,
    action: &str,
    note: &Option<String>,
) -> Result<gatewatch_core::incident::AlertMessage, Refusal> {
    let action = match action {
        "acknowledge" => Action::Acknowledge,
        "resolve" => Action::Resolve,
        "false_alarm" => Action::FalseAlarm,
        other => return Err(Refusal::BadRequest(format!("action {other:?}"))),
    };
    let note = free_text("note", note, MAX_NOTE)?;
    match desk.store.act_on_alert(id, action, who, note.as_deref(), desk.now()).await {
        Ok(msg) => {
            let state = msg.status().state.as_str();
            desk.audit(who, &format!("alert_{state}"), id, note, source).await?;
            Ok(msg)
        }
        Err(ActError::NotFound(_)) => Err(Refusal::NotFound),
        Err(ActError::Refused { why, .. }) => Err(Refusal::Conflict(why)),
        Err(ActError::Store(e)) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct HistoryQuery {
    state: Option<String>,
    rule: Option<String>,
    site: Option<String>,
    gate: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The previous page's last row: `at` (RFC 3339) and id.
    before_at: Option<String>,
    before_id: Option<String>,
}

/// `GET /history`: every alert, filtered, newest first, a page at a time.
pub async fn history(
    State(desk): State<Arc<Desk>>,
    user: User,
    Query(q): Query<HistoryQuery>,
) -> Result<Markup, Refusal> {
    let t = user.t();
    let local = desk.settings.local;
    let state = given(&q.state).map(str::to_string);
    if let Some(s) = &state {
        s.parse::<gatewatch_core::incident::AlertState>().map_err(|_| Refusal::BadRequest(format!("state {s:?}")))?;
    }
    let before = match (given(&q.before_at), given(&q.before_id)) {
        (Some(at), Some(id)) => Some((
            chrono::DateTime::parse_from_rfc3339(at)
                .map_err(|_| Refusal::BadRequest("before_at".into()))?
                .with_timezone(&chrono::Utc),
            id.to_string(),
        )),
        _ => None,
    };
    let filter = AlertFilter {
        state,
        rule: given(&q.rule).map(str::to_string),
        site: given(&q.site).map(str::to_string),
        edge: given(&q.gate).map(str::to_string),
        from: local_time(local, "from", &q.from)?,
        to: local_time(local, "to", &q.to)?,
        before,
        limit: HISTORY_PAGE,
    };
    let alerts = desk.store.alerts_filtered(&filter).await?;
    let (rules, sites) = desk.store.alert_rules_and_sites().await?;
    let next = (alerts.len() as i64 == HISTORY_PAGE).then(|| alerts.last()).flatten().map(|last| {
        let mut params: Vec<(&str, String)> =
            vec![("before_at", last.alert.at.to_rfc3339()), ("before_id", last.alert.alert_id.to_string())];
        for (k, v) in [
            ("state", &q.state),
            ("rule", &q.rule),
            ("site", &q.site),
            ("gate", &q.gate),
            ("from", &q.from),
            ("to", &q.to),
        ] {
            if let Some(v) = given(v) {
                params.push((k, v.to_string()));
            }
        }
        format!("/history?{}", serde_urlencoded_pairs(&params))
    });
    let sel = |v: &Option<String>, x: &str| given(v) == Some(x);
    let body = html! {
        form.box method="get" action="/history" {
            label { (t.state) " " select name="state" {
                option value="" { (t.all) }
                @for s in ["open", "acknowledged", "resolved", "false_alarm"] {
                    option value=(s) selected[sel(&q.state, s)] {
                        (t.state(s.parse().unwrap_or(gatewatch_core::incident::AlertState::Open)))
                    }
                }
            } }
            label { (t.rule) " " select name="rule" {
                option value="" { (t.all) }
                @for r in &rules { option value=(r) selected[sel(&q.rule, r)] { (r) } }
            } }
            label { (t.site) " " select name="site" {
                option value="" { (t.all) }
                @for s in &sites { option value=(s) selected[sel(&q.site, s)] { (s) } }
            } }
            label { (t.gate) " " input type="text" name="gate" size="10" value=(given(&q.gate).unwrap_or_default()); }
            label { (t.from) " " input type="datetime-local" name="from" value=(filter.from.map(|f| local_field(local, f)).unwrap_or_default()); }
            label { (t.to) " " input type="datetime-local" name="to" value=(filter.to.map(|f| local_field(local, f)).unwrap_or_default()); }
            button type="submit" { (t.filter) }
        }
        table #history-table {
            (table_head(t))
            tbody { @for a in &alerts { (row(&desk, t, a)) } }
        }
        @if alerts.is_empty() { p { (t.nothing_found) } }
        @if let Some(href) = next { p { a #next href=(href) { (t.next_page) } } }
    };
    Ok(layout::page(&user, Nav::History, t.nav_history, body))
}

/// `k=v&k=v`, URL-encoded.
fn serde_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encode everything but unreserved characters (RFC 3986).
pub(crate) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /pictures/{event_id}/{snapshot|plate|vehicle}`: a picture, for logged-in users; each
/// user's first view of a picture within an hour is audited.
pub async fn picture(
    State(desk): State<Arc<Desk>>,
    user: User,
    Path((event_id, which)): Path<(String, String)>,
) -> Result<Response, Refusal> {
    let which = match which.as_str() {
        "snapshot" => Picture::Snapshot,
        "plate" => Picture::Plate,
        "vehicle" => Picture::Vehicle,
        _ => return Err(Refusal::NotFound),
    };
    if uuid_like(&event_id).is_none() {
        return Err(Refusal::NotFound);
    }
    let mut found = desk.store.picture(&event_id, which).await?;
    if found.is_none() && which == Picture::Snapshot {
        // A plate read has no track snapshot: its vehicle picture stands for it.
        found = desk.store.picture(&event_id, Picture::Vehicle).await?;
    }
    let (content_type, bytes) = found.ok_or(Refusal::NotFound)?;
    if desk.first_view(user.name(), &event_id) {
        let kind = format!("{which:?}").to_lowercase();
        desk.audit(user.name(), "picture_viewed", &event_id, Some(kind), user.audit_source()).await?;
    }
    let content_type = if content_type == "image/jpeg" || content_type == "image/png" {
        content_type
    } else {
        "application/octet-stream".into()
    };
    Ok(([(CONTENT_TYPE, content_type)], bytes).into_response())
}

/// `GET /alerts/{id}/picture`: the picture that shows an alert (see
/// [`gatewatch_store::Store::alert_picture`]), audited as a view of its event.
pub async fn alert_picture(
    State(desk): State<Arc<Desk>>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    uuid_like(&id).ok_or(Refusal::NotFound)?;
    let a = desk.store.alert(&id).await?.ok_or(Refusal::NotFound)?;
    let (event_id, which) = desk.store.alert_picture(&a).await?.ok_or(Refusal::NotFound)?;
    serve_picture(&desk, &user, &event_id, which).await
}

pub(crate) async fn serve_picture(
    desk: &Desk,
    user: &User,
    event_id: &str,
    which: Picture,
) -> Result<Response, Refusal> {
    let (content_type, bytes) = desk.store.picture(event_id, which).await?.ok_or(Refusal::NotFound)?;
    if desk.first_view(user.name(), event_id) {
        let kind = format!("{which:?}").to_lowercase();
        desk.audit(user.name(), "picture_viewed", event_id, Some(kind), user.audit_source()).await?;
    }
    let content_type = if content_type == "image/jpeg" || content_type == "image/png" {
        content_type
    } else {
        "application/octet-stream".into()
    };
    Ok(([(CONTENT_TYPE, content_type)], bytes).into_response())
}

/// An event id is a UUID: anything else is not looked up.
fn uuid_like(s: &str) -> Option<()> {
    (s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(())
}

//! The desk's JSON API for integrations (a dispatch system, a district's own screens), under
//! `/api/v1`, described by OpenAPI at `/api/v1/openapi.json`. A caller sends
//! `Authorization: Bearer <token>` (made with `gatewatch users token USER --label …`) and acts
//! as that user, with their role: officers read alerts, act on them, look vehicles up and see
//! the cameras; admins also read and change the lists. No cookies, so no CSRF; every look-up,
//! action and list change is audited as the pages' are, with the token's label.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gatewatch_core::registry::{ListEntry, ListKind};
use gatewatch_store::{AlertFilter, DeskUser, Role, StoredAlert};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::pages::{alerts, vehicles};
use crate::{Desk, Refusal};

/// The API's routes (under `/api/v1`).
pub fn routes() -> Router<Arc<Desk>> {
    use axum::routing::{delete, get, post};
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(get_alert))
        .route("/alerts/{id}/actions", post(act))
        .route("/vehicles", get(vehicle))
        .route("/cameras", get(cameras))
        .route("/lists", get(list_entries).post(put_entry))
        .route("/lists/{kind}/{plate}", delete(remove_entry))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gatewatch watch desk API", version = "1", description = "Alerts, vehicle look-ups, cameras and plate lists of a gatewatch centre. Send `Authorization: Bearer <token>`."),
    paths(list_alerts, get_alert, act, vehicle, cameras, list_entries, put_entry, remove_entry),
    components(schemas(ApiAlert, ApiMatch, ApiAlertDetail, ApiHistory, ApiSighting, ApiAction, ApiVehicle,
        ApiPlateSighting, ApiListEntry, ApiVisit, ApiCamera, ApiError)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        openapi.security = Some(vec![SecurityRequirement::new("token", Vec::<String>::new())]);
    }
}

/// `GET /api/v1/openapi.json`: this API described (no token needed).
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A caller of the API: the desk user its token acts as.
pub struct ApiUser {
    user: DeskUser,
    label: String,
    source: Option<SocketAddr>,
}

impl ApiUser {
    fn name(&self) -> &str {
        &self.user.name
    }

    /// The client's address and the token's label, for the audit log.
    fn audit_source(&self) -> Option<String> {
        let ip = self.source.map(|a| a.ip().to_string()).unwrap_or_default();
        Some(format!("{ip} api:{}", self.label).trim().to_string())
    }

    fn admin(self) -> Result<Self, ApiError> {
        if self.user.role == Role::Admin { Ok(self) } else { Err(Refusal::Forbidden.into()) }
    }
}

impl FromRequestParts<Arc<Desk>> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, desk: &Arc<Desk>) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = header.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty() && t.len() <= 128);
        let token = token.ok_or(Refusal::Login)?;
        let (user, label) =
            desk.store.api_token_user(token, desk.now()).await.map_err(Refusal::from)?.ok_or(Refusal::Login)?;
        Ok(ApiUser { user, label, source: crate::session::source(parts) })
    }
}

/// An error, as JSON: `{"error": "..."}` with the HTTP status saying which kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    error: String,
    #[serde(skip)]
    status: u16,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let (status, error) = match r {
            Refusal::Login => (401, "a valid API token is needed (Authorization: Bearer …)".to_string()),
            Refusal::Forbidden => (403, "this token's user may not do this".into()),
            Refusal::NotFound => (404, "not found".into()),
            Refusal::Csrf => (403, "refused".into()),
            Refusal::BadRequest(why) => (400, why),
            Refusal::Conflict(why) => (409, why),
            Refusal::Internal => (500, "the store failed; try again shortly".into()),
        };
        ApiError { error, status }
    }
}

impl From<gatewatch_store::StoreError> for ApiError {
    fn from(e: gatewatch_store::StoreError) -> Self {
        Refusal::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// An alert as it is now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiAlert {
    pub id: String,
    /// The configured rule's name.
    pub rule: String,
    /// `loitering`, `watchlist`, `unknown_vehicle`, `camera_offline`, `stationary`, `tampering`,
    /// `overstay`, `exit_without_entry`, `unknown_inside`.
    pub kind: String,
    /// `high`, `medium` or `low`.
    pub severity: String,
    pub site: String,
    pub edge: String,
    pub camera: String,
    pub track: Option<u64>,
    pub zone: Option<String>,
    /// Personal data.
    pub plate: Option<String>,
    pub matched: Option<ApiMatch>,
    pub candidates: Vec<String>,
    /// When the condition became true (capture time).
    pub at: DateTime<Utc>,
    pub message: String,
    /// `open`, `acknowledged`, `resolved` or `false_alarm`.
    pub state: String,
    pub sightings: u64,
    pub last_seen: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The picture that shows it, for a logged-in desk user (`/alerts/{id}/picture`).
    pub picture: String,
}

/// The list entry a plate alert matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiMatch {
    pub list: String,
    pub entry_plate: String,
    pub label: String,
    pub read: String,
    pub distance: f32,
}

impl From<&StoredAlert> for ApiAlert {
    fn from(a: &StoredAlert) -> Self {
        let (al, st) = (&a.alert, &a.status);
        ApiAlert {
            id: al.alert_id.to_string(),
            rule: al.rule.clone(),
            kind: al.kind.as_str().into(),
            severity: al.kind.severity().as_str().into(),
            site: al.site.clone(),
            edge: al.edge.clone(),
            camera: al.camera.clone(),
            track: al.track,
            zone: al.zone.clone(),
            plate: al.plate.clone(),
            matched: al.matched.as_ref().map(|m| ApiMatch {
                list: m.kind.as_str().into(),
                entry_plate: m.entry_plate.clone(),
                label: m.label.clone(),
                read: m.read.clone(),
                distance: m.distance,
            }),
            candidates: al.candidates.clone(),
            at: al.at,
            message: al.message.clone(),
            state: st.state.as_str().into(),
            sightings: st.sightings,
            last_seen: st.last_seen,
            updated_at: st.updated_at,
            closed_at: st.closed_at,
            picture: format!("/alerts/{}/picture", al.alert_id),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open`, `acknowledged`, `resolved` or `false_alarm`.
    state: Option<String>,
    rule: Option<String>,
    /// Compound.
    site: Option<String>,
    /// Gate box.
    gate: Option<String>,
    /// Alerts whose condition became true at or after this (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// ... and before this.
    to: Option<DateTime<Utc>>,
    /// The previous page's last alert: its `at` and `id`.
    before_at: Option<DateTime<Utc>>,
    before_id: Option<String>,
    /// At most this many (1..=1000, default 100).
    limit: Option<i64>,
}

/// Alerts, newest first, filtered; page with `before_at` and `before_id`.
#[utoipa::path(get, path = "/api/v1/alerts", params(AlertQuery),
    responses((status = 200, body = [ApiAlert]), (status = 401, body = ApiError)))]
async fn list_alerts(
    State(desk): State<Arc<Desk>>,
    _user: ApiUser,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Vec<ApiAlert>> {
    if let Some(s) = &q.state {
        s.parse::<gatewatch_core::incident::AlertState>().map_err(|_| Refusal::BadRequest(format!("state {s:?}")))?;
    }
    let filter = AlertFilter {
        state: q.state,
        rule: q.rule,
        site: q.site,
        edge: q.gate,
        from: q.from,
        to: q.to,
        before: q.before_at.zip(q.before_id),
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(Json(desk.store.alerts_filtered(&filter).await?.iter().map(ApiAlert::from).collect()))
}

/// One alert with its history and sightings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiAlertDetail {
    pub alert: ApiAlert,
    pub history: Vec<ApiHistory>,
    pub sightings: Vec<ApiSighting>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiHistory {
    pub at: DateTime<Utc>,
    /// `raised`, `acknowledged`, `resolved`, `false_alarm` or `ended`.
    pub action: String,
    /// The officer; none for the rules.
    pub by: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiSighting {
    pub event_id: String,
    pub at: DateTime<Utc>,
    /// `site/edge/camera`.
    pub camera: String,
}

/// One alert whole.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = ApiAlertDetail), (status = 404, body = ApiError)))]
async fn get_alert(State(desk): State<Arc<Desk>>, _user: ApiUser, Path(id): Path<String>) -> ApiResult<ApiAlertDetail> {
    let a = desk.store.alert(&id).await?.ok_or(Refusal::NotFound)?;
    let history = desk.store.alert_history(&id).await?;
    let sightings = desk.store.alert_sightings(&id).await?;
    Ok(Json(ApiAlertDetail {
        alert: ApiAlert::from(&a),
        history: history
            .into_iter()
            .map(|h| ApiHistory { at: h.at, action: h.action, by: h.by, note: h.note })
            .collect(),
        sightings: sightings
            .into_iter()
            .map(|s| ApiSighting { event_id: s.event_id, at: s.at, camera: s.camera })
            .collect(),
    }))
}

/// What to do to an alert.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiAction {
    /// `acknowledge`, `resolve` or `false_alarm`.
    pub action: String,
    /// At most 500 characters, no markup or invisible characters.
    pub note: Option<String>,
}

/// Acknowledge, resolve or call a false alarm, as the token's user; the alert as it is then.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/actions", params(("id" = String, Path, description = "alert id")),
    request_body = ApiAction,
    responses((status = 200, body = ApiAlert), (status = 409, description = "already past that state", body = ApiError)))]
async fn act(
    State(desk): State<Arc<Desk>>,
    user: ApiUser,
    Path(id): Path<String>,
    Json(a): Json<ApiAction>,
) -> ApiResult<ApiAlert> {
    alerts::act_as(&desk, user.name(), user.audit_source(), &id, &a.action, &a.note).await?;
    let now = desk.store.alert(&id).await?.ok_or(Refusal::NotFound)?;
    Ok(Json(ApiAlert::from(&now)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VehicleQuery {
    /// The plate as typed: separators and case do not matter, OCR look-alikes match.
    plate: String,
}

/// Where a vehicle was seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiVehicle {
    /// The plate looked up, normalised.
    pub plate: String,
    /// Plate reads within the look-up window, newest first.
    pub sightings: Vec<ApiPlateSighting>,
    /// List entries it matches.
    pub lists: Vec<ApiListEntry>,
    pub visits: Vec<ApiVisit>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiPlateSighting {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub site: String,
    pub edge: String,
    pub camera: String,
    /// The voted plate, then the other texts read.
    pub plates: Vec<String>,
    /// Confusion distance from the plate looked up (0/O costs 0.5).
    pub distance: f32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiListEntry {
    /// `wanted`, `stolen`, `banned`, `resident` or `visitor`.
    pub list: String,
    pub plate: String,
    #[serde(default)]
    pub label: String,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl From<&ListEntry> for ApiListEntry {
    fn from(e: &ListEntry) -> Self {
        ApiListEntry {
            list: e.kind.as_str().into(),
            plate: e.plate.clone(),
            label: e.label.clone(),
            valid_from: e.valid_from,
            valid_to: e.valid_to,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiVisit {
    pub site: String,
    pub plate: String,
    /// `inside`, `left`, `exit_only` or `superseded`.
    pub state: String,
    pub entered_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
}

/// Where a vehicle was seen (audited as a look-up by the token's user).
#[utoipa::path(get, path = "/api/v1/vehicles", params(VehicleQuery),
    responses((status = 200, body = ApiVehicle), (status = 400, body = ApiError)))]
async fn vehicle(State(desk): State<Arc<Desk>>, user: ApiUser, Query(q): Query<VehicleQuery>) -> ApiResult<ApiVehicle> {
    let r = vehicles::look_up(&desk, user.name(), user.audit_source(), &q.plate).await?;
    Ok(Json(ApiVehicle {
        plate: r.plate,
        sightings: r
            .found
            .into_iter()
            .map(|(s, distance)| ApiPlateSighting {
                event_id: s.event_id,
                at: s.at,
                site: s.site,
                edge: s.edge,
                camera: s.camera,
                plates: s.plates,
                distance,
            })
            .collect(),
        lists: r.entries.iter().map(ApiListEntry::from).collect(),
        visits: r
            .visits
            .into_iter()
            .map(|v| ApiVisit {
                site: v.site,
                plate: v.plate,
                state: v.state,
                entered_at: v.entered_at,
                left_at: v.left_at,
            })
            .collect(),
    }))
}

/// A camera's latest status.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiCamera {
    pub site: String,
    pub edge: String,
    pub camera: String,
    /// From its latest online/offline report; none when only heartbeats were heard.
    pub online: Option<bool>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub decoded_fps: Option<f64>,
    pub dropped: Option<u64>,
    pub tampered: bool,
}

/// Every camera heard from in the last 7 days.
#[utoipa::path(get, path = "/api/v1/cameras", responses((status = 200, body = [ApiCamera])))]
async fn cameras(State(desk): State<Arc<Desk>>, _user: ApiUser) -> ApiResult<Vec<ApiCamera>> {
    let cams = desk.store.camera_status(desk.now() - chrono::Duration::days(7)).await?;
    Ok(Json(
        cams.into_iter()
            .map(|c| ApiCamera {
                site: c.site,
                edge: c.edge,
                camera: c.camera,
                online: c.online,
                last_event_at: c.last_event_at,
                decoded_fps: c.decoded_fps,
                dropped: c.dropped,
                tampered: c.tampered,
            })
            .collect(),
    ))
}

/// Every list entry (admins).
#[utoipa::path(get, path = "/api/v1/lists", responses((status = 200, body = [ApiListEntry]), (status = 403, body = ApiError)))]
async fn list_entries(State(desk): State<Arc<Desk>>, user: ApiUser) -> ApiResult<Vec<ApiListEntry>> {
    let user = user.admin()?;
    let entries = desk.store.list_entries().await?;
    desk.audit(user.name(), "list_exported", "api", Some(format!("{} entries", entries.len())), user.audit_source())
        .await?;
    Ok(Json(entries.iter().map(ApiListEntry::from).collect()))
}

/// Add an entry, or change the one with the same list and plate (admins).
#[utoipa::path(post, path = "/api/v1/lists", request_body = ApiListEntry,
    responses((status = 200, body = ApiListEntry), (status = 400, body = ApiError), (status = 403, body = ApiError)))]
async fn put_entry(
    State(desk): State<Arc<Desk>>,
    user: ApiUser,
    Json(e): Json<ApiListEntry>,
) -> ApiResult<ApiListEntry> {
    let user = user.admin()?;
    let kind: ListKind = e.list.parse().map_err(Refusal::BadRequest)?;
    let entry = ListEntry::new(kind, &e.plate, &e.label, e.valid_from, e.valid_to).map_err(Refusal::BadRequest)?;
    let new = desk.store.put_entry(&entry).await?;
    let action = if new { "list_added" } else { "list_changed" };
    desk.audit(user.name(), action, &entry.plate, Some(kind.as_str().into()), user.audit_source()).await?;
    Ok(Json(ApiListEntry::from(&entry)))
}

/// Remove an entry (admins).
#[utoipa::path(delete, path = "/api/v1/lists/{kind}/{plate}",
    params(("kind" = String, Path, description = "the list"), ("plate" = String, Path, description = "the plate")),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn remove_entry(
    State(desk): State<Arc<Desk>>,
    user: ApiUser,
    Path((kind, plate)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = user.admin()?;
    let kind: ListKind = kind.parse().map_err(Refusal::BadRequest)?;
    let plate = gatewatch_core::plate::normalize(&plate).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    if !desk.store.remove_entry(kind, &plate).await? {
        return Err(Refusal::NotFound.into());
    }
    desk.audit(user.name(), "list_removed", &plate, Some(kind.as_str().into()), user.audit_source()).await?;
    Ok(StatusCode::NO_CONTENT)
}

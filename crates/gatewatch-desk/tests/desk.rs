//! The desk over a real SQLite store, through its router (no socket): logins, sessions,
//! CSRF, roles, the rate limit, escaping, pictures, look-ups, lists, users and the live feed.
//! Time is the test's clock, moved by hand.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use gatewatch_core::config::DeskConfig;
use gatewatch_core::detection::ObjectClass;
use gatewatch_core::event::{Event, EventBody, PlateRead, SCHEMA_V1, Snapshot};
use gatewatch_core::incident::{Sighting, Signal};
use gatewatch_core::registry::{ListKind, PlateMatch};
use gatewatch_core::rules::{Alert, AlertKind, LocalTime};
use gatewatch_desk::{Desk, Settings, router};
use gatewatch_store::{AuditFilter, Role, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// Markup and bidi tricks a hostile plate, label or note may carry.
const HOSTILE: &str = "<script>alert(1)</script>\u{202e}gnp.exe";

struct Desked {
    store: Store,
    desk: Arc<Desk>,
    app: Router,
    clock: Arc<Mutex<DateTime<Utc>>>,
    _dir: tempfile::TempDir,
}

impl Desked {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("desk.db").display())).await.unwrap();
        let clock = Arc::new(Mutex::new(Utc::now()));
        let c = clock.clone();
        let local = LocalTime::from_config(Some("Asia/Shanghai"), "+00:00").unwrap();
        let desk = Desk::new(
            store.clone(),
            Settings::new(&DeskConfig::default(), local),
            Arc::new(move || *c.lock().unwrap()),
        );
        let app = router(desk.clone());
        store.add_user("admin", Role::Admin, "the admin's password", Utc::now()).await.unwrap();
        store.add_user("li", Role::Officer, "an officer's password", Utc::now()).await.unwrap();
        Self { store, desk, app, clock, _dir: dir }
    }

    fn advance(&self, d: Duration) {
        *self.clock.lock().unwrap() += d;
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned(), bytes: body.to_vec() }
    }

    async fn get(&self, uri: &str, session: Option<&str>) -> Reply {
        let mut r = Request::get(uri).header("host", "desk.test");
        if let Some(s) = session {
            r = r.header(header::COOKIE, format!("gw_session={s}"));
        }
        self.send(r.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str, session: Option<&str>, form: &[(&str, &str)]) -> Reply {
        let body = form.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&");
        let mut r = Request::post(uri)
            .header("host", "desk.test")
            .header("origin", "http://desk.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(s) = session {
            r = r.header(header::COOKIE, format!("gw_session={s}"));
        }
        self.send(r.body(Body::from(body)).unwrap()).await
    }

    /// Log in through the form; the session token and its CSRF token.
    async fn login(&self, name: &str, password: &str) -> (String, String) {
        let r = self.try_login(name, password).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{name} logs in: {}", r.body);
        let token = r.cookie("gw_session").expect("a session cookie");
        let page = self.get("/", Some(&token)).await;
        assert_eq!(page.status, StatusCode::OK);
        (token, csrf_in(&page.body))
    }

    async fn try_login(&self, name: &str, password: &str) -> Reply {
        let form = self.get("/login", None).await;
        let login_cookie = form.cookie("gw_login").expect("the login form's cookie");
        let body = format!("csrf={}&name={}&password={}", csrf_in(&form.body), enc(name), enc(password));
        let req = Request::post("/login")
            .header("host", "desk.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("gw_login={login_cookie}"))
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// Raise an alert on a plate read (hostile text in every free field).
    async fn plate_alert(&self, plate: &str, label: &str) -> (Alert, Event) {
        let ev = plate_read(plate, self.now());
        let alert = Alert {
            alert_id: uuid::Uuid::now_v7(),
            key: format!("watchlist/{plate}"),
            rule: "wanted".into(),
            kind: AlertKind::Watchlist,
            site: "north".into(),
            edge: "gate-1".into(),
            camera: "cam1".into(),
            track: Some(4),
            zone: None,
            plate: Some(plate.into()),
            matched: Some(PlateMatch {
                kind: ListKind::Wanted,
                entry_plate: plate.into(),
                label: label.into(),
                read: plate.into(),
                distance: 0.0,
            }),
            candidates: vec![HOSTILE.into()],
            at: ev.captured_at,
            event_id: ev.event_id,
            message: format!("wanted plate at the gate {HOSTILE}"),
        };
        let signal = Signal::Seen(Sighting { alert: alert.clone(), cooldown: Duration::minutes(10), score: 0.9 });
        self.store.commit(&ev, &[signal]).await.unwrap();
        (alert, ev)
    }

    fn now(&self) -> DateTime<Utc> {
        *self.clock.lock().unwrap()
    }

    async fn audit(&self, action: &str) -> Vec<gatewatch_store::AuditEntry> {
        let f = AuditFilter { action: Some(action.into()), limit: 100, ..Default::default() };
        self.store.audit_log(&f).await.unwrap().into_iter().map(|(_, e)| e).collect()
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
    bytes: Vec<u8>,
}

impl Reply {
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap().to_string()))
            .filter(|v| !v.is_empty())
    }

    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The CSRF token of the first form on a page.
fn csrf_in(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

fn plate_read(plate: &str, at: DateTime<Utc>) -> Event {
    Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: "gate-1".into(),
        camera: "cam1".into(),
        seq: 1,
        captured_at: at,
        body: EventBody::PlateRead(PlateRead {
            track: 4,
            plate: plate.into(),
            confidence: 0.9,
            valid: Some(true),
            candidates: vec![],
            reads: 5,
            stable: true,
            update: false,
            plate_snapshot: Some(Snapshot::jpeg(2, 1, &[0xff, 0xd8, 0xff, 0x01])),
            vehicle_snapshot: Some(Snapshot::jpeg(4, 3, &[0xff, 0xd8, 0xff, 0x02])),
        }),
    }
}

#[tokio::test]
async fn a_login_opens_a_session_that_ends_at_logout_idle_or_expiry() {
    let d = Desked::new().await;
    assert_eq!(d.get("/", None).await.location(), "/login", "no session: to the login page");
    let wrong = d.try_login("li", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.cookie("gw_session").is_none());
    let (token, csrf) = d.login("li", "an officer's password").await;
    let page = d.get("/", Some(&token)).await;
    assert!(page.body.contains("实时警报"), "Chinese by default");
    assert!(page.body.contains(r#"id="user">li<"#));
    // Logout ends it; the old cookie opens nothing.
    let out = d.post("/logout", Some(&token), &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location()), (StatusCode::SEE_OTHER, "/login"));
    assert_eq!(d.get("/", Some(&token)).await.location(), "/login", "a session after logout");
    // Idle for longer than 30 minutes: gone.
    let (token, _) = d.login("li", "an officer's password").await;
    d.advance(Duration::minutes(29));
    assert_eq!(d.get("/", Some(&token)).await.status, StatusCode::OK);
    d.advance(Duration::minutes(31));
    assert_eq!(d.get("/", Some(&token)).await.location(), "/login", "idle past 30 minutes");
    // Used all along, but older than 12 hours: gone.
    let (token, _) = d.login("li", "an officer's password").await;
    for _ in 0..25 {
        d.advance(Duration::minutes(29));
        let r = d.get("/history", Some(&token)).await;
        if r.status != StatusCode::OK {
            break;
        }
    }
    assert_eq!(d.get("/", Some(&token)).await.location(), "/login", "past the session's 12 hours");
    assert_eq!(d.audit("login").await.len(), 3);
    assert_eq!(d.audit("login_refused").await.len(), 1);
    assert_eq!(d.audit("logout").await.len(), 1);
}

#[tokio::test]
async fn twenty_wrong_passwords_lock_the_name_out_even_for_the_right_one() {
    let d = Desked::new().await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(d.try_login("li", "guess guess guess").await.status);
    }
    assert!(statuses[..5].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let right = d.try_login("li", "an officer's password").await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "locked even with the right password");
    assert!(right.body.contains("尝试次数过多"));
    // The lock lasts the window (15 minutes), then the right password works again.
    d.advance(Duration::minutes(16));
    d.login("li", "an officer's password").await;
    assert_eq!(d.audit("login_locked").await.len(), 16);
}

#[tokio::test]
async fn a_forged_form_is_refused_and_changes_nothing() {
    let d = Desked::new().await;
    let (alert, _) = d.plate_alert("京A12345", "case 7").await;
    let (token, csrf) = d.login("li", "an officer's password").await;
    let act = format!("/alerts/{}/act", alert.alert_id);
    let no_token = d.post(&act, Some(&token), &[("action", "acknowledge")]).await;
    assert!(no_token.status.is_client_error(), "{}", no_token.status);
    let wrong = d.post(&act, Some(&token), &[("csrf", "forged"), ("action", "acknowledge")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // The right token from another site's page.
    let req = Request::post(act.as_str())
        .header("host", "desk.test")
        .header("origin", "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("gw_session={token}"))
        .body(Body::from(format!("csrf={csrf}&action=acknowledge")))
        .unwrap();
    assert_eq!(d.send(req).await.status, StatusCode::FORBIDDEN);
    // A login form without its cookie.
    let req = Request::post("/login")
        .header("host", "desk.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("csrf=x&name=li&password=an+officer%27s+password"))
        .unwrap();
    assert_eq!(d.send(req).await.status, StatusCode::FORBIDDEN);
    let stored = d.store.alert(&alert.alert_id.to_string()).await.unwrap().unwrap();
    assert_eq!(stored.status.state.as_str(), "open", "nothing changed");
    // The real form: acknowledged, by the logged-in officer, with the note, audited.
    let ok = d.post(&act, Some(&token), &[("csrf", &csrf), ("action", "acknowledge"), ("note", "on my way")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let page = d.get(ok.location(), Some(&token)).await;
    assert!(page.body.contains("处理中") && page.body.contains("on my way"));
    let history = d.store.alert_history(&alert.alert_id.to_string()).await.unwrap();
    assert_eq!(history.last().unwrap().by.as_deref(), Some("li"));
    assert_eq!(d.audit("alert_acknowledged").await.len(), 1);
    // Acknowledging twice is refused and said so.
    let again = d.post(&act, Some(&token), &[("csrf", &csrf), ("action", "acknowledge")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // A note with markup is refused, not stored.
    let bad = d.post(&act, Some(&token), &[("csrf", &csrf), ("action", "resolve"), ("note", HOSTILE)]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_officer_cannot_open_admin_pages() {
    let d = Desked::new().await;
    let (token, csrf) = d.login("li", "an officer's password").await;
    for page in ["/users", "/lists", "/audit", "/audit.csv", "/lists.csv"] {
        assert_eq!(d.get(page, Some(&token)).await.status, StatusCode::FORBIDDEN, "{page}");
    }
    let add = d.post("/users/add", Some(&token), &[("csrf", &csrf), ("name", "mole"), ("role", "admin")]).await;
    assert_eq!(add.status, StatusCode::FORBIDDEN);
    assert!(d.store.user("mole").await.unwrap().is_none());
    let put = d.post("/lists/put", Some(&token), &[("csrf", &csrf), ("kind", "resident"), ("plate", "京A00001")]).await;
    assert_eq!(put.status, StatusCode::FORBIDDEN);
    assert!(d.store.list_entries().await.unwrap().is_empty());
    let home = d.get("/", Some(&token)).await;
    assert!(!home.body.contains(r#"href="/users""#), "no admin links for an officer");
    // The admin may.
    let (admin, _) = d.login("admin", "the admin's password").await;
    let users = d.get("/users", Some(&admin)).await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.body.contains(">li<"));
}

#[tokio::test]
async fn hostile_text_renders_as_text_and_every_response_is_guarded() {
    let d = Desked::new().await;
    let (alert, _) = d.plate_alert("京A12345", HOSTILE).await;
    let (token, _) = d.login("admin", "the admin's password").await;
    for page in ["/".to_string(), format!("/alerts/{}", alert.alert_id), "/history".into()] {
        let r = d.get(&page, Some(&token)).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(!r.body.contains("<script>alert(1)"), "{page}: markup escaped");
        assert!(
            r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\u{202e}gnp.exe"),
            "{page}: the bidi override shown, not obeyed"
        );
        assert!(!r.body.contains('\u{202e}'), "{page}");
        let csp = r.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(r.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
    let login = d.get("/login", None).await;
    let c = login.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"), "{c}");
    // A hostile label cannot be put on a list either: refused, named.
    let (admin, csrf) = d.login("admin", "the admin's password").await;
    let put = d
        .post("/lists/put", Some(&admin), &[("csrf", &csrf), ("kind", "wanted"), ("plate", "京A1"), ("label", HOSTILE)])
        .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    assert!(put.body.contains("label"), "{}", put.body);
}

#[tokio::test]
async fn pictures_are_for_logged_in_users_and_each_view_is_audited() {
    let d = Desked::new().await;
    let (alert, ev) = d.plate_alert("京A12345", "case 7").await;
    let url = format!("/pictures/{}/vehicle", ev.event_id);
    assert_eq!(d.get(&url, None).await.location(), "/login");
    let (token, _) = d.login("li", "an officer's password").await;
    let pic = d.get(&url, Some(&token)).await;
    assert_eq!(pic.status, StatusCode::OK);
    assert_eq!(pic.bytes, [0xff, 0xd8, 0xff, 0x02]);
    assert_eq!(pic.headers.get(header::CONTENT_TYPE).unwrap(), "image/jpeg");
    let plate = d.get(&format!("/pictures/{}/plate", ev.event_id), Some(&token)).await;
    assert_eq!(plate.bytes, [0xff, 0xd8, 0xff, 0x01]);
    let viewed = d.audit("picture_viewed").await;
    assert_eq!(viewed.len(), 1, "the same user's views of one event within an hour: once");
    assert_eq!((viewed[0].user.as_str(), viewed[0].subject.clone()), ("li", ev.event_id.to_string()));
    d.advance(Duration::minutes(61));
    let (token, _) = d.login("li", "an officer's password").await;
    d.get(&url, Some(&token)).await;
    assert_eq!(d.audit("picture_viewed").await.len(), 2, "again after an hour");
    assert_eq!(d.get(&format!("/pictures/{}/nothing", ev.event_id), Some(&token)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(d.get("/pictures/'%20OR%201=1--/plate", Some(&token)).await.status, StatusCode::NOT_FOUND);
    // An alert's picture: a plate alert shows its vehicle.
    let shown = d.get(&format!("/alerts/{}/picture", alert.alert_id), Some(&token)).await;
    assert_eq!(shown.bytes, [0xff, 0xd8, 0xff, 0x02]);
    // A loiterer's alert has no picture until the track ends; then it shows the track's.
    let mut entered = plate_read("X", d.now());
    entered.body = EventBody::ZoneEntered { track: 9, class: ObjectClass::Person, zone: "shed".into() };
    let loiter = Alert {
        alert_id: uuid::Uuid::now_v7(),
        key: "loitering/9".into(),
        rule: "shed".into(),
        kind: AlertKind::Loitering,
        track: Some(9),
        zone: Some("shed".into()),
        plate: None,
        matched: None,
        candidates: vec![],
        event_id: entered.event_id,
        message: "someone by the bike shed".into(),
        ..alert.clone()
    };
    let signal = Signal::Seen(Sighting { alert: loiter.clone(), cooldown: Duration::minutes(10), score: 0.0 });
    d.store.commit(&entered, &[signal]).await.unwrap();
    let url = format!("/alerts/{}/picture", loiter.alert_id);
    assert_eq!(d.get(&url, Some(&token)).await.status, StatusCode::NOT_FOUND);
    let detail = d.get(&format!("/alerts/{}", loiter.alert_id), Some(&token)).await;
    assert!(detail.body.contains("暂无图片"), "{}", detail.body);
    let mut ended = plate_read("X", d.now());
    ended.body = EventBody::TrackEnded {
        track: 9,
        class: ObjectClass::Person,
        duration_s: 40.0,
        detections: 80,
        best_score: 0.8,
        snapshot: Some(Snapshot::jpeg(2, 4, &[0xff, 0xd8, 0xff, 0x09])),
    };
    d.store.commit(&ended, &[]).await.unwrap();
    assert_eq!(d.get(&url, Some(&token)).await.bytes, [0xff, 0xd8, 0xff, 0x09]);
}

#[tokio::test]
async fn a_vehicle_is_found_by_a_look_alike_plate_and_the_look_up_is_audited() {
    let d = Desked::new().await;
    d.store.commit(&plate_read("京A12340", d.now() - Duration::hours(2)), &[]).await.unwrap();
    d.store.commit(&plate_read("沪C99999", d.now() - Duration::hours(1)), &[]).await.unwrap();
    d.store.commit(&plate_read("京A12340", d.now() - Duration::days(40)), &[]).await.unwrap();
    let (token, _) = d.login("li", "an officer's password").await;
    // O for 0, lower case, a separator: the rules' matching finds it.
    let r = d.get(&format!("/vehicles?plate={}", enc("京a·1234o")), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("(1)"), "one sighting within 30 days, not the 40-day-old one: {}", r.body);
    assert!(r.body.contains("京A12340") && !r.body.contains("沪C99999"));
    assert!(r.body.contains("0.5"), "the distance shown: O for 0 costs half");
    let audited = d.audit("vehicle_lookup").await;
    assert_eq!((audited[0].user.as_str(), audited[0].subject.as_str()), ("li", "京A1234O"));
    let bad = d.get(&format!("/vehicles?plate={}", enc("<b>")), Some(&token)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_manage_lists_and_users_and_read_the_audit() {
    let d = Desked::new().await;
    let (admin, csrf) = d.login("admin", "the admin's password").await;
    let put = d
        .post(
            "/lists/put",
            Some(&admin),
            &[("csrf", &csrf), ("kind", "wanted"), ("plate", "京a·12345"), ("label", "case 7")],
        )
        .await;
    assert_eq!(put.status, StatusCode::SEE_OTHER, "{}", put.body);
    let bad_csv = "kind,plate,label,valid_from,valid_to\nresident,沪C55555,flat 3,,\nfriend,AB123,,,\n";
    let r = d.post("/lists/import", Some(&admin), &[("csrf", &csrf), ("csv", bad_csv)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("line 3"), "the bad row named: {}", r.body);
    assert_eq!(d.store.list_entries().await.unwrap().len(), 1, "nothing imported");
    let good_csv = "kind,plate,label,valid_from,valid_to\nresident,沪C55555,flat 3,,\n";
    let r = d.post("/lists/import", Some(&admin), &[("csrf", &csrf), ("csv", good_csv)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let csv = d.get("/lists.csv", Some(&admin)).await;
    assert!(csv.body.starts_with("kind,plate,label,valid_from,valid_to\n"));
    assert!(csv.body.contains("wanted,京A12345,case 7") && csv.body.contains("resident,沪C55555,flat 3"));
    let rm = d.post("/lists/remove", Some(&admin), &[("csrf", &csrf), ("kind", "wanted"), ("plate", "京A12345")]).await;
    assert_eq!(rm.status, StatusCode::SEE_OTHER);
    assert_eq!(d.store.list_entries().await.unwrap().len(), 1);
    // A new officer gets a one-time password shown once, and can log in with it.
    let added = d.post("/users/add", Some(&admin), &[("csrf", &csrf), ("name", "wang"), ("role", "officer")]).await;
    assert_eq!(added.status, StatusCode::OK);
    let at = added.body.find(r#"id="one-time-password">"#).unwrap() + r#"id="one-time-password">"#.len();
    let password = added.body[at..].split('<').next().unwrap().to_string();
    let (wang, _) = d.login("wang", &password).await;
    let disabled = d.post("/users/change", Some(&admin), &[("csrf", &csrf), ("name", "wang"), ("op", "disable")]).await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert_eq!(d.get("/", Some(&wang)).await.location(), "/login", "a disabled user's session ends");
    // An API token made on the page works, once revoked it does not.
    let made = d.post("/users/token", Some(&admin), &[("csrf", &csrf), ("user", "li"), ("label", "dispatch")]).await;
    assert_eq!(made.status, StatusCode::OK);
    let at = made.body.find(r#"id="api-token">"#).unwrap() + r#"id="api-token">"#.len();
    let api_token = made.body[at..].split('<').next().unwrap().to_string();
    assert_eq!(d.api("GET", "/api/v1/alerts", Some(&api_token), None).await.0, StatusCode::OK);
    let revoked =
        d.post("/users/token", Some(&admin), &[("csrf", &csrf), ("label", "dispatch"), ("revoke", "1")]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(d.api("GET", "/api/v1/alerts", Some(&api_token), None).await.0, StatusCode::UNAUTHORIZED);
    let myself = d.post("/users/change", Some(&admin), &[("csrf", &csrf), ("name", "admin"), ("op", "disable")]).await;
    assert_eq!(myself.status, StatusCode::BAD_REQUEST, "an admin cannot lock themselves out");
    let audit = d.get("/audit", Some(&admin)).await;
    for action in ["list_added", "list_imported", "list_exported", "list_removed", "user_added", "user_disable"] {
        assert!(audit.body.contains(action), "{action} in the audit log");
    }
    let export = d.get("/audit.csv?action=user_added", Some(&admin)).await;
    assert_eq!(export.body.lines().count(), 2, "{}", export.body);
    // English on request, kept with the user.
    let en = d.post("/settings/lang", Some(&admin), &[("csrf", &csrf), ("lang", "en")]).await;
    assert_eq!(en.status, StatusCode::SEE_OTHER);
    assert!(d.get("/", Some(&admin)).await.body.contains("Live alerts"));
}

#[tokio::test]
async fn a_new_alert_reaches_an_open_live_stream() {
    let d = Desked::new().await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feed = tokio::spawn({
        let desk = d.desk.clone();
        let store = d.store.clone();
        async move { desk.feed().run(&store, stop_rx).await }
    });
    let (token, _) = d.login("li", "an officer's password").await;
    let req = Request::get("/live").header("host", "desk.test").header(header::COOKIE, format!("gw_session={token}"));
    let res = d.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/event-stream"));
    let mut body = res.into_body();
    let (alert, _) = d.plate_alert("京A12345", "case 7").await;
    let mut text = String::new();
    let got = tokio::time::timeout(StdDuration::from_secs(10), async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
                if text.contains(&alert.alert_id.to_string()) {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "the alert arrived on the stream: {text}");
    assert!(text.contains("event: alert") && text.contains(r#""raised":true"#), "{text}");
    assert!(!text.contains("<script>alert(1)"), "the row is escaped: {text}");
    // Without a session there is no stream.
    assert_eq!(d.get("/live", None).await.location(), "/login");
    stop_tx.send(true).unwrap();
    feed.await.unwrap();
}

impl Desked {
    async fn api(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut r = Request::builder().method(method).uri(uri).header("host", "desk.test");
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => r.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())).unwrap(),
            None => r.body(Body::empty()).unwrap(),
        };
        let reply = self.send(req).await;
        (reply.status, serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null))
    }
}

#[tokio::test]
async fn the_api_acts_as_its_tokens_user_with_their_role() {
    let d = Desked::new().await;
    let (alert, _) = d.plate_alert("京A12345", "case 7").await;
    let id = alert.alert_id.to_string();
    let officer = d.store.add_api_token("li", "dispatch", Utc::now()).await.unwrap().unwrap();
    let admin = d.store.add_api_token("admin", "lists-sync", Utc::now()).await.unwrap().unwrap();
    // Described, without a token.
    let (status, doc) = d.api("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/api/v1/alerts", "/api/v1/alerts/{id}/actions", "/api/v1/vehicles", "/api/v1/lists/{kind}/{plate}"] {
        assert!(doc["paths"][path].is_object(), "{path} described");
    }
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    // No token, a forged one: 401, as JSON.
    for token in [None, Some("gw_forged")] {
        let (status, body) = d.api("GET", "/api/v1/alerts", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["error"].as_str().unwrap().contains("token"));
    }
    // An officer's token reads and acts.
    let (status, list) = d.api("GET", "/api/v1/alerts?state=open", Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!((list[0]["severity"].as_str(), list[0]["plate"].as_str()), (Some("high"), Some("京A12345")));
    assert_eq!(list[0]["matched"]["list"], "wanted");
    let (status, one) = d.api("GET", &format!("/api/v1/alerts/{id}"), Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["history"][0]["action"], "raised");
    let act = serde_json::json!({"action": "acknowledge", "note": "unit 3 on the way"});
    let (status, now) = d.api("POST", &format!("/api/v1/alerts/{id}/actions"), Some(&officer), Some(act.clone())).await;
    assert_eq!((status, now["state"].as_str()), (StatusCode::OK, Some("acknowledged")));
    let (status, err) = d.api("POST", &format!("/api/v1/alerts/{id}/actions"), Some(&officer), Some(act)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let hostile = serde_json::json!({"action": "resolve", "note": HOSTILE});
    assert_eq!(
        d.api("POST", &format!("/api/v1/alerts/{id}/actions"), Some(&officer), Some(hostile)).await.0,
        StatusCode::BAD_REQUEST
    );
    let acted = d.audit("alert_acknowledged").await;
    assert_eq!((acted[0].user.as_str(), acted[0].source.as_deref()), ("li", Some("api:dispatch")));
    let (status, car) =
        d.api("GET", &format!("/api/v1/vehicles?plate={}", enc("京a12345")), Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(car["sightings"].as_array().unwrap().len(), 1);
    assert_eq!(d.audit("vehicle_lookup").await.len(), 1, "API look-ups are audited");
    let mut online = plate_read("X", d.now());
    online.body = EventBody::CameraOnline { width: 1280, height: 720 };
    d.store.commit(&online, &[]).await.unwrap();
    let (status, cams) = d.api("GET", "/api/v1/cameras", Some(&officer), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((cams[0]["camera"].as_str(), cams[0]["online"].as_bool()), (Some("cam1"), Some(true)));
    // ... but may not touch the lists.
    let entry = serde_json::json!({"list": "stolen", "plate": "沪C 55555", "label": "report 2026-11-30"});
    assert_eq!(d.api("GET", "/api/v1/lists", Some(&officer), None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(d.api("POST", "/api/v1/lists", Some(&officer), Some(entry.clone())).await.0, StatusCode::FORBIDDEN);
    // An admin's token may.
    let (status, put) = d.api("POST", "/api/v1/lists", Some(&admin), Some(entry)).await;
    assert_eq!((status, put["plate"].as_str()), (StatusCode::OK, Some("沪C55555")));
    let bad = serde_json::json!({"list": "stolen", "plate": "沪C55556", "label": HOSTILE});
    assert_eq!(d.api("POST", "/api/v1/lists", Some(&admin), Some(bad)).await.0, StatusCode::BAD_REQUEST);
    let (_, all) = d.api("GET", "/api/v1/lists", Some(&admin), None).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let gone = d.api("DELETE", &format!("/api/v1/lists/stolen/{}", enc("沪C55555")), Some(&admin), None).await;
    assert_eq!(gone.0, StatusCode::NO_CONTENT);
    assert_eq!(
        d.api("DELETE", &format!("/api/v1/lists/stolen/{}", enc("沪C55555")), Some(&admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    // Revoked: nothing more.
    d.store.revoke_api_token("dispatch", Utc::now()).await.unwrap();
    assert_eq!(d.api("GET", "/api/v1/alerts", Some(&officer), None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_logs_in_again() {
    let d = Desked::new().await;
    let (token, csrf) = d.login("li", "an officer's password").await;
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let (d, token, csrf) = (&d, token.clone(), csrf.clone());
        async move {
            let form = [("csrf", csrf.as_str()), ("current", current), ("new", new), ("again", again)];
            d.post("/settings/password", Some(&token), &form).await
        }
    };
    let current = "an officer's password";
    assert_eq!(change("not it", "a fresh password", "a fresh password").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(change(current, "a fresh password", "another one!!").await.status, StatusCode::BAD_REQUEST, "differ");
    assert_eq!(change(current, "short", "short").await.status, StatusCode::BAD_REQUEST, "too short");
    let ok = change(current, "a fresh password", "a fresh password").await;
    assert_eq!((ok.status, ok.location()), (StatusCode::SEE_OTHER, "/login"));
    assert_eq!(d.get("/", Some(&token)).await.location(), "/login", "the old session ended");
    assert_eq!(d.try_login("li", "an officer's password").await.status, StatusCode::UNAUTHORIZED);
    d.login("li", "a fresh password").await;
    assert_eq!(d.audit("password_changed").await.len(), 1);
}

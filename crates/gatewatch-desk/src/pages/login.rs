//! Logging in and out, and the user's language. The login form has no session yet, so its
//! CSRF token is a random value in a cookie that the form repeats (double submit).

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::auth::{self, LOGIN_COOKIE, SESSION_COOKIE, push_cookie, set_cookie};
use crate::i18n::Lang;
use crate::layout;
use crate::session::Source;
use crate::{Desk, Refusal, User};

/// How long a login form stays usable.
const LOGIN_FORM_MINUTES: i64 = 30;

fn browser_lang(headers: &HeaderMap) -> Lang {
    Lang::from_accept_language(headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or_default())
}

fn login_page(desk: &Desk, lang: Lang, error: Option<&str>, status: StatusCode) -> Response {
    let t = lang.strings();
    let token = gatewatch_store::one_time_password();
    let body = html! {
        main.login {
            h1 { (t.login_title) }
            @if let Some(e) = error { p.warning #login-error { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                label { (t.user_name) input #name type="text" name="name" autocomplete="username" required maxlength="64"; }
                label { (t.password) input #password type="password" name="password" autocomplete="current-password" required maxlength="256"; }
                button #login type="submit" { (t.login_button) }
            }
        }
    };
    let mut res = (status, layout::bare(lang, t.login_title, body)).into_response();
    let max_age = chrono::Duration::minutes(LOGIN_FORM_MINUTES);
    push_cookie(res.headers_mut(), set_cookie(LOGIN_COOKIE, &token, Some(max_age), desk.settings.secure_cookies));
    res
}

/// `GET /login`.
pub async fn form(State(desk): State<Arc<Desk>>, headers: HeaderMap) -> Response {
    login_page(&desk, browser_lang(&headers), None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    name: String,
    password: String,
}

/// `POST /login`: rate-limited per user name and per address; every outcome audited.
pub async fn login(
    State(desk): State<Arc<Desk>>,
    Source(addr): Source,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, Refusal> {
    let lang = browser_lang(&headers);
    let t = lang.strings();
    let form_token = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !auth::same_origin(&headers) || form_token.is_empty() || !auth::same_secret(form_token, &f.csrf) {
        tracing::warn!(
            same_origin = auth::same_origin(&headers),
            has_cookie = !form_token.is_empty(),
            "desk: a login form without its token refused"
        );
        return Err(Refusal::Csrf);
    }
    let name = f.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 || f.password.len() > 1024 {
        return Ok(login_page(&desk, lang, Some(t.login_failed), StatusCode::UNAUTHORIZED));
    }
    let now = desk.now();
    let keys = vec![format!("user:{name}"), format!("addr:{}", addr.map(|a| a.ip().to_string()).unwrap_or_default())];
    let allowed = desk.limiter.lock().unwrap_or_else(|p| p.into_inner()).allowed(&keys, now);
    if !allowed {
        tracing::warn!(addr = ?addr, "desk: login refused, too many wrong passwords");
        desk.audit(&name, "login_locked", &name, None, addr.map(|a| a.ip().to_string())).await?;
        return Ok(login_page(&desk, lang, Some(t.login_locked), StatusCode::TOO_MANY_REQUESTS));
    }
    let user = desk.store.check_login(&name, &f.password).await?;
    let Some(user) = user else {
        desk.limiter.lock().unwrap_or_else(|p| p.into_inner()).failed(&keys, now);
        desk.audit(&name, "login_refused", &name, None, addr.map(|a| a.ip().to_string())).await?;
        return Ok(login_page(&desk, lang, Some(t.login_failed), StatusCode::UNAUTHORIZED));
    };
    desk.limiter.lock().unwrap_or_else(|p| p.into_inner()).succeeded(&keys[0]);
    let session = desk.store.open_session(&user.name, now, desk.settings.session).await?;
    desk.audit(&user.name, "login", &user.name, None, addr.map(|a| a.ip().to_string())).await?;
    tracing::info!(user = %user.name, role = user.role.as_str(), "desk: logged in");
    let mut res = Redirect::to("/").into_response();
    let secure = desk.settings.secure_cookies;
    push_cookie(res.headers_mut(), set_cookie(SESSION_COOKIE, &session.token, Some(desk.settings.session), secure));
    push_cookie(res.headers_mut(), set_cookie(LOGIN_COOKIE, "", None, secure));
    Ok(res)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`: the session ends here and in every live stream of it.
pub async fn logout(
    State(desk): State<Arc<Desk>>,
    user: User,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    desk.store.end_session(&user.token).await?;
    desk.audit(user.name(), "logout", user.name(), None, user.audit_source()).await?;
    let mut res = Redirect::to("/login").into_response();
    push_cookie(res.headers_mut(), set_cookie(SESSION_COOKIE, "", None, desk.settings.secure_cookies));
    Ok(res)
}

#[derive(Deserialize)]
pub struct LangForm {
    csrf: String,
    lang: String,
}

/// `POST /settings/lang`: the user's language, kept with the user.
pub async fn set_lang(
    State(desk): State<Arc<Desk>>,
    user: User,
    headers: HeaderMap,
    Form(f): Form<LangForm>,
) -> Result<Response, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    let lang = Lang::from_code(&f.lang);
    desk.store.set_user_lang(user.name(), lang.code()).await.map_err(|e| match e {
        gatewatch_store::UserError::Store(e) => Refusal::from(e),
        other => Refusal::BadRequest(other.to_string()),
    })?;
    Ok(Redirect::to("/").into_response())
}

/// `GET /settings/password`: a user changes their own password (a one-time one, first).
pub async fn password_form(user: User) -> Markup {
    password_page(&user, None)
}

fn password_page(user: &User, error: Option<&str>) -> Markup {
    let t = user.t();
    let body = html! {
        @if let Some(e) = error { p.warning #password-error { (e) } }
        form.box.login method="post" action="/settings/password" {
            input type="hidden" name="csrf" value=(user.session.csrf);
            label { (t.current_password) input type="password" name="current" autocomplete="current-password" required maxlength="256"; }
            label { (t.new_password) input type="password" name="new" autocomplete="new-password" required minlength="12" maxlength="256"; }
            label { (t.new_password_again) input type="password" name="again" autocomplete="new-password" required minlength="12" maxlength="256"; }
            button #change-password type="submit" { (t.change_password) }
        }
    };
    layout::page(user, layout::Nav::Live, t.change_password, body)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    again: String,
}

/// `POST /settings/password`: the current password, then the new one twice. Every session of
/// the user ends (this one too): they log in again with the new one.
pub async fn change_password(
    State(desk): State<Arc<Desk>>,
    user: User,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Result<Response, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    let t = user.t();
    let now = desk.now();
    let keys = vec![format!("user:{}", user.name())];
    if !desk.limiter.lock().unwrap_or_else(|p| p.into_inner()).allowed(&keys, now) {
        return Ok((StatusCode::TOO_MANY_REQUESTS, password_page(&user, Some(t.login_locked))).into_response());
    }
    if desk.store.check_login(user.name(), &f.current).await?.is_none() {
        desk.limiter.lock().unwrap_or_else(|p| p.into_inner()).failed(&keys, now);
        desk.audit(user.name(), "password_change_refused", user.name(), None, user.audit_source()).await?;
        return Ok((StatusCode::UNAUTHORIZED, password_page(&user, Some(t.login_failed))).into_response());
    }
    if f.new != f.again {
        return Ok((StatusCode::BAD_REQUEST, password_page(&user, Some(t.passwords_differ))).into_response());
    }
    match desk.store.set_password(user.name(), &f.new, now).await {
        Ok(()) => {}
        Err(gatewatch_store::UserError::BadPassword) => {
            return Ok((StatusCode::BAD_REQUEST, password_page(&user, Some(t.password_rules))).into_response());
        }
        Err(e) => return Err(Refusal::BadRequest(e.to_string())),
    }
    desk.audit(user.name(), "password_changed", user.name(), None, user.audit_source()).await?;
    let mut res = Redirect::to("/login").into_response();
    push_cookie(res.headers_mut(), set_cookie(SESSION_COOKIE, "", None, desk.settings.secure_cookies));
    Ok(res)
}

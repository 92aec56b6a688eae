//! The logged-in user of a request, and the refusals a request can meet. `User` is an axum
//! extractor: a handler that takes one is for logged-in users only, and `User::admin` (or
//! [`Admin`]) narrows it to admins. A change also calls [`User::check_csrf`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatewatch_store::{DeskSession, Role};
use maud::html;

use crate::auth::{self, SESSION_COOKIE};
use crate::i18n::{EN, Lang, Strings, ZH};
use crate::{Desk, layout};

/// Why a request was not served.
#[derive(Debug)]
pub enum Refusal {
    /// Not logged in (or the session ended): to the login page.
    Login,
    /// Logged in, but not allowed (an officer on an admin page).
    Forbidden,
    NotFound,
    /// A change without the session's CSRF token, or from another origin.
    Csrf,
    BadRequest(String),
    /// The change cannot be made as things are (an alert already closed).
    Conflict(String),
    /// The store failed; logged where it happened.
    Internal,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        // Shown before (or without) knowing the user's language: both languages.
        let (status, pick): (StatusCode, fn(&Strings) -> &'static str) = match &self {
            Refusal::Login => return Redirect::to("/login").into_response(),
            Refusal::Forbidden => (StatusCode::FORBIDDEN, |t| t.forbidden),
            Refusal::NotFound => (StatusCode::NOT_FOUND, |t| t.not_found),
            Refusal::Csrf => (StatusCode::FORBIDDEN, |t| t.csrf_refused),
            Refusal::BadRequest(_) => (StatusCode::BAD_REQUEST, |t| t.bad_request),
            Refusal::Conflict(_) => (StatusCode::CONFLICT, |t| t.refused),
            Refusal::Internal => (StatusCode::INTERNAL_SERVER_ERROR, |t| t.error),
        };
        let detail = match &self {
            Refusal::BadRequest(why) | Refusal::Conflict(why) => why.clone(),
            _ => String::new(),
        };
        let body = html! {
            main.refusal {
                p lang="zh-Hans" { (pick(&ZH)) (detail) }
                p lang="en" { (pick(&EN)) (detail) }
                p { a href="/" { (ZH.back) " / " (EN.back) } }
            }
        };
        (status, layout::bare(Lang::Zh, pick(&ZH), body)).into_response()
    }
}

impl From<gatewatch_store::StoreError> for Refusal {
    fn from(e: gatewatch_store::StoreError) -> Self {
        tracing::error!(error = %e, "desk: store failed");
        Refusal::Internal
    }
}

/// A logged-in desk user, as a request finds them.
pub struct User {
    pub session: DeskSession,
    /// The session token (to end it at logout).
    pub token: String,
    /// The client's address, when served over a socket.
    pub source: Option<SocketAddr>,
}

impl User {
    pub fn name(&self) -> &str {
        &self.session.user.name
    }

    pub fn lang(&self) -> Lang {
        Lang::from_code(&self.session.user.lang)
    }

    pub fn t(&self) -> &'static Strings {
        self.lang().strings()
    }

    /// Where a request came from, for the audit log: the client's address.
    pub fn audit_source(&self) -> Option<String> {
        self.source.map(|a| a.ip().to_string())
    }

    pub fn is_admin(&self) -> bool {
        self.session.user.role == Role::Admin
    }

    /// Admins only.
    pub fn admin(self) -> Result<Self, Refusal> {
        if self.is_admin() { Ok(self) } else { Err(Refusal::Forbidden) }
    }

    /// A change: the form's token must be this session's, the request from the desk's origin.
    pub fn check_csrf(&self, headers: &HeaderMap, token: &str) -> Result<(), Refusal> {
        if auth::same_origin(headers) && auth::same_secret(token, &self.session.csrf) {
            Ok(())
        } else {
            tracing::warn!(user = self.name(), "desk: a change without this session's CSRF token refused");
            Err(Refusal::Csrf)
        }
    }
}

/// The client's address, if the desk is served over a socket.
pub fn source(parts: &Parts) -> Option<SocketAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The client's address as an extractor (none in tests that call the router directly).
pub struct Source(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(source(parts)))
    }
}

impl FromRequestParts<Arc<Desk>> for User {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, desk: &Arc<Desk>) -> Result<Self, Refusal> {
        let token = auth::cookie(&parts.headers, SESSION_COOKIE).ok_or(Refusal::Login)?.to_string();
        // A cookie is at most a few dozen characters; anything else is not ours.
        if token.len() > 128 {
            return Err(Refusal::Login);
        }
        let session = desk.store.session(&token, desk.now(), desk.settings.idle).await?.ok_or(Refusal::Login)?;
        Ok(User { session, token, source: source(parts) })
    }
}

/// An admin: an officer gets 403.
pub struct Admin(pub User);

impl FromRequestParts<Arc<Desk>> for Admin {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, desk: &Arc<Desk>) -> Result<Self, Refusal> {
        User::from_request_parts(parts, desk).await?.admin().map(Admin)
    }
}

//! Desk users (admins): add one with a one-time password, disable or enable, reset a
//! password, change a role. A password is shown once, here, and never stored as given. An
//! admin cannot disable or demote themselves (the desk would be left without one). Every
//! change is audited.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use gatewatch_store::{Role, UserError};
use maud::{Markup, html};
use serde::Deserialize;

use super::shown;
use crate::layout::{self, Nav, csrf};
use crate::session::Admin;
use crate::{Desk, Refusal, User};

fn user_error(e: UserError) -> Refusal {
    match e {
        UserError::Store(e) => e.into(),
        UserError::Unknown(_) => Refusal::NotFound,
        other => Refusal::BadRequest(other.to_string()),
    }
}

/// What the page says above the table after a change.
enum Outcome {
    /// A new one-time password for this user.
    Password(String, String),
    /// A new API token with this label.
    Token(String, String),
    Done,
}

async fn page(desk: &Desk, user: &User, outcome: Option<Outcome>) -> Result<Markup, Refusal> {
    let t = user.t();
    let users = desk.store.users().await?;
    let tokens = desk.store.api_tokens().await?;
    let role_name = |r: Role| if r == Role::Admin { t.role_admin } else { t.role_officer };
    let body = html! {
        @match &outcome {
            Some(Outcome::Password(name, pw)) => p.notice { (name) ": " (t.one_time_password) code #one-time-password { (pw) } },
            Some(Outcome::Token(label, token)) => p.notice { (label) ": " (t.api_token_once) code #api-token { (token) } },
            Some(Outcome::Done) => p.notice { (t.done) },
            None => {},
        }
        form.box #add-user method="post" action="/users/add" {
            (csrf(user))
            label { (t.user_name) " " input type="text" name="name" required maxlength="64"; }
            label { (t.role) " " select name="role" {
                option value="officer" { (t.role_officer) }
                option value="admin" { (t.role_admin) }
            } }
            button type="submit" { (t.add_user) }
        }
        table #users {
            thead { tr { th { (t.user_name) } th { (t.role) } th { (t.state) } th { (t.created) } th {} } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u.name) }
                        td { (role_name(u.role)) }
                        td { (if u.disabled { t.disabled } else { t.active }) }
                        td { (u.created_at.map(|c| desk.time(c)).unwrap_or_default()) }
                        td {
                            form.inline method="post" action="/users/change" {
                                (csrf(user))
                                input type="hidden" name="name" value=(u.name);
                                @if u.name != user.name() {
                                    @if u.disabled {
                                        button type="submit" name="op" value="enable" { (t.enable) }
                                    } @else {
                                        button type="submit" name="op" value="disable" { (t.disable) }
                                    }
                                    " "
                                    @let other = if u.role == Role::Admin { Role::Officer } else { Role::Admin };
                                    button type="submit" name="op" value={ "role_" (other.as_str()) } { (t.set_role) " " (role_name(other)) }
                                    " "
                                }
                                button type="submit" name="op" value="reset" { (t.reset_password) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (t.api_tokens) }
        form.box #add-token method="post" action="/users/token" {
            (csrf(user))
            label { (t.user_name) " " select name="user" {
                @for u in users.iter().filter(|u| !u.disabled) { option value=(u.name) { (u.name) } }
            } }
            label { (t.label) " " input type="text" name="label" required maxlength="64"; }
            button type="submit" { (t.add_token) }
        }
        table #tokens {
            thead { tr { th { (t.label) } th { (t.user_name) } th { (t.created) } th { (t.last_used) } th { (t.state) } th {} } }
            tbody {
                @for k in &tokens {
                    tr {
                        td { (shown(&k.label)) } td { (k.user) }
                        td { (k.created_at.map(|x| desk.time(x)).unwrap_or_default()) }
                        td { (k.last_used.map(|x| desk.time(x)).unwrap_or_default()) }
                        td { (if k.revoked_at.is_some() { t.revoked } else { t.active }) }
                        td {
                            @if k.revoked_at.is_none() {
                                form.inline method="post" action="/users/token" {
                                    (csrf(user))
                                    input type="hidden" name="label" value=(k.label);
                                    input type="hidden" name="revoke" value="1";
                                    button type="submit" { (t.revoke) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(user, Nav::Users, t.nav_users, body))
}

/// `GET /users`.
pub async fn users(State(desk): State<Arc<Desk>>, Admin(user): Admin) -> Result<Markup, Refusal> {
    page(&desk, &user, None).await
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    name: String,
    role: String,
}

/// `POST /users/add`: a new user with a one-time password, shown once.
pub async fn add(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    headers: HeaderMap,
    Form(f): Form<AddForm>,
) -> Result<Markup, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    let role: Role = f.role.parse().map_err(Refusal::BadRequest)?;
    let name = f.name.trim();
    let password = gatewatch_store::one_time_password();
    desk.store.add_user(name, role, &password, desk.now()).await.map_err(user_error)?;
    desk.audit(user.name(), "user_added", name, Some(role.as_str().into()), user.audit_source()).await?;
    page(&desk, &user, Some(Outcome::Password(name.into(), password))).await
}

#[derive(Deserialize)]
pub struct ChangeForm {
    csrf: String,
    name: String,
    op: String,
}

/// `POST /users/change`: `disable`, `enable`, `reset` (a new one-time password), `role_admin`
/// or `role_officer`.
pub async fn change(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    headers: HeaderMap,
    Form(f): Form<ChangeForm>,
) -> Result<Markup, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    let name = f.name.as_str();
    let myself = name == user.name();
    let outcome = match f.op.as_str() {
        "disable" | "role_officer" if myself => {
            return Err(Refusal::BadRequest("an admin cannot disable or demote themselves".into()));
        }
        "disable" => desk.store.set_user_disabled(name, true).await.map(|_| Outcome::Done),
        "enable" => desk.store.set_user_disabled(name, false).await.map(|_| Outcome::Done),
        "role_admin" => desk.store.set_user_role(name, Role::Admin).await.map(|_| Outcome::Done),
        "role_officer" => desk.store.set_user_role(name, Role::Officer).await.map(|_| Outcome::Done),
        "reset" => {
            let password = gatewatch_store::one_time_password();
            desk.store.set_password(name, &password, desk.now()).await.map(|_| Outcome::Password(name.into(), password))
        }
        other => return Err(Refusal::BadRequest(format!("op {other:?}"))),
    }
    .map_err(user_error)?;
    desk.audit(user.name(), &format!("user_{}", f.op), name, None, user.audit_source()).await?;
    if myself && f.op == "reset" {
        // Their own sessions ended with the new password, this one included.
        return Err(Refusal::Login);
    }
    page(&desk, &user, Some(outcome)).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    label: String,
    user: Option<String>,
    revoke: Option<String>,
}

/// `POST /users/token`: a new API token for a user (shown once), or one revoked.
pub async fn token(
    State(desk): State<Arc<Desk>>,
    Admin(user): Admin,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Result<Markup, Refusal> {
    user.check_csrf(&headers, &f.csrf)?;
    let label = f.label.trim();
    gatewatch_core::text::check_free_text(label, 64).map_err(|e| Refusal::BadRequest(format!("label: {e}")))?;
    if label.is_empty() {
        return Err(Refusal::BadRequest("label: empty".into()));
    }
    if f.revoke.is_some() {
        if !desk.store.revoke_api_token(label, desk.now()).await? {
            return Err(Refusal::NotFound);
        }
        desk.audit(user.name(), "api_token_revoked", label, None, user.audit_source()).await?;
        return page(&desk, &user, Some(Outcome::Done)).await;
    }
    let owner = f.user.as_deref().unwrap_or_default();
    if desk.store.user(owner).await?.is_none_or(|u| u.disabled) {
        return Err(Refusal::BadRequest(format!("no active user {owner:?}")));
    }
    let Some(token) = desk.store.add_api_token(owner, label, desk.now()).await? else {
        return Err(Refusal::Conflict(format!("a token labelled {label:?} exists")));
    };
    desk.audit(user.name(), "api_token_added", label, Some(owner.into()), user.audit_source()).await?;
    page(&desk, &user, Some(Outcome::Token(label.into(), token))).await
}

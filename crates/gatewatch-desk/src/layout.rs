//! The frame of every page (header, navigation, language switch, logout) and the desk's two
//! static files. The script and styles are files, never inline: the CSP allows nothing else.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};

use crate::User;
use crate::i18n::Lang;

const CSS: &str = include_str!("../static/desk.css");
const JS: &str = include_str!("../static/desk.js");

pub async fn css() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "max-age=3600")], CSS)
}

pub async fn js() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "max-age=3600")], JS)
}

/// Which navigation entry a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Live,
    History,
    Vehicles,
    Gates,
    Lists,
    Users,
    Audit,
}

/// A page without navigation (login, refusals).
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    let t = lang.strings();
    html! {
        (DOCTYPE)
        html lang=(lang.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t.app_name) }
                link rel="stylesheet" href="/static/desk.css";
            }
            body { (body) }
        }
    }
}

/// A page of the desk for a logged-in user.
pub fn page(user: &User, nav: Nav, title: &str, body: Markup) -> Markup {
    let t = user.t();
    let item = |n: Nav, href: &str, label: &str| {
        html! { a href=(href) class=[(n == nav).then_some("active")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang=(user.lang().html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t.app_name) }
                link rel="stylesheet" href="/static/desk.css";
                script src="/static/desk.js" defer {}
            }
            body {
                header {
                    strong.brand { (t.app_name) }
                    nav {
                        (item(Nav::Live, "/", t.nav_live))
                        (item(Nav::History, "/history", t.nav_history))
                        (item(Nav::Vehicles, "/vehicles", t.nav_vehicles))
                        (item(Nav::Gates, "/gates", t.nav_gates))
                        @if user.is_admin() {
                            (item(Nav::Lists, "/lists", t.nav_lists))
                            (item(Nav::Users, "/users", t.nav_users))
                            (item(Nav::Audit, "/audit", t.nav_audit))
                        }
                    }
                    div.who {
                        span { (t.signed_in_as) ": " b #user { (user.name()) } }
                        a href="/settings/password" { (t.change_password) }
                        form method="post" action="/settings/lang" {
                            input type="hidden" name="csrf" value=(user.session.csrf);
                            input type="hidden" name="lang" value=(user.lang().other().code());
                            button type="submit" { (t.switch_language) }
                        }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(user.session.csrf);
                            button #logout type="submit" { (t.logout) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A hidden CSRF field for a form of this user's session.
pub fn csrf(user: &User) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.session.csrf); }
}

//! `gatewatch users`: the watch desk's users. The first admin is made here; a new user or a
//! reset gets a one-time password printed once (or one read from standard input), stored only
//! as an argon2id hash.
#![allow(clippy::print_stdout)] // a CLI command's report

use std::io::Read;

use chrono::Utc;
use clap::Subcommand;
use gatewatch_store::{Role, Store, one_time_password};

#[derive(Subcommand)]
pub enum UserAction {
    /// Add a user; prints a one-time password unless --password-stdin.
    Add {
        name: String,
        /// officer (alerts, vehicle look-ups) or admin (also lists, users, settings).
        #[arg(long)]
        role: String,
        /// Read the password from standard input instead (at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every user: name, role, state, when the password was set.
    List,
    /// A disabled user cannot log in.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    /// A new one-time password for a user (or one read from standard input).
    ResetPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// A token for an integration using the desk's JSON API, acting as this user (their role);
    /// printed once.
    Token {
        user: String,
        /// What it is for (unique; names it for `revoke-token`).
        #[arg(long)]
        label: String,
    },
    /// Every API token: label, user, created, last used, revoked.
    Tokens,
    /// Revoke an API token by its label.
    RevokeToken {
        label: String,
    },
}

/// The password to set: read from stdin (one line), or a fresh one-time one and whether it was.
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((one_time_password(), true));
    }
    let mut text = String::new();
    std::io::stdin().take(4096).read_to_string(&mut text)?;
    Ok((text.trim_end_matches(['\r', '\n']).to_string(), false))
}

pub async fn run(db: &str, action: UserAction) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    match action {
        UserAction::Add { name, role, password_stdin } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let (pw, fresh) = password(password_stdin)?;
            store.add_user(&name, role, &pw, Utc::now()).await?;
            println!("added {} {name}", role.as_str());
            if fresh {
                println!(
                    "one-time password (shown once; change it on the desk's password page after logging in): {pw}"
                );
            }
        }
        UserAction::List => {
            for u in store.users().await? {
                let set = u.password_set_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
                let state = if u.disabled { "disabled" } else { "active" };
                println!("{:<24} {:<8} {state:<9} password set {set}", u.name, u.role.as_str());
            }
        }
        UserAction::Disable { name } => {
            store.set_user_disabled(&name, true).await?;
            println!("disabled {name}");
        }
        UserAction::Enable { name } => {
            store.set_user_disabled(&name, false).await?;
            println!("enabled {name}");
        }
        UserAction::ResetPassword { name, password_stdin } => {
            let (pw, fresh) = password(password_stdin)?;
            store.set_password(&name, &pw, Utc::now()).await?;
            println!("new password set for {name}");
            if fresh {
                println!("one-time password (shown once): {pw}");
            }
        }
        UserAction::Token { user, label } => {
            if store.user(&user).await?.is_none() {
                anyhow::bail!("no user {user:?}");
            }
            gatewatch_core::text::check_free_text(&label, 64).map_err(|e| anyhow::anyhow!("--label: {e}"))?;
            let Some(token) = store.add_api_token(&user, &label, Utc::now()).await? else {
                anyhow::bail!("there is already a token labelled {label:?}");
            };
            println!("API token {label:?} for {user} (shown once; send it as 'Authorization: Bearer …'): {token}");
        }
        UserAction::Tokens => {
            let t = |t: Option<chrono::DateTime<Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or("-".into())
            };
            for k in store.api_tokens().await? {
                println!(
                    "{:<24} {:<24} created {} used {} revoked {}",
                    k.label,
                    k.user,
                    t(k.created_at),
                    t(k.last_used),
                    t(k.revoked_at)
                );
            }
        }
        UserAction::RevokeToken { label } => {
            if !store.revoke_api_token(&label, Utc::now()).await? {
                anyhow::bail!("no live token labelled {label:?}");
            }
            println!("revoked {label}");
        }
    }
    Ok(())
}

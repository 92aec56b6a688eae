//! Changes without a restart: on SIGHUP the service reads its configuration file again and
//! checks it as `check-config` does (every error at once). A bad file is refused with its
//! errors and the running configuration stays; a good one applies what can change while
//! running (an edge's zones and lines, the aggregator's rules) and says what waits for a
//! restart. Plate lists need no signal: the desk and `gatewatch lists` change them in the
//! database, and the aggregator reads the changes within 10 s.

use std::path::PathBuf;

use gatewatch_core::config::{AggregatorConfig, EdgeConfig};
use gatewatch_core::rules::RulesConfig;
use gatewatch_edge::layout::Layouts;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Read and check `path` as `parse` does; the errors, one per line, when it is not good.
fn load<T>(path: &PathBuf, parse: impl Fn(&str) -> Result<T, Vec<String>>) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse(&text).map_err(|errors| errors.join("; "))
}

/// Call `on_reload` at every SIGHUP (nothing, where the signal cannot be had).
fn on_hangup(mut on_reload: impl FnMut() + Send + 'static) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: configuration changes need a restart");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            on_reload();
        }
    });
}

/// The edge: zones and lines of each camera from `path` at every SIGHUP.
pub(crate) fn edge_on_hangup(path: PathBuf, layouts: Layouts) {
    on_hangup(move || match load(&path, EdgeConfig::from_toml) {
        Ok(new) => {
            let r = layouts.apply(&new);
            tracing::info!(file = %path.display(), changed = ?r.changed, "configuration reloaded: zones and lines");
            if !r.needs_restart.is_empty() {
                tracing::warn!(changes = ?r.needs_restart, "these changes apply at the next restart");
            }
        }
        Err(errors) => tracing::error!(file = %path.display(), %errors,
            "configuration refused on reload; the running one stays"),
    });
}

/// The aggregator: its rules from `path` at every SIGHUP, sent on the returned channel.
pub(crate) fn aggregator_on_hangup(path: PathBuf, running: AggregatorConfig) -> watch::Receiver<RulesConfig> {
    let (tx, rx) = watch::channel(running.rules.clone());
    let mut running = running;
    on_hangup(move || match load(&path, AggregatorConfig::from_toml) {
        Ok(new) => {
            let rules_changed = new.rules != running.rules;
            let mut rest = new.clone();
            rest.rules = running.rules.clone();
            if rest != running {
                tracing::warn!(file = %path.display(),
                    "changes outside [rules] (broker, database, desk, metrics, retention, ...) apply at the next restart");
            }
            if rules_changed {
                running.rules = new.rules.clone();
                let _ = tx.send(new.rules);
                tracing::info!(file = %path.display(), "configuration reloaded: new rules");
            } else {
                tracing::info!(file = %path.display(), "configuration reloaded: the rules are unchanged");
            }
        }
        Err(errors) => tracing::error!(file = %path.display(), %errors,
            "configuration refused on reload; the running one stays"),
    });
    rx
}

//! MQTT adapter (rumqttc).
//!
//! - [`client::MqttClient`]: QoS 1 publishing that knows what the broker has acknowledged,
//!   and QoS 1 subscribing with a bounded backlog (past it, reads pause and TCP pushes back).
//!   Reconnects by itself and subscribes again after every connect. Delivery beyond one hop
//!   is the edge spool's job (end-to-end acks), not this client's.
//!
//! A broker for the demo and tests is `gatewatch_harness::Mosquitto`.

pub mod client;

pub use client::{Message, MqttClient};

use gatewatch_core::config::MqttConfig;
use rumqttc::MqttOptions;
use std::time::Duration;

/// Largest MQTT packet gatewatch sends or accepts (events carry one small JPEG).
pub const MAX_PACKET_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("MQTT client: {0}")]
    Client(#[from] rumqttc::ClientError),
    #[error("{0} messages still unacknowledged by the broker after {1:?}")]
    FlushTimeout(u64, Duration),
    #[error("the MQTT connection task has stopped")]
    Closed,
    #[error("TLS set-up: {0}")]
    Tls(String),
}

/// rumqttc options for a config: client id, keep-alive, packet limits, credentials, TLS.
pub fn options(cfg: &MqttConfig, default_id: &str) -> Result<MqttOptions, MqttError> {
    let id = cfg.client_id.clone().unwrap_or_else(|| default_id.to_string());
    let mut o = MqttOptions::new(id, cfg.host.clone(), cfg.port);
    o.set_keep_alive(Duration::from_secs(cfg.keep_alive_s.max(5)));
    o.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        o.set_credentials(u.clone(), p.clone());
    }
    if let Some(ca) = &cfg.tls_ca {
        let pem = std::fs::read(ca).map_err(|e| MqttError::Tls(format!("{}: {e}", ca.display())))?;
        let cert =
            native_tls::Certificate::from_pem(&pem).map_err(|e| MqttError::Tls(format!("{}: {e}", ca.display())))?;
        let connector = native_tls::TlsConnector::builder()
            .add_root_certificate(cert)
            .disable_built_in_roots(true)
            .build()
            .map_err(|e| MqttError::Tls(e.to_string()))?;
        o.set_transport(rumqttc::Transport::tls_with_config(connector.into()));
    }
    Ok(o)
}

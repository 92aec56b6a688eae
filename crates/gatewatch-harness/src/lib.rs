//! Throwaway services for tests, `gatewatch bench` and `gatewatch demo`: never for production.
//!
//! - [`Mosquitto`]: a real broker process on a free loopback port, anonymous (or secured like
//!   `deploy/mosquitto/`), that a test can kill and restart.
//! - [`LocalPostgres`]: a real PostgreSQL cluster in a temporary directory on a free loopback
//!   port, trust authentication (optionally TLS only, with a certificate made for it), that a
//!   test can crash and restart.
//!
//! They live apart from the product crates so that no service can start one by accident: a
//! trust-auth superuser and `initdb` as root belong in a test, not in the aggregator.

mod mosquitto;
mod postgres;

pub use mosquitto::Mosquitto;
pub use postgres::{LocalPostgres, PgTls};

use std::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("mosquitto: {0}")]
    Broker(String),
    #[error("local PostgreSQL: {0}")]
    Postgres(String),
    #[error("local PostgreSQL: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> Result<u16, HarnessError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| HarnessError::Broker(format!("no free port: {e}")))
}

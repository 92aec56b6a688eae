//! A throwaway PostgreSQL server: its own cluster in a temporary directory, on a free port of
//! 127.0.0.1, for tests and `gatewatch bench` (the PostgreSQL twin of
//! `gatewatch_mqtt::broker::Mosquitto`). It needs the server binaries of Debian's
//! `postgresql` package (`deploy/setup.sh` installs it) and nothing that package starts.
//! PostgreSQL refuses to run as root, so under root the cluster belongs to, and the server
//! runs as, the `postgres` user that package makes.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::StoreError;

pub struct LocalPostgres {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// (uid, gid) the server runs as when we are root.
    owner: Option<(u32, u32)>,
    running: bool,
}

fn err(what: impl std::fmt::Display) -> StoreError {
    StoreError::LocalServer(what.to_string())
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian), else the directory of `initdb` on
/// PATH.
fn bin_dir() -> Result<PathBuf, StoreError> {
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    debian.sort();
    let on_path = || {
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file()))
    };
    debian
        .pop()
        .map(|(_, bin)| bin)
        .or_else(on_path)
        .ok_or_else(|| err("initdb not found (install Debian's postgresql package: deploy/setup.sh)"))
}

/// The `postgres` user's uid and gid from /etc/passwd.
fn postgres_user() -> Result<(u32, u32), StoreError> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| err(format!("/etc/passwd: {e}")))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "postgres")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| {
            err("running as root needs a `postgres` user to run the server (Debian's postgresql package makes it)")
        })
}

fn is_root() -> bool {
    // /proc/self belongs to the process's effective uid (Linux).
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

impl LocalPostgres {
    /// Make a cluster (trust authentication, loopback only) and start it; returns once it
    /// accepts connections.
    pub fn start() -> Result<Self, StoreError> {
        let bin = bin_dir()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| err(format!("no free port: {e}")))?;
        let dir = std::env::temp_dir().join(format!("gatewatch-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let owner = if is_root() { Some(postgres_user()?) } else { None };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| err(format!("chown {}: {e}", dir.display())))?;
        }
        let mut pg = Self { port, dir, bin, owner, running: false };
        let data = pg.dir.join("data");
        pg.run("initdb", |c| {
            c.arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        })?;
        pg.restart()?;
        Ok(pg)
    }

    /// The URL of database `name` (letters, digits and `_`), created if it does not exist.
    pub async fn database(&self, name: &str) -> Result<String, StoreError> {
        use sqlx::Connection;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err(format!("database name {name:?}: use letters, digits and _")));
        }
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres")).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut admin)
            .await?;
        if exists.is_none() {
            // An identifier cannot be a bound parameter; `name` was checked above.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut admin).await?;
        }
        admin.close().await?;
        Ok(self.url(name))
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Start (again) on the same port and data; returns once it accepts connections.
    pub fn restart(&mut self) -> Result<(), StoreError> {
        self.stop();
        let (data, log, dir, port) = (self.dir.join("data"), self.dir.join("server.log"), self.dir.clone(), self.port);
        let started =
            self.run("pg_ctl", |c| {
                c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-o"]).arg(format!(
                    "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}'",
                    dir.display()
                ));
                c.arg("start");
            });
        if let Err(e) = started {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            return Err(err(format!("{e}; server log: {}", lines[lines.len().saturating_sub(5)..].join(" | "))));
        }
        self.running = true;
        Ok(())
    }

    /// Stop at once (`immediate`: like a crash; PostgreSQL recovers from its WAL at restart).
    pub fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            let data = self.dir.join("data");
            let _ = self.run("pg_ctl", |c| {
                c.arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]);
            });
        }
    }

    /// Run one of the server's programs (as the cluster's owner) and wait for it.
    fn run(&self, program: &str, args: impl FnOnce(&mut Command)) -> Result<(), StoreError> {
        let mut cmd = Command::new(self.bin.join(program));
        args(&mut cmd);
        cmd.current_dir(&self.dir).env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().map_err(|e| err(format!("{program}: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(err(format!("{program} {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim())))
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

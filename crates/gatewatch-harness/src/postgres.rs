//! A throwaway PostgreSQL server: its own cluster in a temporary directory, on a free port of
//! 127.0.0.1, for tests and `gatewatch bench` (the PostgreSQL twin of [`crate::Mosquitto`]). It needs the server binaries of Debian's
//! `postgresql` package (`deploy/setup.sh` installs it) and nothing that package starts.
//! PostgreSQL refuses to run as root, so under root the cluster belongs to, and the server
//! runs as, the `postgres` user that package makes.
//!
//! [`LocalPostgres::start_tls`] makes a cluster that takes TLS connections only, with a CA and
//! a server certificate for `127.0.0.1` and `localhost` made by `openssl` for it, so a test can
//! connect with `sslmode=require` and `sslmode=verify-full` as a district's aggregator would.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{HarnessError, free_port};

pub struct LocalPostgres {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// (uid, gid) the server runs as when we are root.
    owner: Option<(u32, u32)>,
    tls: Option<PgTls>,
    running: bool,
}

/// The TLS material of a cluster started with [`LocalPostgres::start_tls`].
#[derive(Debug, Clone)]
pub struct PgTls {
    /// The CA certificate (PEM) that signed the server's: `sslrootcert` for `verify-full`.
    pub ca: PathBuf,
}

fn err(what: impl std::fmt::Display) -> HarnessError {
    HarnessError::Postgres(what.to_string())
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian), else the directory of `initdb` on
/// PATH.
fn bin_dir() -> Result<PathBuf, HarnessError> {
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
fn postgres_user() -> Result<(u32, u32), HarnessError> {
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
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(false)
    }

    /// Like [`start`](Self::start), but the server takes TLS connections only (a plain one is
    /// refused by `pg_hba.conf`), with a certificate for `127.0.0.1` and `localhost` signed by
    /// a CA made for this cluster ([`tls`](Self::tls)). Needs the `openssl` program.
    pub fn start_tls() -> Result<Self, HarnessError> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Result<Self, HarnessError> {
        let bin = bin_dir()?;
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("gatewatch-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let owner = if is_root() { Some(postgres_user()?) } else { None };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| err(format!("chown {}: {e}", dir.display())))?;
        }
        let mut pg = Self { port, dir, bin, owner, tls: None, running: false };
        let data = pg.dir.join("data");
        pg.run("initdb", |c| {
            c.arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        })?;
        if tls {
            pg.tls = Some(pg.make_tls()?);
        }
        pg.restart()?;
        Ok(pg)
    }

    /// The CA, when the cluster takes TLS only.
    pub fn tls(&self) -> Option<&PgTls> {
        self.tls.as_ref()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A CA and a server certificate (openssl), `ssl = on`, and an hba that refuses plain
    /// connections.
    fn make_tls(&self) -> Result<PgTls, HarnessError> {
        let tls = self.dir.join("tls");
        std::fs::create_dir_all(&tls).map_err(|e| err(format!("{}: {e}", tls.display())))?;
        let ext = tls.join("server.ext");
        std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
            .map_err(|e| err(format!("{}: {e}", ext.display())))?;
        let openssl = |args: &[&str]| -> Result<(), HarnessError> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&tls)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| err(format!("openssl: {e} (install Debian's openssl)")))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(err(format!("openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
            }
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=gatewatch test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ])?;
        // The server reads its key only when the key is its own and private.
        let key = tls.join("server.key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| err(format!("chmod {}: {e}", key.display())))?;
        if let Some((uid, gid)) = self.owner {
            for f in [tls.as_path(), &key, &tls.join("server.crt")] {
                std::os::unix::fs::chown(f, Some(uid), Some(gid))
                    .map_err(|e| err(format!("chown {}: {e}", f.display())))?;
            }
        }
        let data = self.dir.join("data");
        append(
            &data.join("postgresql.conf"),
            &format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                tls.join("server.crt").display(),
                key.display()
            ),
        )?;
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .map_err(|e| err(format!("pg_hba.conf: {e}")))?;
        Ok(PgTls { ca: tls.join("ca.crt") })
    }

    /// The URL of database `name` (letters, digits and `_`), created if it does not exist.
    pub async fn database(&self, name: &str) -> Result<String, HarnessError> {
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

    /// The URL of database `db` (trust authentication; `sslmode=require` on a TLS cluster).
    pub fn url(&self, db: &str) -> String {
        let tls = if self.tls.is_some() { "?sslmode=require" } else { "" };
        format!("postgres://postgres@127.0.0.1:{}/{db}{tls}", self.port)
    }

    /// Start (again) on the same port and data; returns once it accepts connections.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
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
    fn run(&self, program: &str, args: impl FnOnce(&mut Command)) -> Result<(), HarnessError> {
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

fn append(path: &Path, text: &str) -> Result<(), HarnessError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| err(format!("{}: {e}", path.display())))
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! A real Mosquitto broker as a child process on a free loopback port: for `gatewatch demo`
//! (no separately started broker) and for tests that stop and restart the broker.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{HarnessError, free_port};

pub struct Mosquitto {
    port: u16,
    tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

/// `mosquitto` from PATH or Debian's /usr/sbin.
fn binary() -> Result<PathBuf, HarnessError> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("mosquitto")).find(|c| c.is_file()))
        .unwrap_or_default();
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/mosquitto")).filter(|p| p.is_file()))
        .ok_or_else(|| HarnessError::Broker("mosquitto not found (run deploy/setup.sh)".into()))
}

impl Mosquitto {
    /// Start a broker on a free port of 127.0.0.1, anonymous, loopback only.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(None)
    }

    /// Start a broker secured like `deploy/mosquitto/gatewatch.conf`: no anonymous clients,
    /// the password file and ACL of `secrets` (made by `deploy/mosquitto/make-secrets.sh`),
    /// a plain listener on 127.0.0.1 and a TLS listener with the broker certificate.
    pub fn start_secured(secrets: &std::path::Path) -> Result<Self, HarnessError> {
        Self::start_with(Some(secrets))
    }

    fn start_with(secrets: Option<&std::path::Path>) -> Result<Self, HarnessError> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("gatewatch-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| HarnessError::Broker(e.to_string()))?;
        // The broker refuses packets over the clients' limit, so none can reach (and
        // disconnect) a gatewatch client.
        let common = format!(
            "persistence false\nmax_packet_size {}\nmax_queued_messages 100000\n\
             log_dest stderr\nlog_type error\nlog_type warning\n",
            gatewatch_mqtt::MAX_PACKET_BYTES
        );
        let (conf, tls_port) = match secrets {
            None => (format!("listener {port} 127.0.0.1\nallow_anonymous true\n{common}"), None),
            Some(s) => {
                let tls_port = free_port()?;
                let s = s.display();
                // Mosquitto started as root switches to user `mosquitto`, which could not read
                // the test's secrets (mode 600); `user root` keeps it as is (and means nothing
                // when the tests do not run as root).
                let conf = format!(
                    "user root\nper_listener_settings false\nallow_anonymous false\npassword_file {s}/passwd\nacl_file {s}/acl\n\
                     listener {port} 127.0.0.1\n\
                     listener {tls_port} 127.0.0.1\ncafile {s}/ca.crt\ncertfile {s}/server.crt\nkeyfile {s}/server.key\n\
                     tls_version tlsv1.2\n{common}"
                );
                (conf, Some(tls_port))
            }
        };
        std::fs::write(dir.join("mosquitto.conf"), conf).map_err(|e| HarnessError::Broker(e.to_string()))?;
        let mut broker = Self { port, tls_port, dir, child: None };
        broker.restart()?;
        Ok(broker)
    }

    /// The TLS listener's port (secured brokers only).
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Start (again) on the same port; returns once it accepts connections.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.stop();
        let child = Command::new(binary()?)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::Broker(format!("could not start: {e}")))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let ports = [Some(self.port), self.tls_port];
        while ports.iter().flatten().any(|p| TcpStream::connect(("127.0.0.1", *p)).is_err()) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(HarnessError::Broker(format!("exited at start with {status}")));
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Broker(format!("not listening on port {} after 10 s", self.port)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kill the broker (SIGKILL: like a crash; what it held in memory is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

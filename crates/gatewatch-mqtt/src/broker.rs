//! A real Mosquitto broker as a child process on a free loopback port: for `gatewatch demo`
//! (no separately started broker) and for tests that stop and restart the broker.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::MqttError;

pub struct Mosquitto {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// `mosquitto` from PATH or Debian's /usr/sbin.
fn binary() -> Result<PathBuf, MqttError> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("mosquitto")).find(|c| c.is_file()))
        .unwrap_or_default();
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/mosquitto")).filter(|p| p.is_file()))
        .ok_or_else(|| MqttError::Broker("mosquitto not found (run deploy/setup.sh)".into()))
}

impl Mosquitto {
    /// Start a broker on a free port of 127.0.0.1, anonymous, loopback only.
    pub fn start() -> Result<Self, MqttError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| MqttError::Broker(format!("no free port: {e}")))?;
        let dir = std::env::temp_dir().join(format!("gatewatch-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| MqttError::Broker(e.to_string()))?;
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_packet_size {}\nmax_queued_messages 100000\nlog_dest stderr\nlog_type error\nlog_type warning\n",
            crate::MAX_PACKET_BYTES + 1024
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).map_err(|e| MqttError::Broker(e.to_string()))?;
        let mut broker = Self { port, dir, child: None };
        broker.restart()?;
        Ok(broker)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Start (again) on the same port; returns once it accepts connections.
    pub fn restart(&mut self) -> Result<(), MqttError> {
        self.stop();
        let child = Command::new(binary()?)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| MqttError::Broker(format!("could not start: {e}")))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(MqttError::Broker(format!("exited at start with {status}")));
            }
            if Instant::now() > deadline {
                return Err(MqttError::Broker(format!("not listening on port {} after 10 s", self.port)));
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

//! The secured broker set-up of `deploy/mosquitto/` against the clients that should be
//! refused: certificates, passwords and ACL made by `make-secrets.sh`, a real Mosquitto with
//! a plain loopback listener and a TLS listener. Refused connections are read off the
//! CONNACK; refused publishes and subscriptions are silent in MQTT 3.1.1, so an observer with
//! the right to read the target topic checks that nothing arrived, after a control message
//! that must arrive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gatewatch_core::config::MqttConfig;
use gatewatch_core::topic;
use gatewatch_mqtt::MqttClient;
use gatewatch_mqtt::client::Session;
use gatewatch_systests::{Mosquitto, init_tracing, repo_root};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, Packet};

struct Secrets {
    dir: PathBuf,
    passwords: HashMap<String, String>,
}

fn make_secrets(dir: &Path) -> Secrets {
    let script = repo_root().join("deploy/mosquitto/make-secrets.sh");
    let out = Command::new(script).arg(dir).args(["north/gate-a", "north/gate-b"]).output().expect("script runs");
    assert!(out.status.success(), "make-secrets.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    let creds = std::fs::read_to_string(dir.join("credentials.txt")).unwrap();
    let passwords = creds
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect::<HashMap<_, _>>();
    assert_eq!(passwords.len(), 4, "aggregator, desk, two gates: {:?}", passwords.keys());
    Secrets { dir: dir.to_path_buf(), passwords }
}

impl Secrets {
    fn config(&self, port: u16, user: Option<&str>, tls: bool) -> MqttConfig {
        MqttConfig {
            host: "localhost".into(),
            port,
            username: user.map(str::to_string),
            password: user.map(|u| self.passwords[u].clone()),
            tls_ca: tls.then(|| self.dir.join("ca.crt")),
            ..Default::default()
        }
    }
}

/// Connect once and report the broker's answer.
async fn connect_once(cfg: &MqttConfig, id: &str) -> Result<(), String> {
    let opts = gatewatch_mqtt::options(cfg, id).map_err(|e| e.to_string())?;
    let (_client, mut eventloop) = AsyncClient::new(opts, 10);
    match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
        Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) if ack.code == ConnectReturnCode::Success => Ok(()),
        Ok(Ok(other)) => Err(format!("unexpected {other:?}")),
        Ok(Err(ConnectionError::ConnectionRefused(code))) => Err(format!("refused: {code:?}")),
        Ok(Err(e)) => Err(format!("failed: {e}")),
        Err(_) => Err("timed out".into()),
    }
}

/// A connected client with these subscriptions, ready once its subscriptions are in place.
async fn client(cfg: &MqttConfig, id: &str, subscribe: &[String]) -> MqttClient {
    let session = Session { subscribe: subscribe.to_vec(), ..Default::default() };
    let c = MqttClient::connect(cfg, id, session).unwrap();
    for _ in 0..200 {
        if c.is_connected() {
            tokio::time::sleep(Duration::from_millis(300)).await; // SUBACKs
            return c;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} did not connect");
}

/// Everything `c` receives within `wait`.
async fn drain(c: &mut MqttClient, wait: Duration) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(wait, c.recv()).await {
        got.push((m.topic, m.payload.to_vec()));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_matrix_refuses_strangers_and_confines_each_gate() {
    init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let secrets = make_secrets(&tmp.path().join("secrets"));
    let broker = Mosquitto::start_secured(&secrets.dir).unwrap();
    let (plain, tls) = (broker.port(), broker.tls_port().unwrap());

    // Who may connect at all.
    let anonymous = MqttConfig { host: "localhost".into(), port: plain, ..Default::default() };
    let mut wrong = secrets.config(tls, Some("north.gate-a"), true);
    wrong.password = Some("not-the-password".into());
    let mut no_tls_trust = secrets.config(tls, Some("north.gate-a"), false);
    no_tls_trust.tls_ca = None;
    let cases = [
        ("anonymous, loopback listener", anonymous.clone(), false),
        (
            "anonymous, TLS listener",
            MqttConfig { port: tls, tls_ca: Some(secrets.dir.join("ca.crt")), ..anonymous },
            false,
        ),
        ("wrong password over TLS", wrong, false),
        ("plain MQTT spoken to the TLS listener", no_tls_trust, false),
        ("gate A over TLS", secrets.config(tls, Some("north.gate-a"), true), true),
        ("aggregator on loopback", secrets.config(plain, Some("aggregator"), false), true),
    ];
    for (what, cfg, allowed) in cases {
        let got = connect_once(&cfg, "probe").await;
        eprintln!("{what}: {got:?}");
        assert_eq!(got.is_ok(), allowed, "{what}: {got:?}");
    }

    // What each identity may publish and read, seen by observers entitled to read it.
    let mut aggregator =
        client(&secrets.config(plain, Some("aggregator"), false), "agg", &[topic::EVENTS_FILTER.into()]).await;
    let mut desk = client(&secrets.config(plain, Some("desk"), false), "desk", &[topic::ALERTS_FILTER.into()]).await;
    let mut gate_b =
        client(&secrets.config(tls, Some("north.gate-b"), true), "gate-b", &[topic::ack_topic("north", "gate-b")])
            .await;
    let mut gate_a = client(
        &secrets.config(tls, Some("north.gate-a"), true),
        "gate-a",
        &["#".into(), topic::ack_topic("north", "gate-b")],
    )
    .await;

    let forged_event = topic::events_topic("north", "gate-b", "cam");
    gate_a.publish(forged_event.clone(), b"gate A posing as gate B".to_vec()).await.unwrap();
    gate_a.publish(topic::alerts_topic("north"), b"gate A raising an alert".to_vec()).await.unwrap();
    gate_a.publish(topic::ack_topic("north", "gate-a"), b"gate A acking itself".to_vec()).await.unwrap();
    gate_a.publish(topic::events_topic("north", "gate-a", "cam"), b"control".to_vec()).await.unwrap();
    gate_a.flush(Duration::from_secs(10)).await.unwrap();
    aggregator.publish(topic::ack_topic("north", "gate-b"), b"{\"seq\":1}".to_vec()).await.unwrap();
    aggregator.publish(topic::alerts_topic("north"), b"{\"real\":true}".to_vec()).await.unwrap();
    aggregator.flush(Duration::from_secs(10)).await.unwrap();

    let seen_by_aggregator = drain(&mut aggregator, Duration::from_secs(2)).await;
    assert_eq!(
        seen_by_aggregator,
        vec![(topic::events_topic("north", "gate-a", "cam"), b"control".to_vec())],
        "only gate A's own event arrives; its forged gate-B event is dropped"
    );
    let seen_by_desk = drain(&mut desk, Duration::from_secs(1)).await;
    assert_eq!(seen_by_desk, vec![(topic::alerts_topic("north"), b"{\"real\":true}".to_vec())], "gates cannot alert");
    let seen_by_b = drain(&mut gate_b, Duration::from_secs(1)).await;
    assert_eq!(seen_by_b, vec![(topic::ack_topic("north", "gate-b"), b"{\"seq\":1}".to_vec())]);
    let seen_by_a = drain(&mut gate_a, Duration::from_secs(1)).await;
    assert!(seen_by_a.is_empty(), "gate A reads neither '#' nor gate B's acks: {seen_by_a:?}");

    for c in [aggregator, desk, gate_a, gate_b] {
        c.disconnect().await;
    }
}

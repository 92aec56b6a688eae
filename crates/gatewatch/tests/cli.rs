//! The `gatewatch` binary as a user runs it: check-config and the demo.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gatewatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatewatch"));
    c.current_dir(repo());
    c
}

#[test]
fn shipped_configs_pass_check_config() {
    let out = gatewatch()
        .args([
            "check-config",
            "deploy/edge.toml",
            "deploy/aggregator.toml",
            "deploy/demo-edge.toml",
            "deploy/demo-aggregator.toml",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches(": ok (").count(), 4, "{stdout}");
}

#[test]
fn check_config_reports_every_error_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("edge.toml");
    std::fs::write(
        &bad,
        "site = \"no rth\"\nedge = \"g\"\ncolour = 1\n[[cameras]]\nid = \"c\"\nuri = \"x\"\ndetect_fps = 0\n\
         [[cameras.zones]]\nname = \"z\"\npolygon = [[0.0, 0.0], [2.0, 0.0]]\n",
    )
    .unwrap();
    let out = gatewatch().arg("check-config").arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    for needle in ["unknown key `colour`", "site:", "detect_fps", "at least 3 corners", "within 0..1"] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

/// The README's first command ends in this: the demo on vtest.avi raises loitering alerts.
#[test]
fn demo_prints_loitering_alerts_and_exits_zero() {
    let out = gatewatch().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let alerts = stdout.lines().filter(|l| l.starts_with("ALERT") && l.contains("crossing-linger")).count();
    assert!(alerts >= 1, "no loitering alert:\n{stdout}");
    assert!(stdout.contains("795 frames decoded"), "{stdout}");
    assert!(stdout.contains(&format!("alerts raised: {alerts}")), "{stdout}");
}

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

/// `gatewatch bench` on a short clip: every phase present, frame counts exact, JSON readable.
/// (What it measures is not asserted: timing belongs to the benchmark, not to a test.)
#[test]
fn bench_runs_every_phase_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let frames = (0..30u32).map(|i| {
        let mut rgb = vec![0u8; 320 * 240 * 3];
        for (j, px) in rgb.iter_mut().enumerate() {
            *px = ((j as u32 / 3 + i * 7) % 251) as u8;
        }
        rgb
    });
    gatewatch_media::clip::write_mp4(&clip, 320, 240, 10, frames).unwrap();
    let json = dir.path().join("bench.json");
    let out = gatewatch()
        .arg("bench")
        .arg("--clip")
        .arg(&clip)
        .args(["--streams", "1,2", "--seconds", "2", "--inference-frames", "4", "--ingest-events", "300"])
        .args(["--peer-python", "/nonexistent"])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let phases = report["phases"].as_array().unwrap();
    let get = |name: &str| phases.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(get("decode-only")["frames"], 30);
    assert_eq!(get("inference-only")["inferred"], 4);
    assert_eq!(get("e2e every frame")["inferred"], 30, "every frame through the detector");
    assert_eq!(get("aggregator ingest")["frames"], 300, "every event stored");
    for name in ["e2e 1 streams", "e2e 2 streams"] {
        let p = get(name);
        assert!(p["frames"].as_u64().unwrap() > 0 && p["dropped_pct"].is_number(), "{p}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("Python peer skipped"));
}

//! The `gatewatch` binary as a user runs it: check-config, the demo, the bench, plate and clip eval.

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

/// The README's first command ends in this: the demo on vtest.avi raises loitering alerts, and
/// parking alerts for the vehicles standing in the car-park zone.
#[test]
fn demo_prints_loitering_alerts_and_exits_zero() {
    let out = gatewatch().args(["demo", "--exit-at-end", "--desk", "127.0.0.1:0"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let desk = stdout.lines().find(|l| l.starts_with("watch desk: http://127.0.0.1:")).expect("the desk's address");
    assert!(desk.contains("log in as demo with the one-time password "), "{desk}");
    let raised = |rule: &str| stdout.lines().filter(|l| l.starts_with("ALERT") && l.contains(rule)).count();
    assert!(raised("[crossing-linger]") >= 1, "no loitering alert:\n{stdout}");
    assert!(raised("[no-parking]") >= 1, "no parking alert:\n{stdout}");
    assert!(stdout.contains("795 frames decoded"), "{stdout}");
    assert!(stdout.contains(&format!("alerts raised: {}", raised("["))), "{stdout}");
    // People walk both ways across the plaza's counting line.
    let counts = stdout.lines().find_map(|l| l.strip_prefix("line crossings: ")).expect("crossings reported");
    let n: Vec<u64> = counts.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    assert!(n.len() == 2 && n[0] >= 1 && n[1] >= 1, "crossings both ways: {counts}");
}

/// The README's "run it twice": with `--db` the database and the edge's spool are kept, so a
/// second run's loiterers are new tracks (ids continue) and raise their own alerts.
#[test]
fn demo_run_twice_on_one_database_raises_the_second_runs_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut counts = Vec::new();
    for run in 0..2 {
        let out =
            gatewatch().args(["demo", "--exit-at-end", "--desk", "127.0.0.1:0", "--db"]).arg(&db).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let alerts = stdout.lines().filter(|l| l.starts_with("ALERT") && l.contains("crossing-linger")).count();
        assert!(alerts >= 1, "run {run} raised no loitering alert:\n{stdout}");
        counts.push(alerts);
        // The two parked vehicles: alerted in the first run; in the second the edge's new
        // tracks take their parking episodes over, and the restarted aggregator's replay counts
        // no sighting again: nothing about them at all.
        let parked = stdout.lines().filter(|l| l.contains("[no-parking]")).count();
        if run == 0 {
            assert!(parked >= 1, "no parking alert:\n{stdout}");
        } else {
            assert_eq!(parked, 0, "the same parked cars raised or updated again:\n{stdout}");
        }
    }
    assert!(dir.path().join("demo.db.spool").is_dir(), "the edge's spool is kept beside the database");
    let list =
        gatewatch().args(["alerts", "--db"]).arg(format!("sqlite://{}", db.display())).arg("list").output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout).lines().filter(|l| l.contains("[crossing-linger]")).count();
    assert_eq!(listed, counts[0] + counts[1], "both runs' alerts are kept: {counts:?}");

    // An officer works one alert through its lifecycle from the CLI.
    let url = format!("sqlite://{}", db.display());
    let alerts = |args: &[&str]| gatewatch().args(["alerts", "--db", &url]).args(args).output().unwrap();
    let listing = String::from_utf8_lossy(&list.stdout).to_string();
    let id = listing.split_whitespace().next().expect("an alert id").to_string();
    assert!(listing.lines().next().unwrap().contains(" open "), "{listing}");
    let ack = alerts(&["ack", &id, "--officer", "王警官"]);
    assert!(ack.status.success(), "{}", String::from_utf8_lossy(&ack.stderr));
    let hostile = alerts(&["resolve", &id, "--officer", "王警官", "--note", "<script>x</script>"]);
    assert!(!hostile.status.success(), "markup in a note is refused");
    let resolved = alerts(&["resolve", &id, "--officer", "王警官", "--note", "told to move on"]);
    assert!(resolved.status.success(), "{}", String::from_utf8_lossy(&resolved.stderr));
    let again = alerts(&["false-alarm", &id, "--officer", "李警官"]);
    let why = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && why.contains("already resolved"), "{why}");
    let show = alerts(&["show", &id]);
    let shown = String::from_utf8_lossy(&show.stdout);
    for needle in ["resolved", "raised", "acknowledged by 王警官", "by 王警官: told to move on", "seen"] {
        assert!(shown.contains(needle), "missing {needle:?} in:\n{shown}");
    }
    let open = alerts(&["list", "--open"]);
    assert!(!String::from_utf8_lossy(&open.stdout).contains(&id), "a resolved alert is not open");
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
        .args(["--repeat", "2"])
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
    for name in ["decode-only", "inference-only", "e2e every frame"] {
        let runs = get(name)["runs_fps"].as_array().unwrap_or_else(|| panic!("{name}: no runs"));
        assert_eq!(runs.len(), 2, "{name}: the median of --repeat 2 runs, both kept");
        let fps = get(name)["fps"].as_f64().unwrap();
        assert!(runs.iter().any(|r| r.as_f64() == Some(fps)), "{name}: the reported run is one of them");
    }
    assert_eq!(get("aggregator ingest")["frames"], 300, "every event stored");
    for name in ["e2e 1 streams", "e2e 2 streams"] {
        let p = get(name);
        assert!(p["frames"].as_u64().unwrap() > 0 && p["dropped_pct"].is_number(), "{p}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("Python peer skipped"));
}

/// Real photo sets hold PNGs named `.jpg` and broken files: `eval plates` decodes by content,
/// counts an unreadable image as a miss, and goes on.
#[test]
fn eval_plates_reads_by_content_and_survives_broken_images() {
    let dir = tempfile::tempdir().unwrap();
    let photo = repo().join("media/car-5AU5341.png");
    let png = std::fs::read(&photo).unwrap_or_else(|e| panic!("{}: {e}; run deploy/setup.sh", photo.display()));
    assert!(png.starts_with(b"\x89PNG"), "the sample photo is a PNG");
    std::fs::write(dir.path().join("car.jpg"), &png).unwrap();
    std::fs::write(dir.path().join("truncated.jpg"), &png[..png.len() / 3]).unwrap();
    std::fs::write(dir.path().join("not-an-image.jpg"), b"<html>404</html>").unwrap();
    std::fs::write(
        dir.path().join("labels.csv"),
        "file,plate_text,x1,y1,x2,y2\ntruncated.jpg,5AU5341,,,,\ncar.jpg,5AU5341,,,,\nnot-an-image.jpg,5AU5341,,,,\n",
    )
    .unwrap();
    let out = gatewatch().args(["eval", "plates", "--no-grammar"]).arg(dir.path().join("labels.csv")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(3 images"), "{stdout}");
    assert!(stdout.contains("unreadable images 2/3"), "{stdout}");
    let unreadable: Vec<&str> = stdout.lines().filter(|l| l.contains("(unreadable image)")).collect();
    assert_eq!(unreadable.len(), 2, "{stdout}");
    assert!(unreadable.iter().all(|l| !l.contains("car.jpg")), "the PNG named .jpg was decoded: {stdout}");
}

/// `eval clips` plays a clip through the real edge pipeline and scores it: vtest.avi with the
/// demo's counting line, two sampled times and one true crossing; a clip that is not there is
/// named.
#[test]
fn eval_clips_scores_the_real_pipeline_against_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("media/vtest.avi"), dir.path().join("vtest.avi")).unwrap();
    std::fs::write(
        dir.path().join("counts.csv"),
        "clip,t_s,persons,vehicles,notes
vtest.avi,10,6,2,
vtest.avi,40,6,2,
",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("crossings.csv"),
        "clip,line,t_s,class,direction
vtest.avi,middle,30,person,in
",
    )
    .unwrap();
    let set = dir.path().join("set.toml");
    std::fs::write(
        &set,
        "dir = \".\"\n[[clips]]\nfile = \"vtest.avi\"\n[[clips.lines]]\nname = \"middle\"\n\
         from = [0.5, 0.15]\nto = [0.5, 0.95]\nin_side = \"right\"\nclasses = [\"person\"]\n",
    )
    .unwrap();
    let out = gatewatch()
        .args(["eval", "clips", "--config", "deploy/demo-edge.toml", "--resize", "letterbox", "--json", "--set"])
        .arg(&set)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let r = &results[0];
    assert_eq!((r["resize"].as_str(), r["frames"].as_u64()), (Some("letterbox"), Some(795)), "{r}");
    assert_eq!(r["persons"]["samples"], 2);
    assert_eq!(r["persons"]["truth"], 12);
    // People walk through the whole clip: the tracks were seen, the line crossed many times.
    // Found is counted per sample (at most that sample's truth and ours): never above either total.
    let (ours, found) = (r["persons"]["ours"].as_u64().unwrap(), r["persons"]["found"].as_u64().unwrap());
    assert!(ours >= 4 && found >= 4 && found <= ours.min(12), "{r}");
    assert!(r["crossings"]["ours"].as_u64().unwrap() >= 10, "{r}");
    assert_eq!(r["crossings"]["truth"], 1);
    assert!(r["tracks"]["person"].as_u64().unwrap() >= 10, "{r}");

    std::fs::remove_file(dir.path().join("vtest.avi")).unwrap();
    let out = gatewatch().args(["eval", "clips", "--set"]).arg(&set).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("vtest.avi: no such clip"));
}

/// The controlled clips (a man close to a 16:9 camera, a parked car) are made from set-up's
/// media with their truth, and the real pipeline sees the man in every sample once his track
/// is confirmed, in one stay, both ways of fitting the frame.
#[test]
fn controlled_clips_are_made_and_scored() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatewatch().args(["eval", "make-controlled", "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dwell = std::fs::read_to_string(dir.path().join("dwell.csv")).unwrap();
    assert!(dwell.contains("close_person.mp4,plaza,p1,person,0,9.9"), "{dwell}");
    let out = gatewatch()
        .args(["eval", "clips", "--only", "close_person", "--json", "--set"])
        .arg(dir.path().join("set.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(results.as_array().map(Vec::len), Some(2), "stretched and letterboxed: {results}");
    for r in results.as_array().unwrap() {
        assert_eq!(r["frames"], 100, "{r}");
        assert_eq!(r["persons"]["truth"], 10);
        // The first sample comes before the track is confirmed (two sightings).
        assert!(r["persons"]["found"].as_u64().unwrap() >= 9, "{r}");
        assert_eq!(r["vehicles"]["ours"], 0, "{r}");
        assert_eq!(r["dwell"][0]["tracks"], 1, "one stay, one track: {r}");
    }
}

/// The first admin comes from the CLI with a one-time password printed once and stored only as
/// an argon2id hash; a second user of that name, a short password and an unknown role are refused.
#[test]
fn desk_users_are_made_from_the_cli() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("desk.db").display());
    let users = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = gatewatch();
        cmd.args(["users", "--db", &db]).args(args).stdin(std::process::Stdio::piped());
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = users(&["add", "admin-1", "--role", "admin"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let password = stdout
        .lines()
        .find(|l| l.starts_with("one-time password"))
        .and_then(|l| l.rsplit(' ').next())
        .expect("a one-time password")
        .to_string();
    assert_eq!(password.len(), 20, "{stdout}");
    assert!(!users(&["add", "admin-1", "--role", "officer"], None).status.success(), "the name is taken");
    assert!(!users(&["add", "li", "--role", "officer", "--password-stdin"], Some("short\n")).status.success());
    assert!(!users(&["add", "bob", "--role", "root"], None).status.success());
    assert!(
        users(&["add", "li", "--role", "officer", "--password-stdin"], Some("a long enough password\n"))
            .status
            .success()
    );
    assert!(users(&["disable", "li"], None).status.success());
    let list = String::from_utf8_lossy(&users(&["list"], None).stdout).to_string();
    assert!(list.contains("admin-1") && list.contains("admin    active"), "{list}");
    assert!(list.contains("officer  disabled"), "{list}");
    // The database file and its write-ahead log, whichever holds the rows now.
    let mut raw = std::fs::read(dir.path().join("desk.db")).unwrap();
    raw.extend(std::fs::read(dir.path().join("desk.db-wal")).unwrap_or_default());
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("$argon2id$") && !raw.contains(&password), "only the hash is stored");
}

/// A database password never goes on the command line (`ps` shows it to every user):
/// `--db` with one is refused, and `GATEWATCH_DB` is where the URL goes instead.
#[test]
fn database_passwords_come_from_the_environment_not_the_command_line() {
    let out = gatewatch().args(["lists", "--db", "postgres://gw:s3cret@127.0.0.1:1/gw", "show"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("GATEWATCH_DB") && !stderr.contains("s3cret"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lists.db").display());
    let add = gatewatch()
        .env("GATEWATCH_DB", &url)
        .args(["lists", "add", "--kind", "stolen", "--plate", "京A88B01", "--label", "case 1"])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let show = gatewatch().env("GATEWATCH_DB", &url).args(["lists", "show"]).output().unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("京A88B01"), "the entry went to $GATEWATCH_DB");
    // A password in the environment stays out of the error when the server is away.
    let away = gatewatch()
        .env("GATEWATCH_DB", "postgres://gw:s3cret@127.0.0.1:1/gw")
        .args(["alerts", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&away.stderr);
    assert!(!away.status.success() && !stderr.contains("s3cret"), "{stderr}");
}

/// `gatewatch visits` on a database with a vehicle inside and one that left: who is inside now,
/// by plate (as an officer types it, with a separator) and by state; a bad plate is refused.
#[tokio::test]
async fn visits_shows_who_is_inside_and_refuses_a_bad_plate() {
    use gatewatch_core::detection::ObjectClass;
    use gatewatch_core::event::{Event, EventBody, SCHEMA_V1};
    use gatewatch_core::lines::Direction;
    use gatewatch_core::visits::VisitChange;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    let store = gatewatch_store::Store::open(&url).await.unwrap();
    let crossing = |edge: &str, direction: Direction| Event {
        schema: SCHEMA_V1.into(),
        event_id: uuid::Uuid::now_v7(),
        site: "north".into(),
        edge: edge.into(),
        camera: "lane".into(),
        seq: 1,
        captured_at: chrono::Utc::now() - chrono::Duration::minutes(40),
        body: EventBody::LineCrossed { track: 1, class: ObjectClass::Car, line: "gate".into(), direction },
    };
    let (a, b, b_out) =
        (crossing("gate-1", Direction::In), crossing("gate-1", Direction::In), crossing("gate-2", Direction::Out));
    let entered = |ev: &Event, plate: &str| VisitChange::Entered {
        visit: ev.event_id,
        site: "north".into(),
        plate: plate.into(),
        at: ev.captured_at,
        camera: "gate-1/lane".into(),
    };
    let left = VisitChange::Left {
        visit: b.event_id,
        at: b_out.captured_at,
        event_id: b_out.event_id,
        camera: "gate-2/lane".into(),
    };
    let (ea, eb, el) = ([entered(&a, "京A12345")], [entered(&b, "沪B22222")], [left]);
    store.commit_arrivals(&[(&a, &[], &ea), (&b, &[], &eb), (&b_out, &[], &el)]).await.unwrap();
    store.close().await;

    let visits = |args: &[&str]| gatewatch().args(["visits", "--db", &url]).args(args).output().unwrap();
    let out = visits(&["--inside"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}{}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("京A12345") && !shown.contains("沪B22222"), "{shown}");
    assert!(shown.contains("north: 1 vehicles inside"), "{shown}");
    let out = visits(&["--plate", "沪B·22222"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("left") && shown.contains("gate-2/lane") && shown.contains("0 min"), "{shown}");
    let out = visits(&["--plate", "<b>"]);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--plate"));
}

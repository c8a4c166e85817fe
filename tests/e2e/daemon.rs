//! `switchboard serve` as an operator meets it: first start on an empty machine, health checks,
//! graceful stop, one daemon per folder.

use crate::support::{run, switchboard, Daemon};

#[test]
fn first_start_creates_a_private_dev_key_and_answers_health_checks() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut command = switchboard();
    command.env("SWITCHBOARD_DATA_DIR", &data).env("SWITCHBOARD_LOG", "info");
    let daemon = Daemon::start(command);
    assert_eq!(ureq::get(&daemon.url("/healthz")).call().unwrap().status(), 200);
    assert_eq!(ureq::get(&daemon.url("/readyz")).call().unwrap().into_string().unwrap(), "ready");
    let key_path = data.join("master.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, 0, "SIGTERM is a clean stop:\n{stderr}");
    assert!(stderr.contains("DEVELOPMENT master key"), "{stderr}");
    assert!(!stderr.contains(key_text.trim()), "the key never reaches the log");

    // The second start reuses the key and the folder.
    let mut again = switchboard();
    again.env("SWITCHBOARD_DATA_DIR", &data);
    let daemon = Daemon::start(again);
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key_text);
    // While it runs, the folder is locked: the tools say so instead of failing obscurely.
    let replay = run(switchboard().args(["replay", "--data-dir"]).arg(&data));
    assert_eq!(replay.code, 2);
    assert!(replay.stderr.contains("in use by a running daemon"), "{}", replay.stderr);
    assert_eq!(daemon.terminate().0, 0);
}

#[test]
fn a_wrong_master_key_stops_the_daemon_with_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut first = switchboard();
    first.env("SWITCHBOARD_DATA_DIR", &data);
    assert_eq!(Daemon::start(first).terminate().0, 0);
    let other = switchboard_crypto::MasterKey::generate().to_base64();
    let start = run(switchboard()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("SWITCHBOARD_MASTER_KEY", &other));
    assert_eq!(start.code, 2);
    assert!(start.stderr.contains("sealed under master key"), "{}", start.stderr);
    assert!(!start.stderr.contains(&other), "the key never reaches the log");
}

//! The official `twilio` Python SDK (from PyPI, installed into a virtual environment under the
//! target folder on first run) against the real daemon: tests/sdk/test_twilio_sdk.py.

use std::path::PathBuf;
use std::process::Command;

use crate::support::api::{daemon_command, ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN};
use crate::support::Daemon;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A virtual environment with the SDK, made once and kept between runs under the target folder;
/// made again only when tests/sdk/requirements.txt changes (its text is kept beside it).
fn python_with_sdk() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sdk-venv");
    let python = venv.join("bin/python");
    let requirements = repo().join("tests/sdk/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("tests/sdk/requirements.txt");
    let stamp = venv.join("requirements.installed");
    let current = std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted)
        && Command::new(&python)
            .args(["-c", "import twilio, websocket"])
            .status()
            .is_ok_and(|s| s.success());
    if !current {
        let made = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .expect("python3 runs (a prerequisite of the tests: README, Quick start)");
        assert!(
            made.success(),
            "python3 -m venv failed: the SDK suite needs python3 with venv (Debian: apt-get install \
             python3-venv; README, Quick start)"
        );
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "installing the twilio SDK from PyPI failed");
        std::fs::write(&stamp, wanted).unwrap();
    }
    python
}

#[test]
fn the_official_python_sdk_works_unchanged() {
    let python = python_with_sdk();
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush").env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    let daemon = Daemon::start(command);
    let run = Command::new(python)
        .arg(repo().join("tests/sdk/test_twilio_sdk.py"))
        .env("SWITCHBOARD_URL", &daemon.base_url)
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT_SID)
        .env("SWITCHBOARD_AUTH_TOKEN", AUTH_TOKEN)
        .env("SWITCHBOARD_API_KEY_SID", API_KEY_SID)
        .env("SWITCHBOARD_API_KEY_SECRET", API_KEY_SECRET)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("the SDK suite runs");
    let report = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the SDK suite failed:\n{report}\n{}", daemon.stderr());
    assert!(report.contains("OK"), "{report}");
}

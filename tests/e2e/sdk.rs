//! The official `twilio` Python SDK (from PyPI, installed into a virtual environment under the
//! target folder on first run) against the real daemon: tests/sdk/test_twilio_sdk.py.

use std::path::PathBuf;
use std::process::Command;

use crate::support::api::{daemon_command, ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN};
use crate::support::python::{python_with, repo};
use crate::support::Daemon;

/// A virtual environment with the SDK (support::python).
fn python_with_sdk() -> PathBuf {
    python_with("sdk-venv", "tests/sdk/requirements.txt", "import twilio, websocket")
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

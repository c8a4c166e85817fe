//! Python tools the tests use (the Twilio SDK, the Kubernetes schema checkers), from PyPI, each
//! in a virtual environment of its own under the target folder: made on first use, kept between
//! runs, made again when its requirements file changes (its text is kept beside it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The python of the environment `name`, with `requirements` (a path in the repository)
/// installed; `probe` is a Python statement that succeeds once they are (`import twilio`).
pub fn python_with(name: &str, requirements: &str, probe: &str) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    let requirements = repo().join(requirements);
    let wanted = std::fs::read_to_string(&requirements)
        .unwrap_or_else(|e| panic!("{}: {e}", requirements.display()));
    let stamp = venv.join("requirements.installed");
    let current = std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted)
        && Command::new(&python).args(["-c", probe]).status().is_ok_and(|s| s.success());
    if !current {
        make(&venv, &python, &requirements);
        std::fs::write(&stamp, wanted).unwrap();
    }
    python
}

fn make(venv: &Path, python: &Path, requirements: &Path) {
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(venv)
        .status()
        .expect("python3 runs (a prerequisite of the tests: README, Quick start)");
    assert!(
        made.success(),
        "python3 -m venv failed: the tests need python3 with venv (Debian: apt-get install \
         python3-venv; README, Quick start)"
    );
    let installed = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(requirements)
        .status()
        .expect("pip runs");
    assert!(installed.success(), "installing {} from PyPI failed", requirements.display());
}

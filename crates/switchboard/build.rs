//! Records the commit the binary is built from, for `switchboard --version`.
//!
//! `SWITCHBOARD_COMMIT` names it when set (a build from a source archive, a container build);
//! otherwise git is asked; without git, or outside a checkout, the commit is `unknown` and the
//! build goes on.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_COMMIT");
    let commit = std::env::var("SWITCHBOARD_COMMIT")
        .ok()
        .filter(|given| !given.trim().is_empty())
        .map(|given| given.trim().to_owned())
        .or_else(commit_from_git)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SWITCHBOARD_COMMIT={commit}");
}

/// The checked-out commit, abbreviated; `None` without git or a checkout. Asks cargo to build
/// again when HEAD moves (a commit, a checkout), in a worktree too.
fn commit_from_git() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        watch(name);
    }
    Some(commit)
}

/// Builds again when the git file `name` changes. Only a file that is there: cargo takes a
/// missing one as changed, and would build again every time.
fn watch(name: &str) {
    let (Some(path), Some(dir)) =
        (git(&["rev-parse", "--git-path", name]), std::env::var_os("CARGO_MANIFEST_DIR"))
    else {
        return;
    };
    // git answers relative to the folder it ran in.
    let path = std::path::Path::new(&dir).join(path);
    if path.is_file() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// What `git ARGS` prints in the crate's folder, trimmed; `None` if it fails or is not there.
fn git(args: &[&str]) -> Option<String> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let output = Command::new("git").args(args).current_dir(manifest_dir).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

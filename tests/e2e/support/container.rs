//! Podman as the tests run it on these machines: Debian's podman with `runc` and cgroupfs and
//! explicit rlimits (crun refuses the hybrid cgroups and the rlimits here), in podman's default
//! storage. Every image, volume, secret and container a test makes has a name of its own (tests
//! in other checkouts may run at the same time) and is removed when the test ends, passed or not.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use super::python::repo;

/// The prefixes of the variables cargo sets for a test of this package.
const CARGO_TEST_VARIABLES: &[&str] = &[
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_BIN_",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// `podman` with the runtime and cgroup manager that work here.
pub fn podman() -> Command {
    let mut command = Command::new("podman");
    command.args(["--runtime", "runc", "--cgroup-manager=cgroupfs"]);
    command
}

/// Runs podman to the end; a failure (or no podman: Debian's `podman` and `runc`, which .ci/run
/// installs) fails the test.
pub fn podman_ok(args: &[&str]) -> String {
    let output = podman().args(args).output().unwrap_or_else(|e| {
        panic!("podman is needed ({e}): Debian's `podman` and `runc` (.ci/run installs them)")
    });
    assert!(output.status.success(), "podman {args:?}: {}", said(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What a test made with podman, removed in the reverse order when dropped.
#[derive(Debug)]
pub struct Made {
    /// The prefix of every name: unique to this process and moment.
    prefix: String,
    /// (kind, name), in the order made.
    things: Vec<(Kind, String)>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Image,
    Volume,
    Secret,
    Container,
}

impl Made {
    pub fn new() -> Made {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Made {
            prefix: format!("switchboard-e2e-{}-{nanos}", std::process::id()),
            things: Vec::new(),
        }
    }

    fn name(&mut self, kind: Kind) -> String {
        let name = format!("{}-{}", self.prefix, self.things.len());
        let name = match kind {
            Kind::Image => format!("localhost/{name}:test"),
            _ => name,
        };
        // Recorded before it is made: whatever a failed step left behind goes too.
        self.things.push((kind, name.clone()));
        name
    }

    /// Builds the image with deploy/container/build.sh (the `container-test` profile, the cheapest
    /// to build);
    /// returns its name.
    pub fn image(&mut self) -> String {
        let name = self.name(Kind::Image);
        let mut build = Command::new(repo().join("deploy/container/build.sh"));
        // What cargo tells the test about its own package: a build script that watches one of
        // these (ring's) would otherwise rebuild much of target/static on every other run.
        for (variable, _) in std::env::vars() {
            if CARGO_TEST_VARIABLES.iter().any(|prefix| variable.starts_with(prefix)) {
                build.env_remove(variable);
            }
        }
        let built = build
            .args(["--profile", "container-test", "--tag", &name])
            .stdin(Stdio::null())
            .output()
            .expect("deploy/container/build.sh runs");
        assert!(built.status.success(), "build.sh: {}", said(&built));
        name
    }

    pub fn volume(&mut self) -> String {
        let name = self.name(Kind::Volume);
        podman_ok(&["volume", "create", &name]);
        name
    }

    /// A secret holding the file's content.
    pub fn secret(&mut self, file: &Path) -> String {
        let name = self.name(Kind::Secret);
        podman_ok(&["secret", "create", &name, file.to_str().unwrap()]);
        name
    }

    /// `podman run` of `image` in the foreground with `options` and the rlimits that work here:
    /// returns the container's name and the podman process, its stdout and stderr piped (the
    /// container's), which passes signals on to the container.
    pub fn run(&mut self, image: &str, options: &[&str]) -> (String, Child) {
        let name = self.name(Kind::Container);
        let child = podman()
            .args(["run", "--name", &name])
            .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
            .args(options)
            .arg(image)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("podman run starts");
        (name, child)
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for (kind, name) in self.things.iter().rev() {
            let args: &[&str] = match kind {
                Kind::Container => &["rm", "--force", "--time", "0"],
                Kind::Volume => &["volume", "rm", "--force"],
                Kind::Secret => &["secret", "rm"],
                Kind::Image => &["rmi", "--force"],
            };
            // Best effort: a step that failed may not have made it.
            let _ = podman().args(args).arg(name).output();
        }
    }
}

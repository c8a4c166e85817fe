//! The first hour of a new user, through the binary: the log as it reads where it goes, the
//! start banner, the developer commands and the sandbox, the tools that read the daemon's own
//! configuration, and the README's quick start run as written.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use crate::support::{switchboard, Daemon};

#[test]
fn the_log_has_colours_on_a_terminal_only() {
    let temp = tempfile::tempdir().unwrap();
    // Piped, as into a file or a journal: plain text.
    let mut piped = switchboard();
    piped.env("SWITCHBOARD_DATA_DIR", temp.path().join("piped")).env("SWITCHBOARD_LOG", "info");
    let (code, stderr) = Daemon::start(piped).terminate();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("INFO"), "the log has lines to colour: {stderr}");
    assert!(!stderr.contains('\x1b'), "no escape codes in a file: {stderr:?}");

    // On a terminal, levels are coloured; NO_COLOR turns that off there too.
    assert!(terminal_log(&temp.path().join("tty"), false).contains("\x1b["));
    let plain = terminal_log(&temp.path().join("tty"), true);
    assert!(plain.contains("INFO") && !plain.contains('\x1b'), "{plain:?}");
}

/// What `serve` writes to its stderr when that is a pseudo-terminal, from start to a clean stop.
fn terminal_log(data: &std::path::Path, no_color: bool) -> String {
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut command = switchboard();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHBOARD_DATA_DIR", data)
        .env("SWITCHBOARD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(pty.slave));
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let mut child = command.spawn().unwrap();
    // Our copy of the terminal's other end goes, so reading ends when the daemon exits.
    drop(command);
    let mut terminal = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        // A pseudo-terminal reports EIO, not EOF, once its last writer is gone.
        while let Ok(n @ 1..) = terminal.read(&mut chunk) {
            seen.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let started =
        stdout.lines().map_while(Result::ok).any(|l| l.starts_with("switchboard listening on "));
    assert!(started, "the daemon did not start");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    reader.join().unwrap()
}

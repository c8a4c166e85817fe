//! Shared helpers for the end-to-end tests: running the binary, making data folders with known
//! content, and starting the daemon on a free port.

#![allow(dead_code)]

pub mod api;
pub mod console;
pub mod container;
pub mod fake;
pub mod openapi;
pub mod python;
pub mod studio;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelKind, MessageSource, NewChannel, NewMessage, Sid, SidPrefix, Timestamp,
};
use switchboard_store::{ChannelLog, Durability, EventLog, StoreConfig};

/// The output of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// The binary under test, with no SWITCHBOARD_* variable inherited from the caller.
pub fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHBOARD_") {
            command.env_remove(name);
        }
    }
    command.env("SWITCHBOARD_LOG", "warn");
    command
}

pub fn run(command: &mut Command) -> Run {
    let output = command.stdin(Stdio::null()).output().expect("the switchboard binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A data folder in a temporary directory, with its master key in a file beside it.
pub struct Folder {
    pub temp: tempfile::TempDir,
    pub key: MasterKey,
}

impl Folder {
    pub fn new() -> Folder {
        let temp = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        key.save_new(&temp.path().join("master.b64")).unwrap();
        Folder { temp, key }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.temp.path().join("data")
    }

    pub fn key_file(&self) -> PathBuf {
        self.temp.path().join("master.b64")
    }

    pub fn open(&self) -> EventLog {
        let mut config = StoreConfig::new(self.data_dir());
        config.durability = Durability::Flush;
        config.snapshot_every = 5;
        EventLog::open(config, self.key.clone()).unwrap()
    }

    /// `switchboard ARGS --data-dir DIR --master-key-file KEY`
    pub fn cli(&self, args: &[&str]) -> Run {
        run(switchboard()
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--master-key-file")
            .arg(self.key_file()))
    }
}

pub fn sid(prefix: SidPrefix, n: u8) -> Sid {
    let mut id = [0u8; 16];
    id[15] = n;
    id[0] = 0x5b;
    Sid::from_parts(prefix, id)
}

pub fn at(seconds: i64) -> Timestamp {
    // 2026-11-24T09:00:00Z plus `seconds`.
    Timestamp::from_millis((1_795_510_800 + seconds) * 1000)
}

/// A channel from a Flex Flow with a customer and `messages` customer messages, one a minute.
pub fn seed_channel(log: &EventLog, n: u8, address: &str, messages: u8) -> Sid {
    let channel_sid = sid(SidPrefix::CHANNEL, n);
    let new = NewChannel {
        channel_sid,
        service_sid: sid(SidPrefix::SERVICE, 1),
        kind: ChannelKind::Private,
        friendly_name: Some(format!("chat with {address}")),
        unique_name: None,
        attributes: format!(r#"{{"from":"{address}","status":"ACTIVE"}}"#),
        created_by: "system".into(),
        flex_flow_sid: Some(sid(SidPrefix::FLEX_FLOW, 1)),
        customer_address: Some(address.into()),
        long_lived: false,
        janitor_enabled: true,
        carried_provider_messages: Vec::new(),
    };
    let (mut channel, _) = ChannelLog::create(log, new, at(0)).unwrap().unwrap();
    execute(log, &mut channel, member(n, address), at(1));
    for i in 0..messages {
        let message = ChannelCommand::PostMessage(NewMessage {
            author: address.into(),
            body: format!("message {i} from {address}"),
            attributes: "{}".into(),
            media: None,
            source: MessageSource::Customer,
            provider_message_id: Some(format!("SM{n:02x}{i:030x}")),
        });
        execute(log, &mut channel, message, at(60 * (i64::from(i) + 1)));
    }
    channel_sid
}

fn member(n: u8, identity: &str) -> ChannelCommand {
    ChannelCommand::AddMember {
        member_sid: sid(SidPrefix::MEMBER, n),
        identity: identity.into(),
        role_sid: None,
        attributes: "{}".into(),
    }
}

pub fn execute(log: &EventLog, channel: &mut ChannelLog, command: ChannelCommand, when: Timestamp) {
    let done = channel.execute(log, command, when).unwrap().unwrap();
    if let Some(ticket) = done.ticket {
        log.wait_durable_blocking(ticket).unwrap();
    }
}

/// Opens a data folder's sled database directly, behind the log's back (to tamper with it),
/// waiting for sled to let go of a folder the same process just closed.
pub fn raw_sled(dir: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(error) if std::time::Instant::now() < deadline => {
                let _ = error;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("opening {}: {error}", dir.display()),
        }
    }
}

/// Copies a folder tree (sled data folders are a few files and a `blobs` folder).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The setting that lets the daemon's outbound calls reach private addresses (the fakes).
pub const OUTBOUND_ALLOW: &str = "SWITCHBOARD_OUTBOUND_ALLOW";

/// A running daemon on a free port of 127.0.0.1; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub base_url: String,
    stderr_lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Every line it printed on stdout so far (credentials made on first start, the address).
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `switchboard serve` and waits until it names its address. Unless the test chose
    /// its own, the outbound allow-list names 127.0.0.1, where the fakes of outside providers
    /// listen: the daemon refuses every other private or loopback address.
    pub fn start(command: Command) -> Daemon {
        Daemon::start_with(command, &[])
    }

    /// [`Daemon::start`] with more arguments of `serve` (flags that have no variable).
    pub fn start_with(mut command: Command, serve_args: &[&str]) -> Daemon {
        let allow = std::ffi::OsStr::new(OUTBOUND_ALLOW);
        if !command.get_envs().any(|(name, _)| name == allow) {
            command.env(OUTBOUND_ALLOW, "127.0.0.1");
        }
        let child = command
            .arg("serve")
            .args(serve_args)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("switchboard serve starts");
        Daemon::attach(child)
    }

    /// Waits until a started daemon (`serve`, or what runs it: its stdout and stderr piped)
    /// names its address, collecting what it prints.
    pub fn attach(mut child: Child) -> Daemon {
        let stdout = child.stdout.take().unwrap();
        let (url_tx, url_rx) = mpsc::channel();
        let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected = std::sync::Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("switchboard listening on ") {
                    let _ = url_tx.send(url.to_owned());
                }
                collected.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let stderr_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected_err = std::sync::Arc::clone(&stderr_lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                collected_err.lock().unwrap().push(line);
            }
        });
        let base_url = match url_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(100));
                let log = stderr_lines.lock().unwrap().join("\n");
                panic!("the daemon did not start:\n{log}");
            }
        };
        Daemon { child, base_url, stderr_lines, stdout: printed }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr_lines.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> (i32, String) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        let status = wait_timeout(&mut self.child, Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stderr())
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> i32 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`on_terminal`] does once the command started: given the child and its stdout.
pub type Until = dyn Fn(&mut Child, &mut dyn BufRead);

/// Runs `command` with its stderr on a pseudo-terminal, as a person at a terminal runs it:
/// returns its exit code, its stdout, and everything it wrote to the terminal. `until` is called
/// with the child once started and its stdout (a daemon must be told to stop): `None` waits for
/// the command to exit on its own.
pub fn on_terminal(command: &mut Command, until: Option<&Until>) -> (i32, String, String) {
    use std::io::Read;
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .expect("the switchboard binary runs");
    // The terminal's other end held by the command value goes, so reading ends when the child exits.
    drop(std::mem::replace(command, Command::new("true")));
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
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    if let Some(until) = until {
        until(&mut child, &mut stdout);
    }
    let mut printed = String::new();
    stdout.read_to_string(&mut printed).unwrap();
    let code = wait_timeout(&mut child, Duration::from_secs(60));
    (code, printed, reader.join().unwrap())
}

/// For [`on_terminal`]: waits for `serve` to name its address, then stops it with SIGTERM.
pub fn stop_once_listening(child: &mut Child, stdout: &mut dyn BufRead) {
    let started =
        stdout.lines().map_while(Result::ok).any(|l| l.starts_with("switchboard listening on "));
    assert!(started, "the daemon did not start");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
}

/// A self-signed certificate for `name` (a DNS name or an IP address) and its key, made by the
/// `openssl` command in `dir`: for the tests that serve or proxy TLS.
pub fn self_signed_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let alt = if name.parse::<std::net::IpAddr>().is_ok() { "IP" } else { "DNS" };
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName={alt}:{name}")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a test certificate");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (cert, key)
}

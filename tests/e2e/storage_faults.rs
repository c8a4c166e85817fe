//! The storage-fault suite: damage of every kind done to data folders as the daemon leaves them
//! (after a clean stop, after kill -9 in the middle of a burst, and after a later open made sled
//! write a snapshot of its page table). For every fault, on copies of the damaged folder:
//! `verify` exits non-zero, or `replay` prints exactly what it printed before the damage (less,
//! after a kill, only records whose flush was never acknowledged, which a crash may take too);
//! and `serve` refuses to start, or starts with every acknowledged message in its log. Never a
//! smaller log behind a zero exit. The counts are printed (`--nocapture`) for the docs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::api::{daemon_command, twilio_signature, AUTH_TOKEN, OUR_NUMBER};
use crate::support::{copy_dir, run, Daemon};

/// One master key for every folder here, so that swapping two folders' files is not caught by
/// the key's fingerprint alone.
const MASTER_KEY: &str = "c3dpdGNoYm9hcmQgc3RvcmFnZSBmYXVsdCBzdWl0ZSE=";

/// A folder as the daemon left it, and what must survive in it.
struct Original {
    _temp: tempfile::TempDir,
    data: PathBuf,
    /// `replay`'s output before any damage.
    replay: String,
    /// The bodies of the messages whose webhooks were answered 200.
    acknowledged: Vec<String>,
    /// Records in the log, and how many of them its durable record says were acknowledged: a
    /// kill can leave sled holding a flush whose acknowledgement never went out, and damage may
    /// take exactly those (as a crash may), never more.
    records: u64,
    acknowledged_records: u64,
}

fn command(data: &Path) -> Command {
    let mut command = daemon_command(data);
    command.env("SWITCHBOARD_MASTER_KEY", MASTER_KEY).env("SWITCHBOARD_LOG", "error");
    command
}

fn replay(data: &Path) -> crate::support::Run {
    run(command(data).arg("replay"))
}

/// Posts one signed SMS webhook; its body if it was answered 200.
fn sms(base: &str, from: &str, body: &str, message_sid: &str) -> Option<String> {
    let url = format!("{base}/webhooks/twilio");
    let params = [("From", from), ("To", OUR_NUMBER), ("Body", body), ("MessageSid", message_sid)];
    let signature = twilio_signature(AUTH_TOKEN, &url, &params);
    let answer = ureq::post(&url)
        .set("X-Twilio-Signature", &signature)
        .timeout(Duration::from_secs(5))
        .send_form(&params);
    matches!(answer, Ok(response) if response.status() == 200).then(|| body.to_owned())
}

/// What `replay` prints of the folder, run on a copy: an open changes a folder (recovery after
/// a crash, sled's snapshot), and the damage is to be done to the folder as the daemon left it.
fn replay_of_a_copy(data: &Path) -> String {
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(data, &scratch.path().join("data"));
    replay(&scratch.path().join("data")).assert_ok().stdout.clone()
}

fn finish(temp: tempfile::TempDir, data: PathBuf, acknowledged: Vec<String>) -> Original {
    let replay = replay_of_a_copy(&data);
    for body in &acknowledged {
        assert!(replay.contains(body.as_str()), "acknowledged {body:?} is in the original log");
    }
    let verify = run(command(&data).arg("verify"));
    let said = verify.assert_ok().stdout.clone();
    // "durable record: checkpoint N (M records) acknowledged; …"
    let acknowledged_records = said
        .split("durable record: checkpoint ")
        .nth(1)
        .and_then(|rest| rest.split(['(', ' ']).nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("verify names the acknowledged position:\n{said}"));
    let records = replay.lines().count() as u64;
    Original { _temp: temp, data, replay, acknowledged, records, acknowledged_records }
}

/// Whether `damaged` (a replay's output) is the original's with at most its unacknowledged
/// records missing: every line it prints is the original's, in the original's order, and no
/// more than the records past the acknowledged position are gone.
fn same_but_unacknowledged(original: &Original, damaged: &str) -> bool {
    let mut lines = original.replay.lines();
    let in_order = damaged.lines().all(|line| lines.any(|o| o == line));
    let missing = original.records.saturating_sub(damaged.lines().count() as u64);
    in_order && missing <= original.records - original.acknowledged_records
}

/// A few customers' messages, then SIGTERM: the folder of the report.
fn clean_stop() -> Original {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let daemon = Daemon::start(command(&data));
    daemon.sms_flow(false);
    let acknowledged: Vec<String> = (0..4)
        .map(|i| {
            let from = format!("+1415555{:04}", 100 + i);
            sms(&daemon.base_url, &from, &format!("clean {i}"), &format!("SM{i:032x}"))
                .expect("answered 200")
        })
        .collect();
    assert_eq!(daemon.terminate().0, 0);
    finish(temp, data, acknowledged)
}

/// Writers in parallel, and kill -9 once a score of webhooks were answered.
fn killed_mid_burst() -> Original {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut daemon = Daemon::start(command(&data));
    daemon.sms_flow(false);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let (acknowledged, stop) = (Arc::clone(&acknowledged), Arc::clone(&stop));
            let base = daemon.base_url.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let from = format!("+1415556{:04}", writer * 10 + i % 3);
                    let body = format!("burst {writer} {i}");
                    match sms(&base, &from, &body, &format!("SM{writer:04x}{i:028x}")) {
                        Some(body) => acknowledged.lock().unwrap().push(body),
                        None => break,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    writers.into_iter().for_each(|w| w.join().unwrap());
    drop(daemon);
    let acknowledged = acknowledged.lock().unwrap().clone();
    finish(temp, data, acknowledged)
}

/// A clean stop, then an open (a `replay`), which makes sled write a snapshot of its page
/// table: from then on sled reads most pages only when asked for them.
fn after_snapshot() -> Original {
    let original = clean_stop();
    // In place, this once: the open is what writes the snapshot.
    replay(&original.data).assert_ok();
    let snapshots = std::fs::read_dir(&original.data)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("snap."))
        .count();
    assert_eq!(snapshots, 1, "sled wrote its snapshot");
    original
}

/// One way to damage a folder.
#[derive(Debug, Clone)]
enum Fault {
    /// One byte xor 0x5A.
    Flip {
        file: String,
        offset: usize,
    },
    /// 4 KiB of zeros.
    ZeroPage {
        file: String,
        page: usize,
    },
    Truncate {
        file: String,
        len: usize,
    },
    Delete {
        file: String,
    },
    /// The same file of another folder in its place.
    Swap {
        file: String,
        from: PathBuf,
    },
}

impl Fault {
    fn apply(&self, data: &Path) {
        let path = |file: &str| data.join(file);
        match self {
            Fault::Flip { file, offset } => {
                let mut bytes = std::fs::read(path(file)).unwrap();
                bytes[*offset] ^= 0x5A;
                std::fs::write(path(file), bytes).unwrap();
            }
            Fault::ZeroPage { file, page } => {
                let mut bytes = std::fs::read(path(file)).unwrap();
                let end = (page + 1).saturating_mul(4096).min(bytes.len());
                bytes[page * 4096..end].fill(0);
                std::fs::write(path(file), bytes).unwrap();
            }
            Fault::Truncate { file, len } => {
                let handle = std::fs::OpenOptions::new().write(true).open(path(file)).unwrap();
                handle.set_len(*len as u64).unwrap();
            }
            Fault::Delete { file } => std::fs::remove_file(path(file)).unwrap(),
            Fault::Swap { file, from } => {
                std::fs::copy(from.join(file), path(file)).unwrap();
            }
        }
    }
}

/// The offsets of `bytes` that hold data: not inside a run of 64 or more zero bytes (sled's
/// unused segment space, the durable record's empty slots).
fn live_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut live = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let run = bytes[at..].iter().take_while(|&&b| b == 0).count();
        if run >= 64 {
            at += run;
        } else {
            live.extend(at..at + run.max(1));
            at += run.max(1);
        }
    }
    live
}

/// Every fault of the suite for `original`; `other` is a different folder, for swaps.
fn faults(original: &Original, other: &Path) -> Vec<Fault> {
    let mut faults = Vec::new();
    let mut files: Vec<String> = std::fs::read_dir(&original.data)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "master.key")
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(original.data.join(&file)).unwrap();
        let live = live_offsets(&bytes);
        for &offset in live.iter().skip(1).step_by(64) {
            faults.push(Fault::Flip { file: file.clone(), offset });
        }
        for page in 0..bytes.len().div_ceil(4096) {
            let end = ((page + 1) * 4096).min(bytes.len());
            if bytes[page * 4096..end].iter().any(|&b| b != 0) {
                faults.push(Fault::ZeroPage { file: file.clone(), page });
            }
        }
        let last_live = live.last().copied().unwrap_or(0);
        let mut cuts = vec![0, last_live / 4, last_live / 2, last_live * 3 / 4, last_live];
        cuts.dedup();
        for len in cuts.into_iter().filter(|&len| len < bytes.len()) {
            faults.push(Fault::Truncate { file: file.clone(), len });
        }
        faults.push(Fault::Delete { file: file.clone() });
        if other.join(&file).exists() {
            faults.push(Fault::Swap { file: file.clone(), from: other.to_owned() });
        }
    }
    faults
}

/// What one fault came to.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    tried: u64,
    /// `verify` exited non-zero.
    caught: u64,
    /// `verify` passed and the replayed content is byte-identical.
    harmless: u64,
    /// `serve` refused to start.
    refused: u64,
    /// `serve` started with every acknowledged message.
    started_whole: u64,
}

/// Runs `verify` and `serve` on copies of `original` with `fault` done; any broken promise is
/// returned as a problem.
fn check(original: &Original, fault: &Fault, tally: &mut Tally) -> Vec<String> {
    let mut problems = Vec::new();
    let scratch = tempfile::tempdir().unwrap();
    let damaged = |name: &str| {
        let data = scratch.path().join(name);
        copy_dir(&original.data, &data);
        fault.apply(&data);
        data
    };
    tally.tried += 1;
    let audit = damaged("audit");
    let verify = run(command(&audit).arg("verify"));
    if verify.code != 0 {
        tally.caught += 1;
    } else {
        let replayed = replay(&audit);
        if replayed.code == 0 && same_but_unacknowledged(original, &replayed.stdout) {
            tally.harmless += 1;
        } else {
            problems.push(format!(
                "{fault:?}: verify exit 0 but replay differs (exit {}, {} lines instead of {})\n{}",
                replayed.code,
                replayed.stdout.lines().count(),
                original.replay.lines().count(),
                verify.stdout
            ));
        }
    }
    let served = damaged("served");
    match serve_once(&served) {
        Err(_) => tally.refused += 1,
        Ok(()) => {
            let after = replay(&served);
            let lost: Vec<&String> = original
                .acknowledged
                .iter()
                .filter(|body| after.code != 0 || !after.stdout.contains(body.as_str()))
                .collect();
            let kept = after.stdout.lines().count() as u64;
            if lost.is_empty() && kept >= original.acknowledged_records {
                tally.started_whole += 1;
            } else {
                problems.push(format!(
                    "{fault:?}: serve started without {} acknowledged messages (replay exit {}: {})",
                    lost.len(),
                    after.code,
                    after.stderr.lines().last().unwrap_or_default()
                ));
            }
        }
    }
    problems
}

/// Starts `serve` on `data` and stops it cleanly once it listens; `Err` with its last words if
/// it refused to start.
fn serve_once(data: &Path) -> Result<(), String> {
    let mut child = command(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let listening =
        stdout.lines().map_while(Result::ok).any(|l| l.starts_with("switchboard listening"));
    if !listening {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "serve exited 0 without listening:\n{stderr}");
        return Err(stderr);
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve stopped with {status}");
    Ok(())
}

fn run_suite(name: &str, original: &Original, other: &Path) {
    let faults = faults(original, other);
    let problems = Mutex::new(Vec::new());
    let totals = Mutex::new(BTreeMap::<&'static str, Tally>::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(fault) = faults.get(i) else { break };
                let kind = match fault {
                    Fault::Flip { .. } => "flipped byte",
                    Fault::ZeroPage { .. } => "zeroed page",
                    Fault::Truncate { .. } => "truncated file",
                    Fault::Delete { .. } => "deleted file",
                    Fault::Swap { .. } => "swapped file",
                };
                let mut tally = Tally::default();
                let found = check(original, fault, &mut tally);
                problems.lock().unwrap().extend(found);
                let mut totals = totals.lock().unwrap();
                let total = totals.entry(kind).or_default();
                total.tried += tally.tried;
                total.caught += tally.caught;
                total.harmless += tally.harmless;
                total.refused += tally.refused;
                total.started_whole += tally.started_whole;
            });
        }
    });
    for (kind, t) in totals.lock().unwrap().iter() {
        println!(
            "{name}: {kind}: {} tried; verify: {} caught, {} harmless; serve: {} refused, {} \
             started with every acknowledged message",
            t.tried, t.caught, t.harmless, t.refused, t.started_whole
        );
    }
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{} broken promises:\n{}", problems.len(), problems.join("\n"));
    let caught: u64 = totals.lock().unwrap().values().map(|t| t.caught).sum();
    assert!(caught > 0, "{name}: damage that no check caught is not a test of anything");
}

#[test]
fn damage_to_a_cleanly_stopped_folder_never_passes_as_good() {
    let original = clean_stop();
    let other = killed_mid_burst();
    run_suite("clean stop", &original, &other.data);
}

#[test]
fn damage_to_a_folder_left_by_kill_9_never_passes_as_good() {
    let original = killed_mid_burst();
    let other = clean_stop();
    run_suite("kill -9 mid-burst", &original, &other.data);
}

#[test]
fn damage_after_a_sled_snapshot_never_passes_as_good() {
    let original = after_snapshot();
    let other = clean_stop();
    run_suite("after a snapshot", &original, &other.data);
}

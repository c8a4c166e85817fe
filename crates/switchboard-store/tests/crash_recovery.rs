//! Crash recovery, after sled's tests/test_crash_recovery.rs (`harness = false`): this binary runs
//! itself as a child (when `SWITCHBOARD_CRASH_CHILD=<dir>` is set) that appends to several
//! channels from several threads (some several appends at a time before waiting) and prints
//! `ack <channel> <seq>` for every append it has seen become durable; the parent kills it with
//! SIGKILL a random 50–400 ms after the first of them, then opens the folder and checks that
//! every acknowledged append is there with its content and index entry, that `verify` in full
//! mode is clean, that snapshot + tail equals a full replay, and that appends go on. Five rounds reuse one folder, and every other round the parent leaves it
//! without a clean close, so recovery also runs on folders that recovery already touched.
//! Prints `N passed, M failed` and exits non-zero on failure.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use support::channel_sid;
use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelEvent, ChannelState, IndexKind, Media, MessageSource, NewMessage,
    RecentProviderMessages, SidPrefix, Timestamp,
};
use switchboard_store::{
    verify_folder, ChannelLog, Durability, EventLog, StoreConfig, VerifyMode, VerifyOptions,
};

const CHILD: &str = "SWITCHBOARD_CRASH_CHILD";
const KEY: &str = "SWITCHBOARD_CRASH_KEY";
const THREADS: u32 = 4;
const CHANNELS_PER_THREAD: u32 = 2;
const ROUNDS: u32 = 5;

fn open(path: &str, key: MasterKey) -> EventLog {
    let mut config = StoreConfig::new(path);
    // The default: sled's flush and an fdatasync of its file before anything is acknowledged.
    config.durability = Durability::Fsync;
    config.snapshot_every = 7;
    EventLog::open(config, key).unwrap()
}

/// What the message appended at `seq` of channel `n` says: the parent checks it reads back.
fn body(n: u32, seq: u64) -> String {
    format!("channel {n} record {seq} {}", "x".repeat(150))
}

fn provider_id(n: u32, seq: u64) -> String {
    format!("SMcrash{n}x{seq}")
}

/// A reference to a medium: the message owns its index entry.
fn medium(n: u32, seq: u64) -> Media {
    Media {
        sid: support::sid(SidPrefix::MEDIA, n * 1_000_000 + u32::try_from(seq).unwrap()),
        content_type: "image/png".into(),
        size_bytes: 0,
        filename: None,
        provider_ref: None,
        fetch: false,
    }
}

fn post(n: u32, seq: u64) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        author: "customer".into(),
        body: body(n, seq),
        attributes: "{}".into(),
        media: Some(medium(n, seq)),
        source: MessageSource::Agent,
        provider_message_id: Some(provider_id(n, seq)),
    })
}

fn load_or_create(log: &EventLog, n: u32) -> ChannelLog {
    if log.next_seq(channel_sid(n)).unwrap() == 0 {
        let new = support::new_channel(n, &format!("+1415555{n:04}"));
        ChannelLog::create(log, new, Timestamp(0)).unwrap().unwrap().0
    } else {
        ChannelLog::load(log, channel_sid(n)).unwrap()
    }
}

/// Appends until killed, each thread to its own channels in turn, acknowledging each append
/// once it is durable.
fn child(path: &str, key: MasterKey) {
    let log = Arc::new(open(path, key));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let numbers: Vec<u32> =
                    (0..CHANNELS_PER_THREAD).map(|c| 1 + t * CHANNELS_PER_THREAD + c).collect();
                let mut channels: Vec<ChannelLog> =
                    numbers.iter().map(|n| load_or_create(&log, *n)).collect();
                // Odd threads append several times to a channel before waiting: heads reach
                // sled once per flush, so a kill can leave several unacknowledged appends of one
                // stream past its checkpoint.
                let burst = if t % 2 == 1 { 3 } else { 1 };
                for i in 0.. {
                    let k = i % channels.len();
                    let (n, channel) = (numbers[k], &mut channels[k]);
                    let mut seqs = Vec::new();
                    let mut ticket = None;
                    for _ in 0..burst {
                        let seq = channel.state().events_applied;
                        let at = Timestamp(1 + i64::try_from(seq).unwrap());
                        let done = channel.execute(&log, post(n, seq), at).unwrap().unwrap();
                        assert_eq!(done.first_seq, seq);
                        seqs.push(seq);
                        ticket = done.ticket;
                    }
                    log.wait_durable_blocking(ticket.unwrap()).unwrap();
                    let mut out = std::io::stdout().lock();
                    for seq in seqs {
                        writeln!(out, "ack {n} {seq}").unwrap();
                    }
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

/// Runs one child, kills it after a random time, and returns what it acknowledged.
fn run_child(path: &str, key: &MasterKey) -> Result<(Vec<(u32, u64)>, Duration), String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, path)
        .env(KEY, key.to_base64())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning the child: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The clock starts once the child has opened (and recovered) the folder.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) if line == "ready" => break,
            Ok(line) => return Err(format!("unexpected line before ready: {line}")),
            Err(_) if Instant::now() > deadline => {
                let _ = child.kill();
                return Err("the child never opened the folder".into());
            }
            Err(_) => {}
        }
    }
    // And again at the first acknowledgement: on a machine busy with other work the first append
    // can take longer than the shortest delay, and a round that acknowledged nothing checks
    // nothing.
    let first = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => break line,
            Err(_) if Instant::now() > deadline => {
                let _ = child.kill();
                return Err("the child acknowledged nothing in 10 s".into());
            }
            Err(_) => {}
        }
    };
    let delay = Duration::from_millis(rand::thread_rng().gen_range(50..=400));
    std::thread::sleep(delay);
    child.kill().map_err(|e| format!("killing the child: {e}"))?;
    let status = child.wait().unwrap();
    reader.join().unwrap();
    if status.success() {
        return Err("the child exited by itself".into());
    }
    let mut acked = Vec::new();
    for line in std::iter::once(first).chain(rx.try_iter()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        // The last line may be cut short by the kill: it acknowledges nothing.
        if let ["ack", n, seq] = parts[..] {
            acked.push((n.parse().unwrap(), seq.parse().unwrap()));
        }
    }
    Ok((acked, delay))
}

/// Checks the folder after a kill; returns the appends the parent made and acknowledged itself.
fn check(
    path: &str,
    key: &MasterKey,
    acked: &BTreeMap<u32, u64>,
    close_cleanly: bool,
) -> Result<Vec<(u32, u64)>, String> {
    // Read-only, before recovery: a folder a crash left is whole (records past the heads are
    // unacknowledged appends, not findings), and checking it changes none of its bytes.
    let before = support::folder_bytes(std::path::Path::new(path));
    let options = VerifyOptions { master: Some(key.clone()), ..VerifyOptions::default() };
    let folder = verify_folder(std::path::Path::new(path), &options, &mut |_| {})
        .map_err(|e| format!("verify of the crashed folder: {e}"))?;
    if !folder.report.is_clean() {
        return Err(format!(
            "verify of the crashed folder: {:?} {:?}",
            folder.report.folder, folder.report.findings
        ));
    }
    if support::folder_bytes(std::path::Path::new(path)) != before {
        return Err("verify changed the folder it checked".into());
    }
    let log = open(path, key.clone());
    for (&n, &last) in acked {
        let sid = channel_sid(n);
        let head = log.next_seq(sid).map_err(|e| e.to_string())?;
        if head <= last {
            return Err(format!("channel {n}: acknowledged up to {last}, head at {head}"));
        }
        // Every acknowledged record reads back with its content and its index entry.
        let events = support::events(&log, sid);
        for seq in 1..=last {
            match &events[usize::try_from(seq).unwrap()].event {
                ChannelEvent::MessageAdded { body: stored, index, .. }
                    if *stored == body(n, seq) && *index == seq - 1 => {}
                other => return Err(format!("channel {n} #{seq}: {other:?}")),
            }
            let found = log.lookup(IndexKind::Media, None, &medium(n, seq).sid.to_string());
            if found.map_err(|e| e.to_string())? != Some((sid, None)) {
                return Err(format!("channel {n} #{seq}: index entry lost"));
            }
        }
        let loaded = ChannelLog::load(&log, sid).map_err(|e| e.to_string())?;
        remembers_provider_ids(&loaded, n, last, head)?;
        if loaded.state() != &ChannelState::replay(&events) {
            return Err(format!("channel {n}: snapshot + tail differs from full replay"));
        }
    }
    let report = log.verify(VerifyMode::Full, &mut |_| {}).map_err(|e| e.to_string())?;
    if !report.is_clean() {
        return Err(format!("verify: {:?}", report.findings));
    }
    // Appends go on, on every channel.
    let mut made = Vec::new();
    for &n in acked.keys() {
        let mut channel = ChannelLog::load(&log, channel_sid(n)).map_err(|e| e.to_string())?;
        let seq = channel.state().events_applied;
        let done = channel.execute(&log, post(n, seq), Timestamp(0)).map_err(|e| e.to_string())?;
        let ticket = done.map_err(|e| e.to_string())?.ticket.unwrap();
        log.wait_durable_blocking(ticket).map_err(|e| e.to_string())?;
        made.push((n, seq));
    }
    if close_cleanly {
        log.close().map_err(|e| e.to_string())?;
    }
    Ok(made)
}

/// Whether channel `n`, loaded with its log's `head`, still knows the provider ids of its latest
/// acknowledged messages up to `last` (so a redelivery is refused). The memory keeps the newest
/// ids of what the log holds, and the kill may have come after appends past `last` were durable
/// but before they were acknowledged: those count towards the window too (a channel of a
/// bursting thread passes the capacity).
fn remembers_provider_ids(loaded: &ChannelLog, n: u32, last: u64, head: u64) -> Result<(), String> {
    let sid = channel_sid(n);
    let remembered = RecentProviderMessages::CAPACITY as u64;
    let newest = head - 1;
    for seq in newest.saturating_sub(remembered - 1).max(1)..=last {
        let found = loaded.state().provider_messages.find(&provider_id(n, seq));
        if found.map(|m| (m.channel_sid, m.index)) != Some((sid, seq - 1)) {
            return Err(format!("channel {n} #{seq}: provider id forgotten"));
        }
    }
    Ok(())
}

fn parent() -> ExitCode {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").display().to_string();
    let key = MasterKey::generate();
    // The highest acknowledged seq of each channel; records 1..=it must all be there.
    let mut acked: BTreeMap<u32, u64> = BTreeMap::new();
    let (mut passed, mut failed) = (0, 0);
    // Heads reach `H` only when the flusher folds their checkpoint (64 checkpoints later): the
    // kills must leave unfolded checkpoints for recovery to fold, or that path went untested.
    let mut unfolded = 0;
    for round in 1..=ROUNDS {
        let outcome = run_child(&path, &key).and_then(|(this_round, delay)| {
            if this_round.is_empty() {
                return Err(format!("no append acknowledged in {delay:?}"));
            }
            unfolded += support::unfolded_checkpoints(std::path::Path::new(&path));
            let count = this_round.len();
            for (n, seq) in this_round {
                let last = acked.entry(n).or_default();
                *last = (*last).max(seq);
            }
            let made = check(&path, &key, &acked, round % 2 == 0)?;
            for (n, seq) in made {
                acked.insert(n, seq);
            }
            Ok(format!("killed after {delay:?}, {count} acknowledged appends survived"))
        });
        match outcome {
            Ok(summary) => {
                passed += 1;
                println!("round {round}: ok, {summary}");
            }
            Err(problem) => {
                failed += 1;
                println!("round {round}: FAILED: {problem}");
                // The folder is in an unknown state: the later rounds would only repeat this.
                break;
            }
        }
    }
    let total: u64 = acked.values().sum();
    println!(
        "crash recovery: {total} records checked, {unfolded} unfolded checkpoints, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if unfolded == 0 {
        println!("FAILED: no kill left an unfolded checkpoint");
        failed += 1;
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed == ROUNDS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    match std::env::var(CHILD) {
        Ok(path) => {
            let key = MasterKey::from_base64(&std::env::var(KEY).unwrap()).unwrap();
            child(&path, key);
            ExitCode::SUCCESS
        }
        Err(_) => parent(),
    }
}

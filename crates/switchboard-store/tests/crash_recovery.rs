//! Crash recovery, after sled's own test: this binary runs itself as a child that appends to
//! several channels from several threads and prints every append it has seen become durable;
//! the parent kills it with SIGKILL at a random moment, then checks that every acknowledged
//! append is there, that every chain and tag verifies, and that appends go on. Several rounds
//! reuse one folder, so recovery of a recovered folder is exercised too.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use switchboard_crypto::MasterKey;
use switchboard_domain::{Recorded, SidPrefix, Timestamp};
use switchboard_store::{ChannelLog, Durability, EventLog, ReplayRecord, StoreConfig, VerifyMode};

const CHILD: &str = "SWITCHBOARD_CRASH_CHILD";
const KEY: &str = "SWITCHBOARD_CRASH_KEY";
const CHANNELS: u32 = 4;
const ROUNDS: u32 = 5;

fn open(path: &str, key: MasterKey) -> EventLog {
    let mut config = StoreConfig::new(path);
    config.durability = Durability::Flush;
    config.snapshot_every = 7;
    EventLog::open(config, key).unwrap()
}

fn child(path: &str, key: MasterKey) {
    let log = Arc::new(open(path, key));
    let threads: Vec<_> = (0..CHANNELS)
        .map(|n| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let sid = support::sid(SidPrefix::CHANNEL, n);
                let mut channel = if log.next_seq(sid).unwrap() == 0 {
                    ChannelLog::create(
                        &log,
                        support::new_channel(n, &format!("+1415555{n:04}")),
                        Timestamp(0),
                    )
                    .unwrap()
                    .unwrap()
                    .0
                } else {
                    ChannelLog::load(&log, sid).unwrap()
                };
                for i in 0.. {
                    let body = "x".repeat(200) + &i.to_string();
                    let done = channel
                        .execute(
                            &log,
                            support::message(i, "customer", &body),
                            Timestamp(i64::from(i)),
                        )
                        .unwrap()
                        .unwrap();
                    log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {n} {}", done.first_seq).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").display().to_string();
    let key = MasterKey::generate();
    let mut acked: Vec<(u32, u64)> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, &path)
            .env(KEY, key.to_base64())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut parts = line.split_whitespace().skip(1);
                let n: u32 = parts.next().unwrap().parse().unwrap();
                let seq: u64 = parts.next().unwrap().parse().unwrap();
                let _ = tx.send((n, seq));
            }
        });
        std::thread::sleep(Duration::from_millis(rand::thread_rng().gen_range(150..600)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let this_round: Vec<_> = rx.try_iter().collect();
        assert!(!this_round.is_empty(), "round {round}: the child acknowledged nothing");
        acked.extend(this_round);

        let log = open(&path, key.clone());
        for &(n, seq) in &acked {
            let sid = support::sid(SidPrefix::CHANNEL, n);
            let found = log.read::<Recorded>(sid, seq).next();
            assert!(
                matches!(found, Some(Ok(ReplayRecord::Event { seq: s, .. })) if s == seq),
                "round {round}: acknowledged append {n}#{seq} is missing"
            );
        }
        let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
        assert!(report.is_clean(), "round {round}: {:?}", report.findings);
        log.close().unwrap();
    }
    println!("crash recovery: {} acknowledged appends survived {ROUNDS} kills", acked.len());
    println!("{ROUNDS} passed, 0 failed");
}

fn main() {
    match std::env::var(CHILD) {
        Ok(path) => {
            let key = MasterKey::from_base64(&std::env::var(KEY).unwrap()).unwrap();
            child(&path, key);
        }
        Err(_) => parent(),
    }
}

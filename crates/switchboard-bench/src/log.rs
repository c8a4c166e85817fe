//! The event log's figures: durable appends at 1, 16 and 256 writers (fsync and flush), raw sled
//! group commit beside them, raw seal+encode, verify and replay rates, bytes on disk per message.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use switchboard_crypto::{DataKey, MasterKey};
use switchboard_domain::{
    ChannelCommand, ChannelEvent, ChannelKind, MessageSource, NewChannel, NewMessage, Recorded,
    Sid, SidPrefix, Timestamp,
};
use switchboard_store::{
    verify_raw, ChannelLog, Durability, EventLog, RawLog, ReplayFilter, StoreConfig, VerifyMode,
};

use crate::stats::{ms, rate, Run};

#[derive(Args)]
pub struct LogArgs {
    /// Seconds per append run.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Events in the log used for verify and replay.
    #[arg(long, default_value_t = 300_000)]
    events: u32,
    /// Where to put the scratch data folders (a folder on the disk under test).
    #[arg(long)]
    scratch: Option<std::path::PathBuf>,
}

const WRITERS: [usize; 3] = [1, 16, 256];
const BODY_BYTES: usize = 300;

pub fn run(args: &LogArgs) -> anyhow::Result<()> {
    let scratch = match &args.scratch {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let seconds = Duration::from_secs(args.seconds);
    println!("## Durable appends (300-byte messages, one channel per writer)\n");
    println!("| writers | switchboard fsync | p50 / p99 | switchboard flush | p50 / p99 | raw sled + fdatasync | raw sled flush | p50 / p99 (raw flush) |");
    println!("|---|---|---|---|---|---|---|---|");
    for writers in WRITERS {
        let fsync = appends(scratch.path(), writers, Durability::Fsync, seconds)?;
        let flush = appends(scratch.path(), writers, Durability::Flush, seconds)?;
        let raw_fsync = raw_group_commit(scratch.path(), writers, true, seconds)?;
        let raw_flush = raw_group_commit(scratch.path(), writers, false, seconds)?;
        println!(
            "| {writers} | {} | {} / {} | {} | {} / {} | {} | {} | {} / {} |",
            rate(fsync.per_second),
            ms(fsync.p50),
            ms(fsync.p99),
            rate(flush.per_second),
            ms(flush.p50),
            ms(flush.p99),
            rate(raw_fsync.per_second),
            rate(raw_flush.per_second),
            ms(raw_flush.p50),
            ms(raw_flush.p99),
        );
        if writers == 256 {
            println!();
            println!(
                "Ratio at 256 writers: fsync {:.0}% of raw sled + fdatasync; flush {:.0}% of raw sled flush (target ≥ 50%).\n",
                fsync.per_second / raw_fsync.per_second.max(1.0) * 100.0,
                flush.per_second / raw_flush.per_second.max(1.0) * 100.0
            );
        }
    }
    let raw = crypto_and_codec(100_000);
    println!("## Raw crypto and codec (one core, 100 000 MessageAdded events)\n");
    println!("| operation | events/s |\n|---|---|");
    println!("| rmp-serde encode + XChaCha20-Poly1305 seal | {} |", rate(raw.seal_per_second));
    println!("| XChaCha20-Poly1305 open + rmp-serde decode | {} |\n", rate(raw.open_per_second));
    audit(scratch.path(), args.events, raw.open_per_second)
}

fn message(n: u64) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        message_sid: sid(SidPrefix::MESSAGE, n),
        author: "+14155550100".into(),
        body: "x".repeat(BODY_BYTES),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Customer,
        provider_message_id: None,
    })
}

fn sid(prefix: SidPrefix, n: u64) -> Sid {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    Sid::from_parts(prefix, id)
}

fn new_channel(n: u64) -> NewChannel {
    NewChannel {
        channel_sid: sid(SidPrefix::CHANNEL, n),
        service_sid: sid(SidPrefix::SERVICE, 1),
        kind: ChannelKind::Private,
        friendly_name: None,
        unique_name: None,
        attributes: "{}".into(),
        created_by: "system".into(),
        flex_flow_sid: None,
        customer_address: None,
        long_lived: false,
        janitor_enabled: false,
    }
}

fn open(
    dir: &std::path::Path,
    durability: Durability,
    key: &MasterKey,
) -> anyhow::Result<EventLog> {
    let mut config = StoreConfig::new(dir);
    config.durability = durability;
    Ok(EventLog::open(config, key.clone())?)
}

/// Each writer owns a channel and appends one message at a time, waiting until it is durable.
fn appends(
    scratch: &std::path::Path,
    writers: usize,
    durability: Durability,
    seconds: Duration,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir_in(scratch)?;
    let log = Arc::new(open(dir.path(), durability, &MasterKey::generate())?);
    let deadline = Instant::now() + seconds;
    let started = Instant::now();
    let threads: Vec<_> = (0..writers as u64)
        .map(|w| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let (mut channel, _) =
                    ChannelLog::create(&log, new_channel(w), Timestamp(0)).unwrap().unwrap();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    let done =
                        channel.execute(&log, message(w << 32 | n), Timestamp(1)).unwrap().unwrap();
                    log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
                    latencies.push(begun.elapsed());
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let latencies: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    Ok(Run::from(latencies, started.elapsed()))
}

/// sled alone: insert a 300-byte value, then wait for a flush that started after the insert,
/// from one flusher thread woken on demand (the same group commit the log uses).
fn raw_group_commit(
    scratch: &std::path::Path,
    writers: usize,
    fsync: bool,
    seconds: Duration,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir_in(scratch)?;
    let db = sled::open(dir.path())?;
    let file = std::fs::File::open(dir.path().join("db"))?;
    // (started, completed, wanted, stop)
    let state = Arc::new((Mutex::new((0u64, 0u64, 0u64, false)), Condvar::new(), Condvar::new()));
    let flusher = {
        let (db, state) = (db.clone(), Arc::clone(&state));
        std::thread::spawn(move || loop {
            let generation = {
                let mut s = state.0.lock().unwrap();
                while s.2 <= s.1 && !s.3 {
                    s = state.1.wait(s).unwrap();
                }
                if s.3 {
                    break;
                }
                s.0 += 1;
                s.0
            };
            db.flush().unwrap();
            if fsync {
                file.sync_data().unwrap();
            }
            state.0.lock().unwrap().1 = generation;
            state.2.notify_all();
        })
    };
    let deadline = Instant::now() + seconds;
    let started = Instant::now();
    let threads: Vec<_> = (0..writers as u64)
        .map(|w| {
            let (db, state) = (db.clone(), Arc::clone(&state));
            std::thread::spawn(move || {
                let value = vec![7u8; BODY_BYTES + 8];
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    db.insert((w << 40 | n).to_be_bytes(), value.clone()).unwrap();
                    let mut s = state.0.lock().unwrap();
                    let wanted = s.0 + 1;
                    if s.2 < wanted {
                        s.2 = wanted;
                        state.1.notify_one();
                    }
                    while s.1 < wanted {
                        s = state.2.wait(s).unwrap();
                    }
                    drop(s);
                    latencies.push(begun.elapsed());
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let latencies: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let elapsed = started.elapsed();
    state.0.lock().unwrap().3 = true;
    state.1.notify_one();
    flusher.join().unwrap();
    Ok(Run::from(latencies, elapsed))
}

struct CryptoRates {
    seal_per_second: f64,
    open_per_second: f64,
}

fn crypto_and_codec(count: u32) -> CryptoRates {
    let sealer = DataKey::generate().sealer();
    let event = |i: u32| {
        Recorded::new(
            Timestamp(i64::from(i)),
            ChannelEvent::MessageAdded {
                message_sid: sid(SidPrefix::MESSAGE, u64::from(i)),
                index: u64::from(i),
                author: "+14155550100".into(),
                body: "x".repeat(BODY_BYTES),
                attributes: "{}".into(),
                media: None,
                source: MessageSource::Customer,
                provider_message_id: None,
            },
        )
    };
    let events: Vec<Recorded> = (0..count).map(event).collect();
    let started = Instant::now();
    let sealed: Vec<Vec<u8>> = events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            sealer.seal_into(b"aad", &rmp_serde::to_vec_named(e).unwrap(), &mut out);
            out
        })
        .collect();
    let seal_per_second = f64::from(count) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut check = 0u64;
    for bytes in &sealed {
        let plain = sealer.open(b"aad", bytes).unwrap();
        let back: Recorded = rmp_serde::from_slice(&plain).unwrap();
        check = check.wrapping_add(back.at.as_millis() as u64);
    }
    let open_per_second = f64::from(count) / started.elapsed().as_secs_f64();
    assert!(check > 0);
    CryptoRates { seal_per_second, open_per_second }
}

/// Builds a log of `events` messages over 1000 channels, then measures verify and replay.
fn audit(scratch: &std::path::Path, events: u32, raw_open_per_second: f64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(scratch)?;
    let channels = 1000u64;
    let per_channel = u64::from(events) / channels;
    let key = MasterKey::generate();
    {
        let log = open(dir.path(), Durability::Flush, &key)?;
        for c in 0..channels {
            let (mut channel, _) = ChannelLog::create(&log, new_channel(c), Timestamp(0))?
                .map_err(|r| anyhow::anyhow!(r))?;
            for n in 1..per_channel {
                channel
                    .execute(&log, message(c << 32 | n), Timestamp(1))?
                    .map_err(|r| anyhow::anyhow!(r))?;
            }
        }
        log.close()?;
    }
    let total = channels * per_channel;
    let bytes = folder_bytes(dir.path());
    // Opening (sled's own recovery) is not part of the rate.
    let raw = RawLog::open(dir.path())?;
    let started = Instant::now();
    let report = verify_raw(&raw, &mut |_| {})?;
    let integrity = report.records as f64 / started.elapsed().as_secs_f64();
    drop(raw);
    let log = open(dir.path(), Durability::Flush, &key)?;
    println!("## Audit over {total} events in {channels} channels\n");
    println!("| operation | records/s | note |\n|---|---|---|");
    println!(
        "| verify, integrity only (hashes, no keys) | {} | target ≥ 1 000 000/s |",
        rate(integrity)
    );
    let started = Instant::now();
    let full = log.verify(VerifyMode::Full, &mut |_| {})?;
    println!(
        "| verify, full (hashes + tags + decode) | {} | |",
        rate(full.records as f64 / started.elapsed().as_secs_f64())
    );
    let started = Instant::now();
    let replayed = log.replay(&ReplayFilter::default()).filter(Result::is_ok).count();
    let replay = replayed as f64 / started.elapsed().as_secs_f64();
    println!(
        "| replay (scan + open + decode) | {} | {:.0}% of raw open + decode (target ≥ 50%) |",
        rate(replay),
        replay / raw_open_per_second * 100.0
    );
    println!();
    println!(
        "On disk: {:.0} bytes per event ({} bytes for {total} events; payload {BODY_BYTES} bytes of body).",
        bytes as f64 / total as f64,
        bytes
    );
    Ok(())
}

fn folder_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        folder_bytes(&path)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

//! The event log's figures, each beside the raw limit it is judged against, in one run:
//!
//! 1. durable appends (`ChannelLog::execute` + `EventLog::wait_durable_blocking`) at 1, 16 and 256
//!    writers, one channel and one OS thread per writer, `Durability::Fsync` and `Flush`;
//! 2. (a) raw sled group commit with the same writers (insert a 300-byte value, wait for a flush
//!    that started after it; one flusher thread woken on demand), with and without `fdatasync`;
//!    (b) raw rmp-serde + XChaCha20-Poly1305 on one core;
//! 3. `verify_raw` (integrity, no keys) and `EventLog::verify(Full)` over a log of many channels;
//! 4. `EventLog::replay` beside a raw open + decode of the very same stored records (keys unwrapped
//!    here from the documented format, docs/event-format.md);
//! 5. bytes on disk per message.
//!
//! Nothing here asserts a speed: the figures are printed as Markdown for docs/BENCHMARKS.md.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use switchboard_crypto::{DataKey, MasterKey, Sealer, WrappedKey};
use switchboard_domain::{
    ChannelCommand, ChannelEvent, ChannelKind, MessageSource, NewChannel, NewMessage, Recorded,
    Sid, SidPrefix, Timestamp,
};
use switchboard_store::{
    encode_event, verify_raw, ChannelLog, Durability, EventLog, RawLog, ReplayFilter, ReplayRecord,
    StoreConfig, VerifyMode, RECORD_VERSION,
};

use crate::stats::{ms, rate, Run};

#[derive(Args)]
pub struct LogArgs {
    /// Seconds each append run is measured, after a warm-up of half a second.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Events in the log built for verify and replay.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Channels that log is spread over.
    #[arg(long, default_value_t = 1000)]
    channels: u64,
    /// Writer counts of the append runs.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 256])]
    writers: Vec<usize>,
    /// Rounds of the append runs at each writer count (each round runs ours and raw in turn);
    /// the targets are judged on the median of the rounds' ratios. Three by default: the first
    /// 256-writer run of a process is often much slower than the next (fresh memory being faulted
    /// in), and one round would report it.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Build the audit log channel by channel instead of round-robin over the channels.
    #[arg(long)]
    per_channel_build: bool,
    /// Run only one part (for profiling): appends, codec or audit.
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
    /// Folder on the disk under test for the scratch logs (a temporary folder is made inside it
    /// and removed at the end). Default: the system's temporary folder.
    #[arg(long, alias = "scratch")]
    data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    All,
    Appends,
    Codec,
    Audit,
}

const BODY_BYTES: usize = 300;
const WARM_UP: Duration = Duration::from_millis(500);
/// Events for the single-core crypto and codec figures.
const CODEC_EVENTS: u32 = 200_000;

pub fn run(args: &LogArgs) -> anyhow::Result<()> {
    let scratch = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempdir_in(dir)?
        }
        None => tempfile::tempdir()?,
    };
    let began = Instant::now();
    println!("# switchboard-bench log\n");
    println!("- machine: {} × {}", cpus(), cpu_model());
    println!("- load average before: {}", loadavg());
    println!("- scratch folder: {}", scratch.path().display());
    println!(
        "- writers are OS threads, one channel each; {} s measured per run after {} ms warm-up\n",
        args.seconds,
        WARM_UP.as_millis()
    );
    let seconds = Duration::from_secs(args.seconds);

    let wants = |part: Part| args.part == Part::All || args.part == part;
    let at_256 = if wants(Part::Appends) {
        appends_table(scratch.path(), &args.writers, args.rounds.max(1), seconds)?
    } else {
        Vec::new()
    };
    if wants(Part::Codec) {
        codec_table();
    }
    let audit = if wants(Part::Audit) {
        Some(audit(scratch.path(), args.events, args.channels, args.per_channel_build)?)
    } else {
        None
    };

    println!("## Against the targets\n");
    println!("| target | measured | ratio | met |\n|---|---|---|---|");
    if !at_256.is_empty() {
        let median_round = |ratio: fn(&AppendRuns) -> f64| {
            let mut rounds: Vec<&AppendRuns> = at_256.iter().collect();
            rounds.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
            rounds[rounds.len() / 2]
        };
        let rounds = match at_256.len() {
            1 => String::new(),
            n => format!(" (the median of {n} rounds)"),
        };
        let runs = median_round(|r| r.fsync.run.per_second / r.raw_fsync.run.per_second);
        target(
            &format!("256 writers, fsync{rounds}: ≥ 50 % of raw sled + fdatasync group commit"),
            &format!(
                "{} vs {}",
                rate(runs.fsync.run.per_second),
                rate(runs.raw_fsync.run.per_second)
            ),
            runs.fsync.run.per_second / runs.raw_fsync.run.per_second,
            0.5,
        );
        let runs = median_round(|r| r.flush.run.per_second / r.raw_flush.run.per_second);
        target(
            &format!("256 writers, flush{rounds}: ≥ 50 % of raw sled flush group commit"),
            &format!(
                "{} vs {}",
                rate(runs.flush.run.per_second),
                rate(runs.raw_flush.run.per_second)
            ),
            runs.flush.run.per_second / runs.raw_flush.run.per_second,
            0.5,
        );
    }
    if let Some(audit) = audit {
        for (pass, replay) in audit.replay.iter().enumerate() {
            target(
                &format!("replay (pass {}): ≥ 50 % of raw open + decode", pass + 1),
                &format!("{} vs {}", rate(*replay), rate(audit.raw_open)),
                replay / audit.raw_open,
                0.5,
            );
        }
        for (pass, integrity) in audit.integrity.iter().enumerate() {
            target(
                &format!("verify integrity (pass {}): ≥ 1 000 000 records/s", pass + 1),
                &rate(*integrity),
                integrity / 1e6,
                1.0,
            );
        }
    }
    println!();
    println!("- load average after: {}", loadavg());
    println!("- total time: {:.0} s", began.elapsed().as_secs_f64());
    Ok(())
}

/// The four runs at one writer count.
struct AppendRuns {
    fsync: Measured,
    raw_fsync: Measured,
    flush: Measured,
    raw_flush: Measured,
}

/// Items 1 and 2(a): durable appends beside raw sled group commit. Returns the runs at 256
/// writers of every round, when measured.
fn appends_table(
    scratch: &Path,
    writer_counts: &[usize],
    rounds: usize,
    seconds: Duration,
) -> anyhow::Result<Vec<AppendRuns>> {
    println!(
        "## Durable appends ({BODY_BYTES}-byte message bodies; raw: {RAW_VALUE}-byte values)\n"
    );
    println!(
        "| writers | what | durability | appends/s | p50 | p99 | flushes/s | CPU µs/append | \
         cores busy | vs raw, same durability |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut at_256 = Vec::new();
    for &writers in writer_counts.iter().flat_map(|w| std::iter::repeat_n(w, rounds)) {
        let row = |what: &str,
                   durability: &str,
                   m: &Measured,
                   flushes: Option<f64>,
                   raw: Option<&Measured>| {
            println!(
                "| {writers} | {what} | {durability} | {} | {} | {} | {} | {:.1} | {:.2} | {} |",
                rate(m.run.per_second),
                ms(m.run.p50),
                ms(m.run.p99),
                flushes.map_or("–".into(), |f| format!("{f:.0}")),
                m.cpu_per_op.as_secs_f64() * 1e6,
                m.cores,
                raw.map_or("–".into(), |raw| percent(m.run.per_second, raw.run.per_second)),
            );
        };
        // Interleaved, so that a change in the machine's state hits both sides alike.
        let fsync = appends(scratch, writers, Durability::Fsync, seconds)?;
        let (raw_fsync, raw_fsync_flushes) =
            raw_group_commit(scratch, writers, true, seconds, RawShape::Target)?;
        let flush = appends(scratch, writers, Durability::Flush, seconds)?;
        let (raw_flush, raw_flush_flushes) =
            raw_group_commit(scratch, writers, false, seconds, RawShape::Target)?;
        row("switchboard", "fsync", &fsync, None, Some(&raw_fsync));
        row("raw sled", "flush + fdatasync", &raw_fsync, Some(raw_fsync_flushes), None);
        row("switchboard", "flush", &flush, None, Some(&raw_flush));
        row("raw sled", "flush", &raw_flush, Some(raw_flush_flushes), None);
        if writers == 256 {
            let shape = RawShape::LogShape { value_len: stored_record_len() };
            let (shaped, shaped_flushes) =
                raw_group_commit(scratch, writers, true, seconds, shape)?;
            row(
                &format!("raw sled, the log's keys and {}-byte values", shape.value_len()),
                "flush + fdatasync",
                &shaped,
                Some(shaped_flushes),
                None,
            );
            println!(
                "| {writers} | switchboard vs the row above | fsync | | | | | | | {} |",
                percent(fsync.run.per_second, shaped.run.per_second)
            );
            at_256.push(AppendRuns { fsync, raw_fsync, flush, raw_flush });
        }
    }
    println!();
    Ok(at_256)
}

/// Item 2(b): raw crypto and codec on one core.
fn codec_table() {
    let codec = crypto_and_codec(CODEC_EVENTS);
    println!(
        "## Raw crypto and codec (one thread, {CODEC_EVENTS} `Recorded` MessageAdded events)\n"
    );
    println!(
        "MessagePack (positional, as the store writes it) of one event: {} bytes; sealed: {} bytes.\n",
        codec.plaintext_bytes, codec.sealed_bytes
    );
    println!("| operation | events/s | µs/event |\n|---|---|---|");
    for (what, per_second) in [
        ("rmp-serde encode + XChaCha20-Poly1305 seal", codec.seal_per_second),
        ("XChaCha20-Poly1305 open + rmp-serde decode", codec.open_per_second),
        ("encode + seal + open + decode (round trip)", codec.round_trip_per_second),
    ] {
        println!("| {what} | {} | {:.2} |", rate(per_second), 1e6 / per_second);
    }
    println!();
}

fn target(what: &str, measured: &str, ratio: f64, needed: f64) {
    let met = if ratio >= needed { "yes" } else { "**no**" };
    println!("| {what} | {measured} | {:.0} % | {met} |", ratio * 100.0);
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percent(part: f64, whole: f64) -> String {
    format!("{:.0} %", part / whole.max(f64::MIN_POSITIVE) * 100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "?".into(), |s| s.trim().to_owned())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

/// A message body of `BODY_BYTES` readable bytes.
fn body(n: u64) -> String {
    let mut text = format!("Message {n}: ");
    while text.len() < BODY_BYTES {
        text.push_str("Hello, I would like to know where my order is, it was due last week. ");
    }
    text.truncate(BODY_BYTES);
    text
}

fn message(n: u64) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        author: "+14155550100".into(),
        body: body(n),
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
        carried_provider_messages: Vec::new(),
    }
}

fn open(dir: &Path, durability: Durability, key: &MasterKey) -> anyhow::Result<EventLog> {
    let mut config = StoreConfig::new(dir);
    config.durability = durability;
    Ok(EventLog::open(config, key.clone())?)
}

/// What one writer thread saw in the measured window.
struct Samples {
    latencies: Vec<Duration>,
    last_done: Instant,
}

/// Runs `writers` threads, each calling `op(writer, n)` until the deadline, all starting together
/// after `prepare(writer)`. Only operations begun after the warm-up count.
fn measure<S: Send + 'static>(
    writers: usize,
    seconds: Duration,
    prepare: impl Fn(u64) -> S + Send + Sync + 'static,
    op: impl Fn(&mut S, u64) + Send + Sync + 'static,
) -> Measured {
    let barrier = Arc::new(Barrier::new(writers + 1));
    let (prepare, op) = (Arc::new(prepare), Arc::new(op));
    let start = Arc::new(Mutex::new(None::<Instant>));
    let threads: Vec<_> = (0..writers as u64)
        .map(|w| {
            let (barrier, prepare, op, start) =
                (Arc::clone(&barrier), Arc::clone(&prepare), Arc::clone(&op), Arc::clone(&start));
            std::thread::spawn(move || {
                let mut state = prepare(w);
                barrier.wait(); // everyone is ready
                barrier.wait(); // the start time is set
                let from = start.lock().unwrap().expect("set before the barrier opens");
                let (measured_from, deadline) = (from + WARM_UP, from + WARM_UP + seconds);
                let mut samples = Samples { latencies: Vec::new(), last_done: measured_from };
                let mut n = 0u64;
                loop {
                    let begun = Instant::now();
                    if begun >= deadline {
                        break;
                    }
                    op(&mut state, n);
                    n += 1;
                    if begun >= measured_from {
                        samples.last_done = Instant::now();
                        samples.latencies.push(samples.last_done - begun);
                    }
                }
                samples
            })
        })
        .collect();
    barrier.wait();
    let from = Instant::now();
    *start.lock().unwrap() = Some(from);
    barrier.wait();
    let measured_from = from + WARM_UP;
    std::thread::sleep(measured_from.saturating_duration_since(Instant::now()));
    let cpu_before = process_cpu();
    std::thread::sleep((measured_from + seconds).saturating_duration_since(Instant::now()));
    let cpu = process_cpu().saturating_sub(cpu_before);
    let samples: Vec<Samples> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let end = samples.iter().map(|s| s.last_done).max().unwrap_or(measured_from);
    let latencies: Vec<Duration> = samples.into_iter().flat_map(|s| s.latencies).collect();
    let ops = latencies.len().max(1) as u32;
    Measured {
        run: Run::from(latencies, end.saturating_duration_since(measured_from)),
        cpu_per_op: cpu / ops,
        cores: cpu.as_secs_f64() / seconds.as_secs_f64(),
    }
}

/// A run and what it cost this process in CPU (every thread: writers, flusher, sled's own).
struct Measured {
    run: Run,
    cpu_per_op: Duration,
    /// CPU time over wall time in the measured window: 2.0 is both cores of this machine.
    cores: f64,
}

/// User + system CPU time of this process so far, from /proc/self/stat (clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    });
    Duration::from_millis(ticks.unwrap_or(0) * 10)
}

/// Each writer owns a channel and appends one message at a time, waiting until it is durable.
fn appends(
    scratch: &Path,
    writers: usize,
    durability: Durability,
    seconds: Duration,
) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir_in(scratch)?;
    let log = Arc::new(open(dir.path(), durability, &MasterKey::generate())?);
    let prepare = {
        let log = Arc::clone(&log);
        move |w: u64| {
            let (channel, done) =
                ChannelLog::create(&log, new_channel(w), Timestamp(0)).unwrap().unwrap();
            log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
            (channel, w)
        }
    };
    let op = {
        let log = Arc::clone(&log);
        move |(channel, w): &mut (ChannelLog, u64), n: u64| {
            let done = channel
                .execute(&log, message(*w << 32 | n), Timestamp(1_000 + n as i64))
                .unwrap()
                .unwrap();
            log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
        }
    };
    let run = measure(writers, seconds, prepare, op);
    Arc::try_unwrap(log).map_err(|_| anyhow::anyhow!("log still shared"))?.close()?;
    Ok(run)
}

/// The raw values: a 300-byte body plus the 8 bytes of overhead the first measurements used
/// (docs/BENCHMARKS.md).
const RAW_VALUE: usize = BODY_BYTES + 8;

/// What the raw run writes. The target's raw limit is the first measurements': 8-byte keys, each
/// writer's in order, 308-byte values. `LogShape` writes what the log writes instead (a 27-byte `E ‖
/// stream ‖ seq` key per record, writers' streams spread over the key space as SIDs are, values
/// the size of a stored record), so the table shows how much of the gap is the record's layout
/// rather than the log's own work.
#[derive(Clone, Copy)]
enum RawShape {
    Target,
    LogShape { value_len: usize },
}

impl RawShape {
    fn value_len(self) -> usize {
        match self {
            RawShape::Target => RAW_VALUE,
            RawShape::LogShape { value_len } => value_len,
        }
    }

    /// The key of writer `writer`'s `n`th value, in a buffer and its length: built on the stack,
    /// so the raw run's hot path allocates no more than it did with 8-byte keys.
    fn key(self, writer: u64, n: u64) -> ([u8; 27], usize) {
        let mut key = [0u8; 27];
        match self {
            RawShape::Target => {
                key[..8].copy_from_slice(&(writer << 40 | n).to_be_bytes());
                (key, 8)
            }
            RawShape::LogShape { .. } => {
                // A multiplicative hash spreads the writers' streams like random SIDs.
                let stream = sid(SidPrefix::CHANNEL, writer.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                key[0] = b'E';
                key[1..19].copy_from_slice(&stream.to_bytes());
                key[19..].copy_from_slice(&n.to_be_bytes());
                (key, 27)
            }
        }
    }
}

/// The group-commit state of the raw run: like the store's flusher, without its error handling.
#[derive(Default)]
struct RawFlush {
    started: u64,
    completed: u64,
    wanted: u64,
    flushes: u64,
    stop: bool,
}

/// sled alone: insert a 300-byte value, then wait for a flush that started after the insert,
/// from one flusher thread woken on demand (the same group commit the log uses). With `fsync`
/// the flusher also `fdatasync`s sled's log file after each flush. Returns the run and the
/// flushes per second.
fn raw_group_commit(
    scratch: &Path,
    writers: usize,
    fsync: bool,
    seconds: Duration,
    shape: RawShape,
) -> anyhow::Result<(Measured, f64)> {
    let dir = tempfile::tempdir_in(scratch)?;
    let db = sled::open(dir.path())?;
    let file = std::fs::File::open(dir.path().join("db"))?;
    let state = Arc::new((Mutex::new(RawFlush::default()), Condvar::new(), Condvar::new()));
    let flusher = {
        let (db, state) = (db.clone(), Arc::clone(&state));
        std::thread::spawn(move || loop {
            let generation = {
                let mut s = state.0.lock().unwrap();
                while s.wanted <= s.completed && !s.stop {
                    s = state.1.wait(s).unwrap();
                }
                if s.stop {
                    break;
                }
                s.started += 1;
                s.started
            };
            db.flush().unwrap();
            if fsync {
                file.sync_data().unwrap();
            }
            let mut s = state.0.lock().unwrap();
            s.completed = generation;
            s.flushes += 1;
            drop(s);
            state.2.notify_all();
        })
    };
    let value = Arc::new(vec![0x5au8; shape.value_len()]);
    let op = {
        let (db, state) = (db.clone(), Arc::clone(&state));
        move |w: &mut u64, n: u64| {
            let (key, len) = shape.key(*w, n);
            db.insert(&key[..len], value.as_slice()).unwrap();
            let mut s = state.0.lock().unwrap();
            let wanted = s.started + 1;
            if s.wanted < wanted {
                s.wanted = wanted;
                state.1.notify_one();
            }
            while s.completed < wanted {
                s = state.2.wait(s).unwrap();
            }
        }
    };
    let flushes_before = Instant::now();
    let run = measure(writers, seconds, |w| w, op);
    let flushes = {
        let mut s = state.0.lock().unwrap();
        s.stop = true;
        s.flushes
    };
    let elapsed = flushes_before.elapsed();
    state.1.notify_one();
    flusher.join().unwrap();
    // Flushes over the whole run, warm-up included: a rate, not an exact count of the window.
    Ok((run, flushes as f64 / elapsed.as_secs_f64()))
}

struct CodecRates {
    plaintext_bytes: usize,
    sealed_bytes: usize,
    seal_per_second: f64,
    open_per_second: f64,
    round_trip_per_second: f64,
}

/// The associated data the store binds a record with (docs/event-format.md): its length, not its
/// value, matters for speed.
fn record_aad(stream: Sid, seq: u64, key_id: u32, prev_hash: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(96);
    aad.extend_from_slice(b"switchboard/record/v1");
    aad.extend_from_slice(&stream.to_bytes());
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.push(RECORD_VERSION);
    aad.extend_from_slice(prev_hash);
    aad
}

fn message_added(i: u32) -> Recorded {
    Recorded::new(
        Timestamp(i64::from(i)),
        ChannelEvent::MessageAdded {
            message_sid: sid(SidPrefix::MESSAGE, u64::from(i)),
            index: u64::from(i),
            author: "+14155550100".into(),
            body: body(u64::from(i)),
            attributes: "{}".into(),
            media: None,
            source: MessageSource::Customer,
            provider_message_id: None,
        },
    )
}

/// The bytes of one stored record of the append runs: the record header (version, key id, previous
/// hash: docs/event-format.md), nonce, sealed MessagePack, tag.
fn stored_record_len() -> usize {
    const HEADER: usize = 1 + 4 + 32;
    let plaintext = encode_event(&message_added(0)).map_or(0, |p| p.len());
    HEADER + switchboard_crypto::NONCE_LEN + plaintext + switchboard_crypto::TAG_LEN
}

fn crypto_and_codec(count: u32) -> CodecRates {
    let sealer = DataKey::generate().sealer();
    let stream = sid(SidPrefix::CHANNEL, 1);
    let aads: Vec<Vec<u8>> =
        (0..count).map(|i| record_aad(stream, u64::from(i), 1, &[0x11; 32])).collect();
    let events: Vec<Recorded> = (0..count).map(message_added).collect();
    let plaintext_bytes = encode_event(&events[0]).unwrap().len();

    let started = Instant::now();
    let sealed: Vec<Vec<u8>> = events
        .iter()
        .zip(&aads)
        .map(|(e, aad)| {
            let mut out = Vec::new();
            sealer.seal_into(aad, &encode_event(e).unwrap(), &mut out);
            out
        })
        .collect();
    let seal_per_second = f64::from(count) / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut check = 0u64;
    for (bytes, aad) in sealed.iter().zip(&aads) {
        let plain = sealer.open(aad, bytes).unwrap();
        let back: Recorded = rmp_serde::from_slice(&plain).unwrap();
        check = check.wrapping_add(back.at.0 as u64);
    }
    let open_per_second = f64::from(count) / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for (event, aad) in events.iter().zip(&aads) {
        let mut out = Vec::new();
        sealer.seal_into(aad, &encode_event(event).unwrap(), &mut out);
        let plain = sealer.open(aad, &out).unwrap();
        let back: Recorded = rmp_serde::from_slice(&plain).unwrap();
        check = check.wrapping_add(back.at.0 as u64);
    }
    let round_trip_per_second = f64::from(count) / started.elapsed().as_secs_f64();
    std::hint::black_box(check);
    CodecRates {
        plaintext_bytes,
        sealed_bytes: sealed[0].len(),
        seal_per_second,
        open_per_second,
        round_trip_per_second,
    }
}

/// Rates measured over the audit log.
struct Audit {
    /// `verify_raw`, records/s: first pass after opening, second pass.
    integrity: [f64; 2],
    /// Raw open + decode of the same records, one thread, events/s.
    raw_open: f64,
    /// `replay`, events/s: first pass after opening, second pass.
    replay: [f64; 2],
}

/// The record format this reader knows (docs/event-format.md).
const EVENT_PREFIX: u8 = b'E';
const KEY_PREFIX: u8 = b'K';
const RECORD_HEADER: usize = 1 + 4 + 32;

/// Builds a log of `events` records over `channels` channels (messages written round-robin over
/// the channels, `Durability::Flush`, one durable wait at the end), then measures verify, replay
/// and the raw open + decode of the same records, and the bytes on disk.
fn audit(
    scratch: &Path,
    events: u64,
    channels: u64,
    per_channel_build: bool,
) -> anyhow::Result<Audit> {
    let dir = tempfile::tempdir_in(scratch)?;
    let channels = channels.max(1);
    let per_channel = (events / channels).max(1);
    let total = channels * per_channel;
    let master = MasterKey::generate();
    let started = Instant::now();
    {
        let log = open(dir.path(), Durability::Flush, &master)?;
        let mut logs = Vec::new();
        for c in 0..channels {
            let (channel, _) = ChannelLog::create(&log, new_channel(c), Timestamp(0))?
                .map_err(|r| anyhow::anyhow!(r))?;
            logs.push(channel);
        }
        let order: Vec<(usize, u64)> = if per_channel_build {
            (0..logs.len()).flat_map(|c| (1..per_channel).map(move |n| (c, n))).collect()
        } else {
            (1..per_channel).flat_map(|n| (0..logs.len()).map(move |c| (c, n))).collect()
        };
        for (c, n) in order {
            logs[c]
                .execute(&log, message((c as u64) << 32 | n), Timestamp(n as i64))?
                .map_err(|r| anyhow::anyhow!(r))?;
        }
        log.flush()?;
        log.close()?;
    }
    let build = total as f64 / started.elapsed().as_secs_f64();
    let (apparent, allocated) = folder_bytes(dir.path());

    // Integrity, without keys; then the raw records for the raw decrypt + decode.
    let raw = RawLog::open(dir.path())?;
    let mut integrity = [0.0; 2];
    // CPU time per record, every thread of the process: unlike the rates, it hardly moves when
    // other work shares the machine.
    let mut integrity_cpu = [Duration::ZERO; 2];
    for (pass, cpu) in integrity.iter_mut().zip(&mut integrity_cpu) {
        let (started, cpu_before) = (Instant::now(), process_cpu());
        let report = verify_raw(&raw, &mut |_| {})?;
        *pass = report.records as f64 / started.elapsed().as_secs_f64();
        *cpu = process_cpu().saturating_sub(cpu_before) / report.records.max(1) as u32;
        anyhow::ensure!(report.is_clean() && report.records == total, "verify_raw: {report:?}");
    }
    let (started, cpu_before) = (Instant::now(), process_cpu());
    let records: Vec<(sled::IVec, sled::IVec)> =
        raw.tree().scan_prefix([EVENT_PREFIX]).collect::<Result<_, _>>()?;
    let scan = records.len() as f64 / started.elapsed().as_secs_f64();
    let scan_cpu = process_cpu().saturating_sub(cpu_before) / records.len().max(1) as u32;
    anyhow::ensure!(records.len() as u64 == total, "{} records, {total} expected", records.len());
    let record_bytes: usize = records.iter().map(|(_, v)| v.len()).sum();
    let sealers = unwrap_stream_keys(&raw, &master)?;
    drop(raw);
    let started = Instant::now();
    let decoded = raw_open_decode(&records, &sealers)?;
    let raw_open = decoded as f64 / started.elapsed().as_secs_f64();
    drop(records);

    // With keys: full verify and replay.
    let log = open(dir.path(), Durability::Flush, &master)?;
    let mut full = [0.0; 2];
    for pass in &mut full {
        let started = Instant::now();
        let report = log.verify(VerifyMode::Full, &mut |_| {})?;
        *pass = report.records as f64 / started.elapsed().as_secs_f64();
        anyhow::ensure!(report.is_clean() && report.records == total, "verify: {report:?}");
    }
    let mut replay = [0.0; 2];
    for pass in &mut replay {
        let started = Instant::now();
        let mut count = 0u64;
        for item in log.replay(&ReplayFilter::default()) {
            if let ReplayRecord::Event { event, .. } = item? {
                std::hint::black_box(&event);
                count += 1;
            }
        }
        *pass = count as f64 / started.elapsed().as_secs_f64();
        anyhow::ensure!(count == total, "replay yielded {count} events, {total} expected");
    }
    log.close()?;

    println!("## Audit log: {total} events in {channels} channels\n");
    println!(
        "Built with `Durability::Flush`, one thread, messages {}, one durable wait at the end: \
         {} appends (not durable one by one).\n",
        if per_channel_build { "channel by channel" } else { "round-robin over the channels" },
        rate(build)
    );
    println!("| operation | pass 1 (just opened) | pass 2 | note |\n|---|---|---|---|");
    println!(
        "| `verify_raw`, integrity only (no keys) | {} ({:.2} µs CPU) | {} ({:.2} µs CPU) | records/s (CPU per record); {} threads |",
        rate(integrity[0]),
        micros(integrity_cpu[0]),
        rate(integrity[1]),
        micros(integrity_cpu[1]),
        cpus().min(8)
    );
    println!(
        "| `verify`, full (also open + decode) | {} | {} | records/s; {} threads |",
        rate(full[0]),
        rate(full[1]),
        cpus().min(8)
    );
    println!(
        "| `replay`, all events | {} | {} | events/s; the reader one thread, records opened on every core, in order |",
        rate(replay[0]),
        rate(replay[1])
    );
    println!(
        "| raw sled scan of the `E` records alone (after the passes above) | {} ({:.2} µs CPU) | | records/s; one thread |",
        rate(scan),
        micros(scan_cpu)
    );
    println!(
        "| raw open + decode of the same records (in memory) | {} | | events/s; one thread; the replay target's base |",
        rate(raw_open)
    );
    println!();
    println!("On disk, after a flush and a clean close:\n");
    println!("| measure | bytes | per event |\n|---|---|---|");
    println!("| data folder, apparent size | {apparent} | {:.0} |", apparent as f64 / total as f64);
    println!(
        "| data folder, allocated blocks | {allocated} | {:.0} |",
        allocated as f64 / total as f64
    );
    println!(
        "| stored records (`E` values) | {record_bytes} | {:.0} |",
        record_bytes as f64 / total as f64
    );
    println!("| message body (payload) | | {BODY_BYTES} |");
    println!();
    Ok(Audit { integrity, raw_open, replay })
}

type Sealers = HashMap<([u8; Sid::BINARY_LEN], u32), Sealer>;

/// Every stream's data keys, unwrapped with the master key (docs/event-format.md: `K` ‖ stream ‖
/// key id → wrapped key, context stream ‖ key id).
fn unwrap_stream_keys(raw: &RawLog, master: &MasterKey) -> anyhow::Result<Sealers> {
    let mut sealers = HashMap::new();
    for entry in raw.tree().scan_prefix([KEY_PREFIX]) {
        let (key, value) = entry?;
        let stream: [u8; Sid::BINARY_LEN] = key[1..1 + Sid::BINARY_LEN].try_into()?;
        let key_id = u32::from_be_bytes(key[1 + Sid::BINARY_LEN..].try_into()?);
        let context = &key[1..];
        let data_key = WrappedKey::from_bytes(&value)?.unwrap(master, context)?;
        sealers.insert((stream, key_id), data_key.sealer());
    }
    Ok(sealers)
}

/// Opens and decodes stored records the shortest way: parse, build the associated data, open,
/// decode. The key of the previous record is reused while the stream does not change.
fn raw_open_decode(records: &[(sled::IVec, sled::IVec)], sealers: &Sealers) -> anyhow::Result<u64> {
    let mut current: Option<(([u8; Sid::BINARY_LEN], u32), &Sealer)> = None;
    let mut decoded = 0u64;
    let mut aad = Vec::with_capacity(96);
    for (key, value) in records {
        let stream: [u8; Sid::BINARY_LEN] = key[1..1 + Sid::BINARY_LEN].try_into()?;
        anyhow::ensure!(value.len() > RECORD_HEADER && value[0] == RECORD_VERSION, "bad record");
        let key_id = u32::from_be_bytes(value[1..5].try_into()?);
        let sealer = match current {
            Some((id, sealer)) if id == (stream, key_id) => sealer,
            _ => {
                let sealer = sealers
                    .get(&(stream, key_id))
                    .ok_or_else(|| anyhow::anyhow!("no key for a record"))?;
                current = Some(((stream, key_id), sealer));
                sealer
            }
        };
        aad.clear();
        aad.extend_from_slice(b"switchboard/record/v1");
        aad.extend_from_slice(&key[1..]); // stream ‖ seq
        aad.extend_from_slice(&value[1..5]); // key id
        aad.push(RECORD_VERSION);
        aad.extend_from_slice(&value[5..RECORD_HEADER]); // previous hash
        let plain = sealer.open(&aad, &value[RECORD_HEADER..])?;
        let event: Recorded = rmp_serde::from_slice(&plain)?;
        std::hint::black_box(&event);
        decoded += 1;
    }
    Ok(decoded)
}

/// Apparent size and allocated bytes of everything under `dir`.
fn folder_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else { return total };
    for entry in entries.filter_map(Result::ok) {
        let Ok(meta) = entry.metadata() else { continue };
        let (apparent, allocated) = if meta.is_dir() {
            folder_bytes(&entry.path())
        } else {
            (meta.len(), meta.blocks() * 512)
        };
        total.0 += apparent;
        total.1 += allocated;
    }
    total
}

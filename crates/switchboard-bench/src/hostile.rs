//! `switchboard-bench hostile`: how long `/healthz` and a signed webhook take, each on a
//! connection of its own, while tens of thousands of hostile connections hold stalled webhook
//! bodies (a head announcing 65 000 bytes, one byte of them, then nothing), from many addresses;
//! beside the same requests with no hostile load, the yardstick. The hostile connections are held
//! by child processes (`hostile-hold`), so that no process needs more descriptors than the hard
//! limit allows; each reconnects a while after the daemon cuts it, as a patient attacker would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

use crate::http::{account_auth, create_flow, daemon_binary, start_daemon_with, NUMBER, TOKEN};
use crate::stats::{ms, Run};

#[derive(Args)]
pub struct HostileArgs {
    /// Hostile connections held open at once.
    #[arg(long, default_value_t = 20_000)]
    connections: usize,
    /// Processes holding them.
    #[arg(long, default_value_t = 4)]
    processes: usize,
    /// Requests of each kind measured, with and without the hostile load.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Milliseconds a hostile connection waits, once cut, before connecting again.
    #[arg(long, default_value_t = 1000)]
    reconnect_ms: u64,
    /// The daemon's `max_connections` (default: its own default, 10 000).
    #[arg(long)]
    max_connections: Option<usize>,
    /// The `switchboard` binary (default: the one beside this tool).
    #[arg(long)]
    daemon: Option<PathBuf>,
}

/// For `hostile-hold`, run by `hostile` itself: holds `count` stalled connections to `port`.
#[derive(Args)]
pub struct HoldArgs {
    #[arg(long)]
    port: u16,
    #[arg(long)]
    count: usize,
    /// The first of the 127.0.0.x addresses this process connects from (100 connections each).
    #[arg(long)]
    first_address: usize,
    #[arg(long)]
    reconnect_ms: u64,
}

/// A webhook's head announcing a body it never sends, signed falsely, so the daemon reads it.
const STALLED: &[u8] =
    b"POST /webhooks/twilio HTTP/1.1\r\nHost: bench\r\nX-Twilio-Signature: forged\r\n\
    Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 65000\r\n\r\nB";

/// Hostile connections from one source address (well within its share, 1 000 by default).
const PER_ADDRESS: usize = 100;

/// What a request of each kind measured: its latencies, and how many were not answered 200.
struct Measured {
    health: (Run, usize),
    webhook: (Run, usize),
}

/// What the holders last reported: connections open, and connections the daemon ended.
#[derive(Default, Clone, Copy)]
struct Held {
    open: usize,
    ended: u64,
}

/// The daemon and the holders, stopped however the run ends.
struct Processes {
    daemon: Child,
    holders: Vec<Child>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.holders.iter_mut().chain([&mut self.daemon]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn run(args: &HostileArgs) -> anyhow::Result<()> {
    // The daemon inherits this process's limit: room for its ceiling (`max_connections` and a
    // tenth more) where the hard limit allows, or can be raised.
    let max = args.max_connections.unwrap_or(10_000);
    crate::realtime::enough_descriptors((max + max / 10) / 2 + 256)?;
    let binary = daemon_binary(&args.daemon)?;
    let dir = tempfile::tempdir()?;
    let max = args.max_connections.map(|max| max.to_string());
    let env: Vec<(&str, &str)> =
        max.iter().map(|max| ("SWITCHBOARD_MAX_CONNECTIONS", max.as_str())).collect();
    let (daemon, base) = start_daemon_with(&binary, &dir.path().join("data"), &env)?;
    let mut processes = Processes { daemon, holders: Vec::new() };
    create_flow(&base, "sms", NUMBER)?;
    let address: SocketAddr = base.trim_start_matches("http://").parse()?;
    let yardstick = measure(address, &base, args.requests, 0)?;
    let held = Arc::new(Mutex::new(vec![Held::default(); args.processes]));
    let started = Instant::now();
    for process in 0..args.processes {
        let count = args.connections / args.processes;
        let first_address = 2 + process * count.div_ceil(PER_ADDRESS);
        let holder = hold(address.port(), count, first_address, args.reconnect_ms)?;
        processes.holders.push(report_held(holder, process, &held)?);
    }
    // Until every holder has its connections (the daemon holds some, its queue others), or a
    // minute at most.
    let full = || held.lock().map(|h| h.iter().map(|h| h.open).sum::<usize>()).unwrap_or(0);
    while full() < args.connections && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let (open_before, shed_before) = (full(), counter(&base, SHED)?);
    let (turned_away_before, overflows_before) = (counter(&base, TURNED_AWAY)?, overflows());
    let descriptors = descriptors(processes.daemon.id());
    let loaded = measure(address, &base, args.requests, 1)?;
    let (open_after, shed_after) = (full(), counter(&base, SHED)?);
    let (turned_away_after, overflows_after) = (counter(&base, TURNED_AWAY)?, overflows());
    let ended: u64 = held.lock().map(|h| h.iter().map(|h| h.ended).sum()).unwrap_or(0);
    print_table(args, &yardstick, &loaded);
    println!(
        "\nHostile connections open (the holders' view): {open_before} before the measurement, \
         {open_after} after; {ended} ended by the daemon since they started ({:.0} s). The \
         daemon held {descriptors} descriptors at the start of the measurement and, during it, \
         shed {} stalled bodies and turned {} connections away (its lobby full); the kernel \
         dropped {} connections for a full listen queue (TcpExtListenOverflows, the whole \
         machine).",
        started.elapsed().as_secs_f64(),
        shed_after.saturating_sub(shed_before),
        turned_away_after.saturating_sub(turned_away_before),
        overflows_after.zip(overflows_before).map_or("?".to_owned(), |(a, b)| (a - b).to_string()),
    );
    drop(processes);
    Ok(())
}

/// Starts one holder process.
fn hold(port: u16, count: usize, first_address: usize, reconnect_ms: u64) -> anyhow::Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(["hostile-hold", "--port", &port.to_string(), "--count", &count.to_string()])
        .args(["--first-address", &first_address.to_string()])
        .args(["--reconnect-ms", &reconnect_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()?)
}

/// Reads a holder's reports (`open N ended M`, a line a second) into `held[index]`.
fn report_held(
    mut holder: Child,
    index: usize,
    held: &Arc<Mutex<Vec<Held>>>,
) -> anyhow::Result<Child> {
    let stdout = holder.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let held = Arc::clone(held);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut numbers = line.split_whitespace().filter_map(|word| word.parse::<u64>().ok());
            if let (Some(open), Some(ended)) = (numbers.next(), numbers.next()) {
                if let Ok(mut held) = held.lock() {
                    held[index] = Held { open: usize::try_from(open).unwrap_or(0), ended };
                }
            }
        }
    });
    Ok(holder)
}

/// `requests` of each kind, one after the other, each on a new connection.
fn measure(
    address: SocketAddr,
    base: &str,
    requests: usize,
    round: usize,
) -> anyhow::Result<Measured> {
    let health = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".to_vec();
    let health = timed(address, requests, |_| health.clone());
    let url = format!("{base}/webhooks/twilio");
    let webhook = timed(address, requests, |i| signed_webhook(&url, round * requests + i));
    Ok(Measured { health, webhook })
}

/// A signed inbound SMS, the `n`th of the run (its own customer and `MessageSid`).
fn signed_webhook(url: &str, n: usize) -> Vec<u8> {
    let from = format!("+1415{n:07}");
    let sid = format!("SM{n:032x}");
    let params = [("From", from.as_str()), ("To", NUMBER), ("Body", "hello"), ("MessageSid", &sid)];
    let owned: Vec<(String, String)> =
        params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let signature = switchboard_crypto::webhook::compute(TOKEN, url, &owned);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    format!(
        "POST /webhooks/twilio HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `count` requests (`request(i)`), each on a new connection, from connecting to the
/// answer's end; their latencies, and how many were not answered 200 within a minute (each
/// told on stderr).
fn timed(address: SocketAddr, count: usize, request: impl Fn(usize) -> Vec<u8>) -> (Run, usize) {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    let mut failed = 0;
    for i in 0..count {
        let bytes = request(i);
        let sent = Instant::now();
        match exchange(address, &bytes) {
            Ok(answer) if answer.starts_with(b"HTTP/1.1 200") => latencies.push(sent.elapsed()),
            Ok(answer) => {
                let head = String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned();
                eprintln!("not answered 200 after {}: {head:?}", ms(sent.elapsed()));
                failed += 1;
            }
            Err(error) => {
                eprintln!("no answer after {}: {error}", ms(sent.elapsed()));
                failed += 1;
            }
        }
    }
    (Run::from(latencies, started.elapsed()), failed)
}

fn exchange(address: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let limit = Duration::from_secs(60);
    let mut stream = TcpStream::connect_timeout(&address, limit)?;
    stream.set_read_timeout(Some(limit))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}

const SHED: &str = "switchboard_connections_shed_total";
/// Zero, and absent from daemons before the lobby.
const TURNED_AWAY: &str = "switchboard_connections_turned_away_total";

/// A counter of the daemon (0 when it has none of that name).
fn counter(base: &str, name: &str) -> anyhow::Result<u64> {
    let text = ureq::get(&format!("{base}/metrics"))
        .set("Authorization", &account_auth())
        .timeout(Duration::from_secs(60))
        .call()?
        .into_string()?;
    let line =
        text.lines().find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ')));
    Ok(line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or(0.0) as u64)
}

/// The kernel's count of connections dropped because a listen queue was full
/// (`TcpExtListenOverflows` in /proc/net/netstat), for the whole machine.
fn overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn print_table(args: &HostileArgs, yardstick: &Measured, loaded: &Measured) {
    println!("| hostile connections | request | answered | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    let hostile = args.connections.to_string();
    for (load, measured) in [("none (yardstick)", yardstick), (hostile.as_str(), loaded)] {
        for (kind, (run, failed)) in
            [("`/healthz`", &measured.health), ("signed webhook", &measured.webhook)]
        {
            println!(
                "| {load} | {kind} | {} of {} | {} | {} | {} |",
                run.count,
                run.count + failed,
                ms(run.p50),
                ms(run.p99),
                ms(run.max)
            );
        }
    }
}

/// `hostile-hold`: holds `count` stalled connections, reconnecting each a while after the daemon
/// ends it; prints `open N ended M` every second.
pub fn hold_connections(args: &HoldArgs) -> anyhow::Result<()> {
    crate::realtime::enough_descriptors(args.count / 2 + 64)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let target = SocketAddr::from(([127, 0, 0, 1], args.port));
    let pause = Duration::from_millis(args.reconnect_ms);
    runtime.block_on(async move {
        let counts = std::rc::Rc::new(std::cell::Cell::new((0usize, 0u64)));
        let local = tokio::task::LocalSet::new();
        for n in 0..args.count {
            let octet = u8::try_from(args.first_address + n / PER_ADDRESS).unwrap_or(u8::MAX);
            let from = SocketAddr::from(([127, 0, 0, octet], 0));
            local.spawn_local(hold_one(from, target, pause, std::rc::Rc::clone(&counts)));
        }
        local
            .run_until(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let (open, ended) = counts.get();
                    println!("open {open} ended {ended}");
                }
            })
            .await
    })
}

/// One hostile connection, again and again.
async fn hold_one(
    from: SocketAddr,
    target: SocketAddr,
    pause: Duration,
    counts: std::rc::Rc<std::cell::Cell<(usize, u64)>>,
) {
    loop {
        if let Ok(stream) = connect_stalled(from, target).await {
            let (open, ended) = counts.get();
            counts.set((open + 1, ended));
            wait_until_closed(&stream).await;
            let (open, ended) = counts.get();
            counts.set((open - 1, ended + 1));
        }
        tokio::time::sleep(pause).await;
    }
}

async fn connect_stalled(
    from: SocketAddr,
    target: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(from)?;
    let stream = socket.connect(target).await?;
    let mut rest = STALLED;
    while !rest.is_empty() {
        stream.writable().await?;
        match stream.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(stream)
}

/// Reads (the 408) until the daemon closes the connection.
async fn wait_until_closed(stream: &tokio::net::TcpStream) {
    let mut buffer = [0u8; 512];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

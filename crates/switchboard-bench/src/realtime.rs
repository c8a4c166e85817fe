//! Figures of the daemon beyond ingestion. `realtime`: WebSockets under pressure (issue 28): a
//! client action to its `ack` beside a ping to its pong on the same socket; the delay from a
//! webhook to the member's frame at a steady rate, alone and with many other sockets connected
//! (most idle, some active customers the stream is spread over, each reading its own channel);
//! resident memory while sockets that never read are streamed to, beside the same stream without
//! them; and how long SIGTERM takes with all those sockets still open. `memory`: resident memory
//! per channel, live and hibernated, with many channels.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use clap::Args;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;

use crate::http::{setup_flow, start_daemon_with, ACCOUNT, NUMBER, TOKEN};
use crate::stats::{ms, rate, Run};

#[derive(Args)]
pub struct RealtimeArgs {
    /// Messages per second sent through webhooks.
    #[arg(long, default_value_t = 1000)]
    per_second: u64,
    /// Length of each stream of webhooks.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Client actions (and pings) sent one after the other.
    #[arg(long, default_value_t = 500)]
    actions: u64,
    /// Idle authenticated sockets connected beside the member's during the second stream.
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Active customers beside the idle sockets, each reading on its own socket in a channel of
    /// its own, the crowded stream spread over their channels and the member's. Default: 1 % of
    /// `--sockets`, the "most idle, 1 % active".
    #[arg(long)]
    active: Option<usize>,
    /// Sockets of the member that never read, with a 4 KiB receive buffer, during the last stream.
    #[arg(long, default_value_t = 100)]
    slow_readers: usize,
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct MemoryArgs {
    /// Channels to open (one customer each).
    #[arg(long, default_value_t = 100_000)]
    channels: usize,
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
    /// Then stop the daemon cleanly, start it again on the same folder and measure it once
    /// started: memory with nothing live and nothing the allocator kept from the load.
    #[arg(long)]
    reopen: bool,
}

const API_KEY: &str = "SK0123456789abcdef0123456789abcdef";
const CUSTOMER: &str = "+14155550999";

/// A customer writing in by SMS, and their socket, a member of the channel their first message
/// opened.
struct Customer {
    number: String,
    socket: Socket,
    channel: String,
}

pub(crate) type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

pub fn run_latency(args: &RealtimeArgs) -> anyhow::Result<()> {
    let active = args.active.unwrap_or(args.sockets / 100);
    enough_descriptors(args.sockets + active + args.slow_readers)?;
    let scratch = tempfile::tempdir()?;
    let (daemon, base) = start_daemon_with(
        &crate::http::daemon_binary(&args.binary)?,
        &scratch.path().join("data"),
        &[],
    )?;
    let mut daemon = Stopped(daemon);
    setup_flow(&base)?;
    let pid = daemon.0.id();
    let mut customers = vec![customer(&base, CUSTOMER, 0)?];
    let channel = customers[0].channel.clone();
    let mut second = connect(&base, CUSTOMER, None)?;

    let (acks, pongs) = actions(&mut second, &channel, args.actions)?;
    println!("## Client actions, {} one after the other on one socket\n", args.actions);
    print_round_trips([
        ("`message` → `ack` (durable)", acks),
        ("yardstick: `ping` → `pong`", pongs),
    ]);

    println!(
        "\n## Webhook to member frame, {} messages/s for {} s\n",
        args.per_second, args.seconds
    );
    println!("| sockets connected | frames received | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|");
    let alone = stream(&base, &mut customers, args, 0, "")?;
    print_stream_row("the member's only", &alone);
    let rss_before_idle = rss_kib(pid)?;
    let started = Instant::now();
    let mut idle = Vec::with_capacity(args.sockets);
    for n in 0..args.sockets {
        idle.push(connect_from(&base, &format!("idle.{n}"), None, Some(spread_source(n)))?);
    }
    let accept = args.sockets as f64 / started.elapsed().as_secs_f64();
    // Settled: the handshakes' buffers are freed, and each socket has sent `ready`.
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = rss_kib(pid)?.saturating_sub(rss_before_idle);
    for n in 1..=active {
        customers.push(customer(&base, &format!("+1415557{n:04}"), n)?);
    }
    crowded(&base, &mut customers, &mut second, &channel, args, idle.len())?;
    println!(
        "\n{} authenticated sockets connected one after the other at {}; RSS +{} ({:.1} KiB \
         each).",
        args.sockets,
        rate(accept),
        mib(idle_kib),
        idle_kib as f64 / args.sockets.max(1) as f64
    );
    let mut member = customers.swap_remove(0);
    drop(customers);
    let member = std::slice::from_mut(&mut member);

    // 1.5 KB bodies (Twilio's limit is 1 600 characters), so that the backlog is real bytes.
    let padding = " ".repeat(1500);
    let yardstick = memory_during(pid, || stream(&base, member, args, 2, &padding))?;
    let rss_before_slow = rss_kib(pid)?;
    let mut slow = Vec::with_capacity(args.slow_readers);
    for _ in 0..args.slow_readers {
        slow.push(connect(&base, CUSTOMER, Some(4096))?);
    }
    let with_slow = memory_during(pid, || stream(&base, member, args, 3, &padding))?;
    println!(
        "\n## Resident memory, {} messages/s of 1.5 KB for {} s\n",
        args.per_second, args.seconds
    );
    println!("| stream | RSS at start | highest | at end |\n|---|---|---|---|");
    println!(
        "| yardstick: the member's socket only | {} | {} | {} |",
        mib(yardstick.0),
        mib(yardstick.1),
        mib(yardstick.2)
    );
    println!(
        "| and {} sockets of the member that never read (connected at {}) | {} | {} | {} |",
        args.slow_readers,
        mib(rss_before_slow),
        mib(with_slow.0),
        mib(with_slow.1),
        mib(with_slow.2)
    );

    // Half the slow readers now read what reached them: the close (1013) comes after it. The
    // other half stay stuck through the stop.
    let checked = args.slow_readers / 2;
    let closed_slow = slow[..checked].iter_mut().map(closed_too_slow).filter(|c| *c).count();
    let stopping = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid)?),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let status = daemon.0.wait()?;
    let stopped = stopping.elapsed();
    println!(
        "\n{closed_slow} of {checked} slow readers that then read had been closed with 1013. \
         SIGTERM with {} sockets open ({} idle, {} that never read): {} after {:.2} s.",
        args.sockets + args.slow_readers - checked + 2,
        args.sockets,
        args.slow_readers - checked,
        status,
        stopped.as_secs_f64()
    );
    Ok(())
}

/// The daemon, killed if this tool stops early (a failed connection, say).
pub(crate) struct Stopped(pub(crate) std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Room for `sockets` connections here and in the daemon, which inherits the limit (one descriptor
/// a socket in each): the hard limit is raised where the system lets this process (as root), and
/// the soft limit to it.
pub(crate) fn enough_descriptors(sockets: usize) -> anyhow::Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let needed = sockets as u64 + 1024;
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let hard = if hard < needed && setrlimit(Resource::RLIMIT_NOFILE, needed, needed).is_ok() {
        needed
    } else {
        hard
    };
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    if hard < needed {
        eprintln!("open files are limited to {hard}: {sockets} sockets need about {needed}");
    }
    Ok(())
}

fn print_round_trips(rows: [(&str, Run); 2]) {
    println!("| round trip | p50 | p90 | p99 | max |\n|---|---|---|---|---|");
    for (name, run) in rows {
        let (p50, p90, p99, max) = (ms(run.p50), ms(run.p90), ms(run.p99), ms(run.max));
        println!("| {name} | {p50} | {p90} | {p99} | {max} |");
    }
}

fn print_stream_row(sockets: &str, (received, total, run): &(usize, u64, Run)) {
    println!(
        "| {sockets} | {received} of {total} | {} | {} | {} | {} |",
        ms(run.p50),
        ms(run.p90),
        ms(run.p99),
        ms(run.max)
    );
}

/// A WebSocket for `identity` with a token in the query, `TCP_NODELAY` as browsers set it, and
/// optionally a receive buffer of `window` bytes set before connecting.
pub(crate) fn connect(base: &str, identity: &str, window: Option<usize>) -> anyhow::Result<Socket> {
    connect_from(base, identity, window, None)
}

/// The same, from `source` (an address of loopback's, the kernel choosing the port) if given.
pub(crate) fn connect_from(
    base: &str,
    identity: &str,
    window: Option<usize>,
    source: Option<std::net::Ipv4Addr>,
) -> anyhow::Result<Socket> {
    let now_secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let token = switchboard_http::twilio::token::mint(
        ACCOUNT, API_KEY, "bench", identity, None, 3600, now_secs,
    );
    let address = base.trim_start_matches("http://");
    let url = format!("ws://{address}/ws?token={token}");
    let stream = tcp_connect(address.parse()?, window, source)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (socket, _) = tungstenite::client(url, MaybeTlsStream::Plain(stream))
        .map_err(|e| anyhow::anyhow!("WebSocket handshake: {e}"))?;
    Ok(socket)
}

/// One of eight loopback addresses (127.0.0.2–9) for the `n`th of many sockets. From one source
/// address, Linux's `connect` takes even ports first and then searches the range for a free one,
/// so past about 14 000 sockets (half of the default 28 232 ports) every connect pays a search:
/// this tool's accept rate fell off a cliff there, the daemon's did not.
fn spread_source(n: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 0, 2 + (n % 8) as u8)
}

/// A TCP connection to `target`, its receive buffer `window` bytes if given (set before
/// connecting, so the window stays that small), from `source` if given.
fn tcp_connect(
    target: std::net::SocketAddrV4,
    window: Option<usize>,
    source: Option<std::net::Ipv4Addr>,
) -> anyhow::Result<TcpStream> {
    use nix::sys::socket::{
        bind, connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    if let Some(bytes) = window {
        setsockopt(&fd, sockopt::RcvBuf, &bytes)?;
    }
    if let Some(source) = source {
        // The port is chosen at `connect`, for the whole four-tuple, not reserved at `bind`.
        setsockopt(&fd, sockopt::IpBindAddressNoPort, &true)?;
        bind(raw, &SockaddrIn::from(std::net::SocketAddrV4::new(source, 0)))?;
    }
    connect(raw, &SockaddrIn::from(target))?;
    Ok(TcpStream::from(fd))
}

/// `number`'s socket, and the channel its first webhook opened, from its frames. The webhook's
/// SID (`SMff…{n}`) is of no round of [`stream`]'s (`SM{round}…`), so none is taken for a redelivery.
fn customer(base: &str, number: &str, n: usize) -> anyhow::Result<Customer> {
    let mut socket = connect(base, number, None)?;
    let agent = ureq::AgentBuilder::new().build();
    let url = format!("{base}/webhooks/twilio");
    post_webhook(&agent, &url, number, "hello", &format!("SMff{n:030x}"))?;
    loop {
        let frame = read_json(&mut socket)?;
        if frame["type"] == "message_added" {
            let channel = frame["channel_sid"].as_str().unwrap_or_default().to_owned();
            return Ok(Customer { number: number.to_owned(), socket, channel });
        }
    }
}

fn post_webhook(
    agent: &ureq::Agent,
    url: &str,
    from: &str,
    body: &str,
    sid: &str,
) -> anyhow::Result<()> {
    let params = vec![
        ("From".to_owned(), from.to_owned()),
        ("To".to_owned(), NUMBER.to_owned()),
        ("Body".to_owned(), body.to_owned()),
        ("MessageSid".to_owned(), sid.to_owned()),
    ];
    let signature = switchboard_crypto::webhook::compute(TOKEN, url, &params);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    agent.post(url).set("X-Twilio-Signature", &signature).send_form(&pairs)?;
    Ok(())
}

pub(crate) fn read_json(socket: &mut Socket) -> anyhow::Result<serde_json::Value> {
    loop {
        if let tungstenite::Message::Text(text) = socket.read()? {
            return Ok(serde_json::from_str(&text)?);
        }
    }
}

/// `count` message actions, each sent once the last was acknowledged, then `count` pings:
/// (send → ack, ping → pong).
fn actions(member: &mut Socket, channel: &str, count: u64) -> anyhow::Result<(Run, Run)> {
    let mut round_trip = |frame: serde_json::Value, answer: &str| -> anyhow::Result<Duration> {
        let sent = Instant::now();
        member.send(tungstenite::Message::Text(frame.to_string()))?;
        loop {
            if read_json(member)?["type"] == answer {
                return Ok(sent.elapsed());
            }
        }
    };
    let started = Instant::now();
    let mut acks = Vec::new();
    for n in 0..count {
        let frame = serde_json::json!({"type": "message", "channel_sid": channel, "body": format!("action {n}")});
        acks.push(round_trip(frame, "ack")?);
    }
    let acks = Run::from(acks, started.elapsed());
    let started = Instant::now();
    let mut pongs = Vec::new();
    for _ in 0..count {
        pongs.push(round_trip(serde_json::json!({"type": "ping"}), "pong")?);
    }
    Ok((acks, Run::from(pongs, started.elapsed())))
}

/// The crowded round: the stream spread over every customer's channel beside `idle` idle
/// sockets, while `second` (another socket of the first customer's) times actions in `channel`
/// as the issue asks: an action's round trip under that load, not on a quiet daemon. Prints the
/// stream's row and the actions' round trips.
fn crowded(
    base: &str,
    customers: &mut [Customer],
    second: &mut Socket,
    channel: &str,
    args: &RealtimeArgs,
    idle: usize,
) -> anyhow::Result<()> {
    let (crowded, acted) = std::thread::scope(|scope| {
        let acting = scope.spawn(|| actions(second, channel, args.actions));
        let crowded = stream(base, customers, args, 1, "");
        (crowded, acting.join().map_err(|_| anyhow::anyhow!("the actions' thread panicked")))
    });
    let (crowded, (acks, pongs)) = (crowded?, acted??);
    let active = customers.len() - 1;
    print_stream_row(
        &format!(
            "the member's, {active} active customers' (the stream spread over their {} \
             channels) and {idle} idle ones",
            active + 1
        ),
        &crowded,
    );
    println!(
        "\nDuring that stream, {} actions then {} pings one after the other on a second socket \
         of the member's:\n",
        args.actions, args.actions
    );
    print_round_trips([("`message` → `ack`", acks), ("`ping` → `pong`", pongs)]);
    Ok(())
}

/// Webhooks at `per_second` for `seconds`, the nth from the nth customer round the list, each
/// body its send time (then `padding`); every customer's socket, on a thread of its own, times
/// its `message_added` frames: (frames received, sent, delays).
fn stream(
    base: &str,
    customers: &mut [Customer],
    args: &RealtimeArgs,
    round: u64,
    padding: &str,
) -> anyhow::Result<(usize, u64, Run)> {
    let total = args.per_second * args.seconds;
    let url = format!("{base}/webhooks/twilio");
    let interval = Duration::from_nanos(1_000_000_000 / args.per_second.max(1));
    let padding = padding.to_owned();
    let numbers: Vec<String> = customers.iter().map(|c| c.number.clone()).collect();
    let sender = std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new().build();
        let started = Instant::now();
        for n in 0..total {
            let due = started + interval * u32::try_from(n).unwrap_or(u32::MAX);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let body = format!("{} {padding}", started.elapsed().as_micros());
            let from = &numbers[n as usize % numbers.len()];
            let _ = post_webhook(&agent, &url, from, &body, &format!("SM{round:02x}{n:030x}"));
        }
        started
    });
    // The sender's clock starts a moment after ours; the difference is measured on one clock.
    let reader_start = Instant::now();
    let shares = customers.len() as u64;
    let timed = std::thread::scope(|scope| {
        let readers: Vec<_> = (customers.iter_mut().enumerate())
            .map(|(i, customer)| {
                let expected = total / shares + u64::from((i as u64) < total % shares);
                scope.spawn(move || timed_frames(&mut customer.socket, expected, reader_start))
            })
            .collect();
        readers.into_iter().map(|reader| reader.join()).collect::<Vec<_>>()
    });
    let sender_start = sender.join().map_err(|_| anyhow::anyhow!("the sender panicked"))?;
    let skew = sender_start.saturating_duration_since(reader_start);
    let mut latencies = Vec::with_capacity(total as usize);
    for reader in timed {
        let reader = reader.map_err(|_| anyhow::anyhow!("a reader panicked"))?;
        latencies.extend(reader.into_iter().map(|l| l.saturating_sub(skew)));
    }
    let received = latencies.len();
    Ok((received, total, Run::from(latencies, Duration::from_secs(args.seconds))))
}

/// Up to `expected` of the stream's `message_added` frames on `socket`, each as its arrival since
/// `reader_start` less its send time; fewer if the socket goes quiet (its read timeout).
fn timed_frames(socket: &mut Socket, expected: u64, reader_start: Instant) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while (latencies.len() as u64) < expected {
        let Ok(frame) = read_json(socket) else { break };
        let received = reader_start.elapsed();
        if frame["type"] != "message_added" {
            continue;
        }
        // Only the stream's own messages carry their send time: a client action's message (sent
        // meanwhile on another socket of the member's) is not one of them.
        let body = frame["body"].as_str().unwrap_or_default();
        let Some(sent) = body.split(' ').next().and_then(|b| b.parse::<u64>().ok()) else {
            continue;
        };
        latencies.push(received.saturating_sub(Duration::from_micros(sent)));
    }
    latencies
}

/// Runs `load` while sampling the RSS of `pid` every 50 ms: (at start, highest, at end), KiB.
fn memory_during<T>(
    pid: u32,
    load: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(u64, u64, u64)> {
    let start = rss_kib(pid)?;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = std::sync::Arc::clone(&done);
    let sampler = std::thread::spawn(move || {
        let mut highest = 0;
        while !sampling.load(std::sync::atomic::Ordering::Relaxed) {
            highest = highest.max(rss_kib(pid).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(50));
        }
        highest
    });
    load()?;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let highest = sampler.join().map_err(|_| anyhow::anyhow!("the sampler panicked"))?;
    let end = rss_kib(pid)?;
    Ok((start, highest.max(end), end))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Whether a socket that never read was closed by the server with 1013 (reads what reached it).
fn closed_too_slow(socket: &mut Socket) -> bool {
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                return frame.code == tungstenite::protocol::frame::coding::CloseCode::Again
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

pub fn run_memory(args: &MemoryArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let (binary, data) = (crate::http::daemon_binary(&args.binary)?, scratch.path().join("data"));
    let env = [("SWITCHBOARD_HIBERNATE_AFTER", "20s"), ("SWITCHBOARD_DURABILITY", "flush")];
    let (mut daemon, base) = start_daemon_with(&binary, &data, &env)?;
    setup_flow(&base)?;
    let pid = daemon.id();
    let before = rss_kib(pid)?;
    let url = format!("{base}/webhooks/twilio");
    let started = Instant::now();
    let workers = 32;
    let per_worker = args.channels.div_ceil(workers);
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                for i in 0..per_worker {
                    let from = format!("+1{:010}", w * per_worker + i);
                    let params = vec![
                        ("From".to_owned(), from),
                        ("To".to_owned(), NUMBER.to_owned()),
                        ("Body".to_owned(), "hello".to_owned()),
                        ("MessageSid".to_owned(), format!("SM{w:08x}{i:024x}")),
                    ];
                    let signature = switchboard_crypto::webhook::compute(TOKEN, &url, &params);
                    let pairs: Vec<(&str, &str)> =
                        params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let _ =
                        agent.post(&url).set("X-Twilio-Signature", &signature).send_form(&pairs);
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let opened = started.elapsed();
    let live = rss_kib(pid)?;
    // Every channel actor hibernates after 20 s without work; give it time to happen.
    std::thread::sleep(Duration::from_secs(45));
    let hibernated = rss_kib(pid)?;
    let counted = counted_memory(&base)?;
    let channels = (per_worker * workers) as f64;
    println!("## Resident memory with {} channels\n", per_worker * workers);
    println!("| state | RSS | per channel |\n|---|---|---|");
    println!("| before | {} MiB | |", before / 1024);
    println!(
        "| all live (opened in {:.1} s) | {} MiB | {:.0} bytes |",
        opened.as_secs_f64(),
        live / 1024,
        (live - before) as f64 * 1024.0 / channels
    );
    println!(
        "| all hibernated | {} MiB | {:.0} bytes |",
        hibernated / 1024,
        (hibernated.saturating_sub(before)) as f64 * 1024.0 / channels
    );
    print_counted(&counted);
    crate::wake::stop(&mut daemon, false)?;
    print_folder(&data, channels)?;
    if args.reopen {
        measure_reopened(&binary, &data, &env, before, channels)?;
    }
    Ok(())
}

/// Prints the data folder's size, whole and per channel.
fn print_folder(data: &std::path::Path, channels: f64) -> anyhow::Result<()> {
    let folder = crate::chat::disk_usage(data)? as f64;
    let mib = folder / (1024.0 * 1024.0);
    println!(
        "\nData folder after a clean stop: {mib:.0} MiB, {:.0} bytes a channel",
        folder / channels
    );
    Ok(())
}

/// Starts the daemon again on the folder `run_memory` filled and prints its RSS (over `before`,
/// the empty daemon's, per channel) and its counted figures once started: memory with nothing
/// live and nothing the allocator kept from the load.
fn measure_reopened(
    binary: &std::path::Path,
    data: &std::path::Path,
    env: &[(&str, &str)],
    before: u64,
    channels: f64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (mut daemon, base) = start_daemon_with(binary, data, env)?;
    let opened = started.elapsed();
    // What the start read settles (the janitor folds its reports in batches).
    std::thread::sleep(Duration::from_secs(5));
    let reopened = rss_kib(daemon.id())?;
    let counted = counted_memory(&base)?;
    println!(
        "\nStarted again on the folder (in {:.1} s): RSS {} MiB, {:.0} bytes per channel",
        opened.as_secs_f64(),
        reopened / 1024,
        reopened.saturating_sub(before) as f64 * 1024.0 / channels
    );
    print_counted(&counted);
    crate::wake::stop(&mut daemon, false)
}

/// The daemon's own figures, per holder and per channel.
fn print_counted(counted: &Counted) {
    println!(
        "\nCounted by the daemon once all hibernated (`switchboard_memory_bytes`, /metrics):\n"
    );
    println!("| holder | bytes | per channel |\n|---|---|---|");
    let known = counted.channels.max(1.0);
    for (holder, bytes) in &counted.holders {
        println!("| {holder} | {bytes:.0} | {:.0} bytes |", bytes / known);
    }
    let total: f64 = counted.holders.iter().map(|(_, b)| b).sum();
    println!(
        "| all, over {:.0} channels | {total:.0} | {:.0} bytes |",
        counted.channels,
        total / known
    );
}

/// What the daemon counts it holds: channels known, and bytes by holder.
pub(crate) struct Counted {
    pub channels: f64,
    pub holders: Vec<(String, f64)>,
}

/// Reads the daemon's own memory figures from its `/metrics`.
pub(crate) fn counted_memory(base: &str) -> anyhow::Result<Counted> {
    use base64::Engine as _;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    let text = ureq::get(&format!("{base}/metrics"))
        .set("Authorization", &format!("Basic {credentials}"))
        .call()?
        .into_string()?;
    let mut counted = Counted { channels: 0.0, holders: Vec::new() };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let value: f64 = value.parse().unwrap_or(0.0);
        if series == "switchboard_channels" {
            counted.channels = value;
        } else if let Some(holder) = series
            .strip_prefix("switchboard_memory_bytes{holder=\"")
            .and_then(|h| h.strip_suffix("\"}"))
        {
            counted.holders.push((holder.to_owned(), value));
        }
    }
    Ok(counted)
}

/// The resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}

//! `widget`: the webchat widget's sockets (issue 22, Performance). Resident memory per idle
//! visitor socket, each made as the widget makes it (a session of its own, the token in the
//! first frame, its channel resumed), beside plain agent sockets (a token in the URL, no
//! channel) in the same run, the yardstick; and the delay from an agent's message (REST) to the
//! visitor's frame at a steady rate, with the visitors connected, beside the same with none.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;

use crate::http::{account_auth, start_daemon_with};
use crate::realtime::{connect, enough_descriptors, read_json, rss_kib, Socket, Stopped};
use crate::stats::{ms, rate, Run};

#[derive(Args)]
pub struct WidgetArgs {
    /// Idle visitor sockets, each with a session and a channel of its own.
    #[arg(long, default_value_t = 5000)]
    visitors: usize,
    /// Plain agent sockets connected first, the yardstick of memory per socket.
    #[arg(long, default_value_t = 1000)]
    yardstick_sockets: usize,
    /// Agent messages per second to the measured visitor.
    #[arg(long, default_value_t = 1000)]
    per_second: u64,
    /// Length of each stream of agent messages.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
}

/// Threads posting the agent's messages: one alone cannot keep a durable REST write a
/// millisecond.
const SENDERS: u64 = 4;

/// A visitor's session, as `POST /webchat/v1/Sessions` answers it.
struct Visitor {
    token: String,
    channel: String,
}

pub fn run(args: &WidgetArgs) -> anyhow::Result<()> {
    enough_descriptors(args.visitors + args.yardstick_sockets + 1)?;
    let scratch = tempfile::tempdir()?;
    let unlimited = "100000000";
    let (daemon, base) = start_daemon_with(
        &crate::http::daemon_binary(&args.binary)?,
        &scratch.path().join("data"),
        &[
            ("SWITCHBOARD_WEBCHAT_SESSIONS_PER_IP_PER_MINUTE", unlimited),
            ("SWITCHBOARD_WEBCHAT_SESSIONS_PER_FLOW_PER_MINUTE", unlimited),
            // Every socket comes from this one address.
            ("SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "0"),
            // The bench's idle sockets read nothing, so they answer no server ping.
            ("SWITCHBOARD_WS_PING_INTERVAL", "600s"),
            ("SWITCHBOARD_WS_PING_TIMEOUT", "1200s"),
        ],
    )?;
    let daemon = Stopped(daemon);
    let pid = daemon.0.id();
    let (flow, service) = web_flow(&base)?;
    let measured = session(&base, &flow, 0)?;
    let mut socket = visitor_socket(&base, &measured)?;
    println!(
        "## Agent message (REST) → visitor frame, {} messages/s for {} s\n",
        args.per_second, args.seconds
    );
    println!("| visitor sockets connected | frames received | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|");
    let alone = stream(&base, &service, &measured.channel, &mut socket, args, 0)?;
    print_row("the measured visitor's only (yardstick)", &alone);

    let before = rss_kib(pid)?;
    let mut plain = Vec::with_capacity(args.yardstick_sockets);
    for n in 0..args.yardstick_sockets {
        plain.push(connect(&base, &format!("agent.{n}"), None)?);
    }
    std::thread::sleep(Duration::from_millis(500));
    let plain_kib = rss_kib(pid)?.saturating_sub(before);

    let started = Instant::now();
    let mut visitors = Vec::with_capacity(args.visitors);
    for n in 1..=args.visitors {
        visitors.push(session(&base, &flow, n)?);
    }
    let sessions_rate = args.visitors as f64 / started.elapsed().as_secs_f64();
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(args.visitors);
    for visitor in &visitors {
        sockets.push(visitor_socket(&base, visitor)?);
    }
    let sockets_rate = args.visitors as f64 / started.elapsed().as_secs_f64();
    // Settled: the handshakes' buffers are freed, each socket authenticated and resumed.
    std::thread::sleep(Duration::from_millis(500));
    let visitor_kib = rss_kib(pid)?.saturating_sub(before);
    let crowded = stream(&base, &service, &measured.channel, &mut socket, args, 1)?;
    print_row(&format!("and {} idle visitors'", args.visitors), &crowded);

    print_memory(args, plain_kib, visitor_kib, sockets_rate);
    println!("\nSessions opened one after the other at {}.", rate(sessions_rate));
    drop((plain, sockets));
    Ok(())
}

fn print_memory(args: &WidgetArgs, plain_kib: u64, visitor_kib: u64, sockets_rate: f64) {
    println!("\n## Resident memory per idle socket\n");
    println!("| sockets | connected at | RSS added | per socket |\n|---|---|---|---|");
    let per = |kib: u64, count: usize| kib as f64 / count.max(1) as f64;
    println!(
        "| yardstick: {} agent sockets (token in the URL, no channel) | — | {:.1} MiB | {:.1} KiB |",
        args.yardstick_sockets,
        plain_kib as f64 / 1024.0,
        per(plain_kib, args.yardstick_sockets)
    );
    println!(
        "| {} visitor sockets (first-frame token, channel resumed) | {} | {:.1} MiB | {:.1} KiB |",
        args.visitors,
        rate(sockets_rate),
        visitor_kib as f64 / 1024.0,
        per(visitor_kib, args.visitors)
    );
}

/// The enabled web flow the first start made, and its service.
fn web_flow(base: &str) -> anyhow::Result<(String, String)> {
    let flows: Value = ureq::get(&format!("{base}/flex/v1/FlexFlows"))
        .set("Authorization", &account_auth())
        .call()?
        .into_json()?;
    let web = flows["flex_flows"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["channel_type"] == "web" && f["enabled"] == true))
        .ok_or_else(|| anyhow::anyhow!("no enabled web flow: {flows}"))?;
    let text = |key: &str| web[key].as_str().unwrap_or_default().to_owned();
    Ok((text("sid"), text("chat_service_sid")))
}

fn session(base: &str, flow: &str, n: usize) -> anyhow::Result<Visitor> {
    let answers = json!({"friendly_name": format!("Visitor {n}")}).to_string();
    let created: Value = ureq::post(&format!("{base}/webchat/v1/Sessions"))
        .set("Origin", base)
        .send_form(&[("FlowSid", flow), ("PreEngagementData", &answers)])?
        .into_json()?;
    let text = |key: &str| created[key].as_str().unwrap_or_default().to_owned();
    Ok(Visitor { token: text("token"), channel: text("channel_sid") })
}

/// A socket as the widget opens it: no token in the URL, the token and the resume of its
/// channel in the first frame; returned once the channel is resumed.
fn visitor_socket(base: &str, visitor: &Visitor) -> anyhow::Result<Socket> {
    let address = base.trim_start_matches("http://");
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let url = format!("ws://{address}/ws");
    let (mut socket, _) = tungstenite::client(url, MaybeTlsStream::Plain(stream))
        .map_err(|e| anyhow::anyhow!("WebSocket handshake: {e}"))?;
    let resume = json!([{"channel_sid": visitor.channel, "seq": -1}]);
    let first = json!({"type": "auth", "token": visitor.token, "resume": resume});
    socket.send(tungstenite::Message::Text(first.to_string()))?;
    while read_json(&mut socket)?["type"] != "resumed" {}
    Ok(socket)
}

/// The agent's messages to `channel` over REST at `per_second` for `seconds` (from `SENDERS`
/// threads, each body its send time), timed as they reach the visitor's socket.
fn stream(
    base: &str,
    service: &str,
    channel: &str,
    socket: &mut Socket,
    args: &WidgetArgs,
    round: u64,
) -> anyhow::Result<(usize, u64, Run)> {
    let total = args.per_second * args.seconds;
    let url = format!("{base}/chat/v2/Services/{service}/Channels/{channel}/Messages");
    let interval = Duration::from_nanos(1_000_000_000 / args.per_second.max(1));
    let start = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|k| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                for n in (k..total).step_by(SENDERS as usize) {
                    let due = start + interval * u32::try_from(n).unwrap_or(u32::MAX);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let body = format!("{} {round}", start.elapsed().as_micros());
                    let form = [("From", "agent"), ("Body", body.as_str())];
                    let _ = agent.post(&url).set("Authorization", &account_auth()).send_form(&form);
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    while (latencies.len() as u64) < total {
        let Ok(frame) = read_json(socket) else { break };
        let received = start.elapsed();
        if frame["type"] != "message_added" {
            continue;
        }
        let body = frame["body"].as_str().unwrap_or_default();
        let sent: u64 = body.split(' ').next().and_then(|b| b.parse().ok()).unwrap_or(0);
        latencies.push(received.saturating_sub(Duration::from_micros(sent)));
    }
    for sender in senders {
        sender.join().map_err(|_| anyhow::anyhow!("a sender panicked"))?;
    }
    let received = latencies.len();
    Ok((received, total, Run::from(latencies, Duration::from_secs(args.seconds))))
}

fn print_row(sockets: &str, (received, total, run): &(usize, u64, Run)) {
    println!(
        "| {sockets} | {received} of {total} | {} | {} | {} | {} |",
        ms(run.p50),
        ms(run.p90),
        ms(run.p99),
        ms(run.max)
    );
}

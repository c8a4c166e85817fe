//! Two figures of the daemon beyond ingestion: the delay from a webhook to the member's
//! WebSocket frame at a steady 1 000 messages/s, and resident memory per channel, live and
//! hibernated, with many channels.

use std::time::{Duration, Instant};

use clap::Args;
use tungstenite::stream::MaybeTlsStream;

use crate::http::{setup_flow, start_daemon_with, ACCOUNT, NUMBER, TOKEN};
use crate::stats::{ms, rate, Run};

#[derive(Args)]
pub struct RealtimeArgs {
    /// Messages per second sent through webhooks.
    #[arg(long, default_value_t = 1000)]
    per_second: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
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
}

const API_KEY: &str = "SK0123456789abcdef0123456789abcdef";

pub fn run_latency(args: &RealtimeArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let (mut daemon, base) = start_daemon_with(
        &crate::http::daemon_binary(&args.binary)?,
        &scratch.path().join("data"),
        &[],
    )?;
    setup_flow(&base)?;
    let customer = "+14155550999";
    let now_secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let token = switchboard_http::twilio::token::mint(
        ACCOUNT, API_KEY, "bench", customer, None, 3600, now_secs,
    );
    let (mut socket, _) =
        tungstenite::connect(format!("{}/ws?token={token}", base.replacen("http", "ws", 1)))?;
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    }
    let total = args.per_second * args.seconds;
    let url = format!("{base}/webhooks/twilio");
    let interval = Duration::from_nanos(1_000_000_000 / args.per_second.max(1));
    let sender = std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new().build();
        let started = Instant::now();
        for n in 0..total {
            let due = started + interval * u32::try_from(n).unwrap_or(u32::MAX);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let sent_micros = started.elapsed().as_micros().to_string();
            let params = vec![
                ("From".to_owned(), customer.to_owned()),
                ("To".to_owned(), NUMBER.to_owned()),
                ("Body".to_owned(), sent_micros),
                ("MessageSid".to_owned(), format!("SM{n:032x}")),
            ];
            let signature = switchboard_crypto::webhook::compute(TOKEN, &url, &params);
            let pairs: Vec<(&str, &str)> =
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let _ = agent.post(&url).set("X-Twilio-Signature", &signature).send_form(&pairs);
        }
        started
    });
    // The sender's clock starts a moment after ours; the difference is measured on one clock.
    let reader_start = Instant::now();
    let mut latencies = Vec::new();
    while (latencies.len() as u64) < total {
        let frame = match socket.read() {
            Ok(tungstenite::Message::Text(text)) => text,
            Ok(_) => continue,
            Err(_) => break,
        };
        let received = reader_start.elapsed();
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&frame) else { continue };
        if value["type"] != "message_added" {
            continue;
        }
        let sent: u64 = value["body"].as_str().and_then(|b| b.parse().ok()).unwrap_or(0);
        latencies.push(received.saturating_sub(Duration::from_micros(sent)));
    }
    let sender_start = sender.join().map_err(|_| anyhow::anyhow!("the sender panicked"))?;
    let skew = sender_start.saturating_duration_since(reader_start);
    let latencies: Vec<Duration> = latencies.into_iter().map(|l| l.saturating_sub(skew)).collect();
    let received = latencies.len();
    let run = Run::from(latencies, Duration::from_secs(args.seconds));
    println!(
        "## Webhook to WebSocket frame, {} messages/s for {} s\n",
        args.per_second, args.seconds
    );
    println!("| frames received | rate | p50 | p99 |\n|---|---|---|---|");
    println!(
        "| {received} of {total} | {} | {} | {} |",
        rate(run.per_second),
        ms(run.p50),
        ms(run.p99)
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    Ok(())
}

pub fn run_memory(args: &MemoryArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let (mut daemon, base) = start_daemon_with(
        &crate::http::daemon_binary(&args.binary)?,
        &scratch.path().join("data"),
        &[("SWITCHBOARD_HIBERNATE_AFTER", "20s"), ("SWITCHBOARD_DURABILITY", "flush")],
    )?;
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
    let _ = daemon.kill();
    let _ = daemon.wait();
    Ok(())
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

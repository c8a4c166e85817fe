//! Waking busy channels after a restart: a folder of channels whose memories of provider ids
//! are full (more than 1 024 messages each), the daemon stopped by a crash (SIGKILL) or cleanly
//! (SIGTERM), started again, and loaded at once, so that its first messages load every channel.
//! Reports the time to serve, RSS before and after the wake, the first load and the one after.

use std::process::Child;
use std::time::{Duration, Instant};

use clap::Args;

use crate::http::{load, setup_flow, start_daemon};
use crate::load::Client;
use crate::realtime::rss_kib;
use crate::stats::{ms, rate, Run};

#[derive(Args)]
pub struct WakeArgs {
    /// Customers, each with a channel of their own.
    #[arg(long, default_value_t = 1000)]
    customers: usize,
    /// Messages per customer before the restarts (past 1 024, every channel's memory is full).
    #[arg(long, default_value_t = 1100)]
    messages: usize,
    /// Seconds of the first load after each start (the one that wakes every channel).
    #[arg(long, default_value_t = 1)]
    seconds: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The switchboard binary [default: beside this one].
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
}

pub fn run(args: &WakeArgs) -> anyhow::Result<()> {
    let binary = crate::http::daemon_binary(&args.binary)?;
    let scratch = tempfile::tempdir()?;
    let data = scratch.path().join("data");
    let (mut daemon, base) = start_daemon(&binary, &data)?;
    setup_flow(&base)?;
    let url = format!("{base}/webhooks/twilio");
    let (target, started) = (args.customers * args.messages, Instant::now());
    let mut stored = 0;
    while stored < target {
        let (run, errors) =
            load(Client::Async, &url, args.concurrency, args.customers, Duration::from_secs(5));
        anyhow::ensure!(errors == 0, "{errors} webhooks failed while filling the folder");
        stored += run.count;
    }
    eprintln!("filled: {stored} messages in {:.0} s", started.elapsed().as_secs_f64());
    println!(
        "## Waking {} busy channels ({stored} messages), {} connections\n",
        args.customers, args.concurrency
    );
    println!(
        "| stop before the start | start to serving | RSS idle → after waking | first {} s: rate, p50, p99, max | next 3 s: rate, p99 | errors |\n|---|---|---|---|---|---|",
        args.seconds
    );
    for crash in [true, false] {
        stop(&mut daemon, crash)?;
        let started = Instant::now();
        let (next, base) = start_daemon(&binary, &data)?;
        let serving = started.elapsed();
        daemon = next;
        let url = format!("{base}/webhooks/twilio");
        // Quiet a moment first, as a daemon is before its first webhook after a start.
        std::thread::sleep(Duration::from_secs(2));
        let idle = rss_kib(daemon.id())?;
        let seconds = Duration::from_secs(args.seconds);
        let (first, first_errors) =
            load(Client::Async, &url, args.concurrency, args.customers, seconds);
        let woken = rss_kib(daemon.id())?;
        let (next, next_errors) =
            load(Client::Async, &url, args.concurrency, args.customers, Duration::from_secs(3));
        println!(
            "| {} | {:.2} s | {} → {} MiB | {} | {}, {} | {} |",
            if crash { "crash (SIGKILL)" } else { "clean (SIGTERM)" },
            serving.as_secs_f64(),
            idle / 1024,
            woken / 1024,
            summary(&first),
            rate(next.per_second),
            ms(next.p99),
            // A failed webhook would flatter the rates: counted in the table, not hidden.
            first_errors + next_errors,
        );
    }
    stop(&mut daemon, false)?;
    Ok(())
}

fn summary(run: &Run) -> String {
    format!("{}, {}, {}, {}", rate(run.per_second), ms(run.p50), ms(run.p99), ms(run.max))
}

/// SIGKILL, or SIGTERM and the daemon's clean stop (which snapshots the live channels).
pub fn stop(daemon: &mut Child, crash: bool) -> anyhow::Result<()> {
    if crash {
        daemon.kill()?;
    } else {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
    }
    daemon.wait()?;
    Ok(())
}

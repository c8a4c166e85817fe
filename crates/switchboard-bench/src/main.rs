//! `switchboard-bench`: measures Switchboard beside the raw limits of the same machine, in one
//! run, and prints Markdown tables for docs/BENCHMARKS.md. Benchmarks, not tests: nothing here
//! asserts a speed.
//!
//! `switchboard-bench log` measures the event log; `switchboard-bench http` the daemon's webhook
//! ingestion (it starts the real `switchboard` binary built beside it); `switchboard-bench
//! channels` WhatsApp Cloud ingestion and outbound replies; `switchboard-bench wake` busy
//! channels loaded at once after a restart; `switchboard-bench chat` the agent's path, Chat
//! messages over the REST API in the peer benchmark's shape; `switchboard-bench widget` the
//! webchat widget's idle sockets and an agent's message to a visitor; `switchboard-bench console`
//! the agent console's first load and long conversations in headless Chromium;
//! `switchboard-bench studio` Studio executions waiting for replies (memory, a step's CPU,
//! webhooks into them); `switchboard-bench taskrouter` task routing (offers to workers' sockets,
//! re-matching many waiting tasks, ingest on a task flow); `switchboard-bench soak` an hour of
//! mixed and hostile load with restarts and a `kill -9`, then its invariants checked;
//! `switchboard-bench hostile` `/healthz` and a signed webhook while 20 000 hostile slow
//! connections are held open.

mod channels;
mod chat;
mod console;
mod fake_twilio;
mod hostile;
mod http;
mod load;
mod log;
mod realtime;
mod soak;
mod stats;
mod studio;
mod taskrouter;
mod wake;
mod widget;

/// mimalloc instead of glibc's malloc: sled allocates and frees on every insert (it clones the
/// leaf it changes), and under hundreds of writers glibc's allocator was about a quarter of all
/// CPU (docs/BENCHMARKS.md). The bench uses the same allocator, so its raw limits stay comparable.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "switchboard-bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Durable appends, verify and replay of the event log, beside raw sled and raw crypto.
    Log(log::LogArgs),
    /// Signed webhooks against the real daemon, beside a raw pipeline.
    Http(http::HttpArgs),
    /// Delay from a webhook to the member's WebSocket frame at a steady rate.
    Realtime(realtime::RealtimeArgs),
    /// Resident memory per live and per hibernated channel.
    Memory(realtime::MemoryArgs),
    /// Signed WhatsApp Cloud webhooks beside SMS ones, and replies delivered to a fake Graph API.
    Channels(channels::ChannelsArgs),
    /// Busy channels woken at once after a crash and after a clean stop.
    Wake(wake::WakeArgs),
    /// Chat messages posted over the REST API as the peer benchmark does, beside a raw pipeline,
    /// then checked in order.
    Chat(chat::ChatArgs),
    /// Studio executions waiting for replies: memory each, a step's CPU, and webhooks into
    /// them beside the raw pipeline.
    Studio(studio::StudioArgs),
    /// TaskRouter: offers to hundreds of workers' sockets, many waiting tasks re-matched, and
    /// webhook ingest on a task flow beside a flow without a task.
    #[command(name = "taskrouter")]
    TaskRouter(taskrouter::TaskRouterArgs),
    /// Memory per idle webchat visitor socket beside plain sockets, and an agent's message to a
    /// visitor's frame with them connected.
    Widget(widget::WidgetArgs),
    /// The agent console in headless Chromium: first load with many past conversations beside
    /// none, and a long conversation's latest page beside a short one's.
    Console(console::ConsoleArgs),
    /// An hour of mixed load (webhooks, sockets, replies, a provider outage, restarts, a kill -9,
    /// hostile clients), then every invariant checked: nothing lost or doubled, the outbox
    /// drained, the folder verified, memory back.
    Soak(soak::SoakArgs),
    /// `/healthz` and a signed webhook, each on a new connection, while thousands of hostile
    /// connections hold stalled bodies, beside the same with none.
    Hostile(hostile::HostileArgs),
    /// Holds stalled connections for `hostile` (run by it, in processes of their own).
    #[command(name = "hostile-hold", hide = true)]
    HostileHold(hostile::HoldArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    same_memory_policy_as_the_daemon();
    match cli.command {
        Command::Log(args) => log::run(&args),
        Command::Http(args) => http::run(&args),
        Command::Realtime(args) => realtime::run_latency(&args),
        Command::Memory(args) => realtime::run_memory(&args),
        Command::Channels(args) => channels::run(&args),
        Command::Wake(args) => wake::run(&args),
        Command::Chat(args) => chat::run(&args),
        Command::Widget(args) => widget::run(&args),
        Command::Console(args) => console::run(&args),
        Command::Studio(args) => studio::run(&args),
        Command::TaskRouter(args) => taskrouter::run(&args),
        Command::Soak(args) => soak::run(&args),
        Command::Hostile(args) => hostile::run(&args),
        Command::HostileHold(args) => hostile::hold_connections(&args),
    }
}

/// The daemon turns transparent huge pages off unless `SWITCHBOARD_HUGE_PAGES=system`
/// (crates/switchboard/src/memory.rs); the raw limits measured here get the same policy, read
/// from the same variable, which the daemons this tool starts inherit (the daemon sets its own
/// flag either way, so the one inherited from here does not decide for it).
fn same_memory_policy_as_the_daemon() {
    let off = huge_pages_off();
    #[cfg(target_os = "linux")]
    if let Err(error) = nix::sys::prctl::set_thp_disable(off) {
        eprintln!("could not set transparent huge pages (off: {off}) for the raw limits: {error}");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = off;
}

/// Whether the daemon, and so this tool, turn transparent huge pages off.
fn huge_pages_off() -> bool {
    !std::env::var("SWITCHBOARD_HUGE_PAGES").is_ok_and(|policy| policy == "system")
}

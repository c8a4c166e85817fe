//! Studio flows under load (issue 25's Performance section), each figure beside a yardstick
//! measured in the same run:
//! - memory: N customers each in an execution waiting for their reply, idle: the bytes the
//!   daemon counts for its held executions (`switchboard_memory_bytes{holder=
//!   "studio_executions"}`), and the resident memory N such conversations add beside N first
//!   messages into a task flow (the same channels without Studio);
//! - a step's CPU: the engine's `decide` and `apply` in this process (no I/O), and the daemon's
//!   whole CPU per customer message while loaded (webhook, channel, trigger, step, the bot's
//!   message through the outbox to a stand-in for Twilio);
//! - ingest: signed webhooks into a flow whose every execution waits for a reply (each message
//!   resumes one, which answers through the provider and waits again), counted until the
//!   daemon has carried out every reply, beside the raw pipeline of `switchboard-bench http`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use switchboard_domain::{Aggregate, Recorded, Sid, SidPrefix, Timestamp};
use switchboard_studio::{
    validate_json, ExecutionCommand, ExecutionInput, ExecutionState, Limits, MAX_STEPS_LIMIT,
};

use crate::fake_twilio::FakeTwilio;
use crate::http::{
    base64, create_flow, daemon_binary, load, start_daemon_with, start_raw_pipeline, ACCOUNT,
    NUMBER, TOKEN,
};
use crate::load::Client;
use crate::realtime::{counted_memory, rss_kib};
use crate::stats::{ms, rate, ProcessUsage};

#[derive(Args)]
pub struct StudioArgs {
    /// Customers, each with an execution waiting for a reply.
    #[arg(long, default_value_t = 1000)]
    executions: usize,
    /// Seconds of load per target and round.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// Rounds: each loads the daemon, then the raw pipeline.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Steps of the in-process engine measured.
    #[arg(long, default_value_t = 20_000)]
    steps: usize,
    /// The switchboard binary [default: beside this one].
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
    /// The load generator (see `load.rs`).
    #[arg(long, value_enum, default_value_t = Client::Async)]
    client: Client,
}

/// Every customer message answered, the execution waiting for the next one: `ask` returns to
/// itself on each reply (one step a message), as a bot that keeps the conversation does.
const ECHO_FLOW: &str = r#"{
  "description": "Bench: every message answered, then the next one awaited",
  "states": [
    {"name": "Trigger", "type": "trigger",
     "transitions": [{"next": "ask", "event": "incomingMessage"}, {"event": "incomingCall"},
                     {"event": "incomingRequest"}],
     "properties": {"offset": {"x": 0, "y": 0}}},
    {"name": "ask", "type": "send-and-wait-for-reply",
     "transitions": [{"next": "ask", "event": "incomingMessage"}, {"event": "timeout"},
                     {"event": "deliveryFailure"}],
     "properties": {"offset": {"x": 0, "y": 200},
                    "service": "{{trigger.message.InstanceSid}}",
                    "channel": "{{trigger.message.ChannelSid}}",
                    "from": "{{flow.channel.address}}",
                    "body": "Got it, {{contact.channel.address}}: {{widgets.ask.inbound.Body}}",
                    "timeout": "3600"}}
  ],
  "initial_state": "Trigger",
  "flags": {"allow_concurrent_calls": true}
}"#;

/// The number a task flow (the yardstick's channels, no Studio) answers for.
const TASK_NUMBER: &str = "+15005550007";

pub fn run(args: &StudioArgs) -> anyhow::Result<()> {
    engine_steps(args.steps)?;
    let binary = daemon_binary(&args.binary)?;
    let scratch = tempfile::tempdir()?;
    let twilio = FakeTwilio::start()?;
    let env = [
        ("SWITCHBOARD_TWILIO_API_BASE", twilio.url.as_str()),
        ("SWITCHBOARD_HIBERNATE_AFTER", "10s"),
    ];
    let (mut daemon, base) = start_daemon_with(&binary, &scratch.path().join("data"), &env)?;
    let outcome = measure(args, &twilio, &base, daemon.id(), &scratch);
    crate::wake::stop(&mut daemon, false)?;
    outcome
}

fn measure(
    args: &StudioArgs,
    twilio: &FakeTwilio,
    base: &str,
    pid: u32,
    scratch: &tempfile::TempDir,
) -> anyhow::Result<()> {
    studio_flow(base)?;
    create_flow(base, "sms", TASK_NUMBER)?;
    idle_memory(args.executions, twilio, base, pid)?;
    ingest(args, twilio, base, pid, &scratch.path().join("raw"))
}

/// The engine alone: an execution of [`ECHO_FLOW`] given `steps` replies, each one step.
fn engine_steps(steps: usize) -> anyhow::Result<()> {
    let definition = Arc::new(validate_json(ECHO_FLOW).map_err(|e| anyhow::anyhow!("{e:?}"))?);
    let mut state = ExecutionState::default();
    let mut at = 1_000i64;
    let run = |state: &mut ExecutionState, input: ExecutionInput, at: i64| {
        let command =
            ExecutionCommand { definition: Arc::clone(&definition), at: Timestamp(at), input };
        let events = state.decide(command).map_err(|e| anyhow::anyhow!("{e}"))?;
        for event in events {
            state.apply(&Recorded::new(Timestamp(at), event));
        }
        anyhow::Ok(())
    };
    let execution = Sid::from_parts(SidPrefix::STUDIO_EXECUTION, [7; 16]);
    let channel = Sid::from_parts(SidPrefix::CHANNEL, [8; 16]);
    let start = |limits| ExecutionInput::Start {
        execution_sid: execution,
        flow_sid: Sid::from_parts(SidPrefix::STUDIO_FLOW, [9; 16]),
        revision: 1,
        trigger_event: "incomingMessage".into(),
        trigger: json!({"message": {"Body": "hello", "From": "+14155550100",
                                    "ChannelSid": channel.to_string(), "Index": 0}}),
        data: Value::Null,
        flow_address: NUMBER.into(),
        limits,
    };
    let limits = Limits { max_steps: MAX_STEPS_LIMIT, ..Limits::default() };
    let me = std::process::id();
    let before = ProcessUsage::of(me);
    let started = Instant::now();
    let mut taken = 0usize;
    while taken < steps {
        // A fresh execution when one reaches the most steps any may take.
        if state.steps == 0 || state.steps >= MAX_STEPS_LIMIT {
            state = ExecutionState::default();
            run(&mut state, start(limits), at)?;
        }
        at += 1;
        let reply = ExecutionInput::Reply {
            body: format!("message {taken}"),
            from: "+14155550100".into(),
            message: Some((format!("IM{taken:032x}"), taken as u64 + 1)),
        };
        run(&mut state, reply, at)?;
        taken += 1;
    }
    let wall = started.elapsed();
    let cpu = match (before, ProcessUsage::of(me)) {
        (Some(before), Some(after)) => after.since(&before).0,
        _ => wall,
    };
    println!("## Studio: the engine's step alone (decide + apply, no I/O)\n");
    println!(
        "{steps} replies, one step each: {:.1} µs of CPU a step ({:.1} µs wall); the context \
         is {} bytes.\n",
        cpu.as_secs_f64() * 1e6 / steps as f64,
        wall.as_secs_f64() * 1e6 / steps as f64,
        state.context.len()
    );
    Ok(())
}

/// A published [`ECHO_FLOW`] and an SMS Flex Flow running it for [`NUMBER`].
fn studio_flow(base: &str) -> anyhow::Result<()> {
    let auth = format!("Basic {}", base64(&format!("{ACCOUNT}:{TOKEN}")));
    let flow: Value = ureq::post(&format!("{base}/studio/v2/Flows"))
        .set("Authorization", &auth)
        .send_form(&[("FriendlyName", "Echo"), ("Status", "published"), ("Definition", ECHO_FLOW)])?
        .into_json()?;
    let flow = flow["sid"].as_str().unwrap_or_default().to_owned();
    let service: Value = ureq::post(&format!("{base}/chat/v2/Services"))
        .set("Authorization", &auth)
        .send_form(&[("FriendlyName", "studio")])?
        .into_json()?;
    let service = service["sid"].as_str().unwrap_or_default().to_owned();
    ureq::post(&format!("{base}/flex/v1/FlexFlows")).set("Authorization", &auth).send_form(&[
        ("FriendlyName", "studio"),
        ("ChatServiceSid", &service),
        ("ChannelType", "sms"),
        ("ContactIdentity", NUMBER),
        ("Enabled", "true"),
        ("IntegrationType", "studio"),
        ("Integration.FlowSid", &flow),
    ])?;
    Ok(())
}

/// N customers' first messages to `to`, from `from_prefix` and seven digits (`+1415`: the
/// numbers `load` uses), on a few threads, their SIDs numbered in `batch`; returns how many were
/// taken.
fn first_messages(base: &str, to: &str, customers: usize, from_prefix: &str, batch: u16) -> usize {
    let url = format!("{base}/webhooks/twilio");
    let taken = Arc::new(AtomicUsize::new(0));
    let workers = 8;
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (url, to, prefix, taken) =
                (url.clone(), to.to_owned(), from_prefix.to_owned(), Arc::clone(&taken));
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                for n in (w..customers).step_by(workers) {
                    let params = vec![
                        ("From".to_owned(), format!("{prefix}{n:07}")),
                        ("To".to_owned(), to.clone()),
                        ("Body".to_owned(), "hello".to_owned()),
                        ("MessageSid".to_owned(), format!("SM{batch:04x}{n:028x}")),
                        ("NumMedia".to_owned(), "0".to_owned()),
                    ];
                    let signature = switchboard_crypto::webhook::compute(TOKEN, &url, &params);
                    let pairs: Vec<(&str, &str)> =
                        params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let sent = agent.post(&url).set("X-Twilio-Signature", &signature);
                    if sent.send_form(&pairs).is_ok() {
                        taken.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    taken.load(Ordering::Relaxed)
}

/// Waits until Twilio's stand-in has been asked for `count` messages (or stops hearing any for
/// `quiet`); returns how long that took.
fn await_sent(twilio: &FakeTwilio, count: usize, quiet: Duration) -> Duration {
    let started = Instant::now();
    let (mut seen, mut since) = (twilio.sent(), Instant::now());
    while seen < count && since.elapsed() < quiet {
        std::thread::sleep(Duration::from_millis(5));
        let now = twilio.sent();
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
    }
    started.elapsed()
}

fn idle_memory(customers: usize, twilio: &FakeTwilio, base: &str, pid: u32) -> anyhow::Result<()> {
    let settle = Duration::from_secs(15);
    let before = rss_kib(pid)?;
    let taken = first_messages(base, NUMBER, customers, "+1415", 1);
    await_sent(twilio, customers, Duration::from_secs(10));
    // Idle: every channel actor hibernated (after 10 s without work).
    std::thread::sleep(settle);
    let with_studio = rss_kib(pid)?;
    let counted = counted_memory(base)?;
    let yardstick_taken = first_messages(base, TASK_NUMBER, customers, "+1416", 2);
    std::thread::sleep(settle);
    let with_tasks = rss_kib(pid)?;
    let held = counted.holders.iter().find(|(h, _)| h == "studio_executions").map_or(0.0, |h| h.1);
    let per = |kib: u64, n: usize| kib as f64 * 1024.0 / n.max(1) as f64;
    let studio_rss = with_studio.saturating_sub(before);
    let task_rss = with_tasks.saturating_sub(with_studio);
    println!("## Studio: {customers} executions waiting for a reply, idle\n");
    println!("| what | bytes | per conversation |\n|---|---|---|");
    println!(
        "| counted by the daemon, executions held (`switchboard_memory_bytes{{holder=\"studio_executions\"}}`) | {held:.0} | {:.0} |",
        held / taken.max(1) as f64
    );
    println!(
        "| resident memory added by {taken} Studio conversations (channel, execution, the bot's message) | {} KiB | {:.0} |",
        studio_rss,
        per(studio_rss, taken)
    );
    println!(
        "| yardstick: resident memory added by {yardstick_taken} first messages into a task flow (channel, task) | {} KiB | {:.0} |",
        task_rss,
        per(task_rss, yardstick_taken)
    );
    println!(
        "\nStudio's own share, the difference: {:.0} bytes a conversation (target ≤ 4 KiB an \
         execution). Resident memory moves with the allocator's retained pages; the counted \
         figure is the daemon's own.\n",
        per(studio_rss, taken) - per(task_rss, yardstick_taken)
    );
    Ok(())
}

fn ingest(
    args: &StudioArgs,
    twilio: &FakeTwilio,
    base: &str,
    pid: u32,
    raw_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let raw = start_raw_pipeline(raw_dir)?;
    let (ours_url, raw_url) = (format!("{base}/webhooks/twilio"), format!("{raw}/webhooks/twilio"));
    let seconds = Duration::from_secs(args.seconds);
    println!(
        "## Studio: signed SMS webhooks into executions waiting for a reply, {} connections, {} \
         customers, {} rounds of {} s\n",
        args.concurrency, args.executions, args.rounds, args.seconds
    );
    println!(
        "| round | target | messages/s (until every reply went out) | acknowledged/s | p50 | p99 | errors | vs raw | daemon CPU a message |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut ratios = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let sent_before = twilio.sent();
        let cpu_before = ProcessUsage::of(pid);
        let started = Instant::now();
        let (ours, errors) =
            load(args.client, &ours_url, args.concurrency, args.executions, seconds);
        await_sent(twilio, sent_before + ours.count, Duration::from_secs(5));
        let elapsed = started.elapsed();
        let cpu = match (cpu_before, ProcessUsage::of(pid)) {
            (Some(before), Some(after)) => after.since(&before).0,
            _ => Duration::ZERO,
        };
        let replied = twilio.sent() - sent_before;
        let through = replied.min(ours.count) as f64 / elapsed.as_secs_f64();
        let (theirs, raw_errors) =
            load(args.client, &raw_url, args.concurrency, args.executions, seconds);
        let ratio = through / theirs.per_second.max(1.0);
        ratios.push(ratio);
        println!(
            "| {round} | switchboard serve, Studio (fsync) | {} | {} | {} | {} | {errors} ({} replies of {} messages) | {:.0} % | {:.0} µs |",
            rate(through),
            rate(ours.per_second),
            ms(ours.p50),
            ms(ours.p99),
            replied,
            ours.count,
            ratio * 100.0,
            cpu.as_secs_f64() * 1e6 / ours.count.max(1) as f64
        );
        println!(
            "| {round} | raw pipeline (form + encode + seal + sled + group commit) | {} | {} | {} | {} | {raw_errors} | | |",
            rate(theirs.per_second),
            rate(theirs.per_second),
            ms(theirs.p50),
            ms(theirs.p99),
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\nRatio: {:.0} % of the raw pipeline, the median of the rounds' (target ≥ 50 %).",
        ratios[ratios.len() / 2] * 100.0
    );
    Ok(())
}

//! Webhook ingestion end to end: signed Twilio SMS webhooks at N concurrent keep-alive
//! connections against the real `switchboard serve` (durable, encrypted, acknowledged), beside a
//! raw pipeline on the same machine in the same run (HTTP form parse + encode + encrypt + sled
//! insert + group commit, no routing, no actors), as the first measurements (docs/BENCHMARKS.md)
//! built it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use clap::Args;
use switchboard_crypto::DataKey;
use switchboard_domain::{ChannelEvent, MessageSource, Recorded, Sid, SidPrefix, Timestamp};

use crate::load::{load_with, Client, Signed};
use crate::stats::{ms, rate, ProcessUsage, Run};

#[derive(Args)]
pub struct HttpArgs {
    /// Seconds of load per target and round.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// Rounds: each loads the daemon, then the raw pipeline, so that a change in the machine's
    /// speed during the run hits both; the ratio reported is the median of the rounds'.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Distinct customers (each gets its own channel).
    #[arg(long, default_value_t = 1000)]
    customers: usize,
    /// The switchboard binary [default: beside this one].
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
    /// Another switchboard binary (an earlier build) loaded in every round too, before or after
    /// the first in turn: the cost of a change, measured in the same run.
    #[arg(long)]
    baseline: Option<std::path::PathBuf>,
    /// Load a daemon already running there (started with this tool's credentials) instead, and
    /// skip the raw pipeline: for profiling.
    #[arg(long)]
    url: Option<String>,
    /// The load generator (see `load.rs`).
    #[arg(long, value_enum, default_value_t = Client::Async)]
    client: Client,
}

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "bench_auth_token";
pub const NUMBER: &str = "+15005550006";

pub fn run(args: &HttpArgs) -> anyhow::Result<()> {
    let binary = daemon_binary(&args.binary)?;
    let seconds = Duration::from_secs(args.seconds);
    if let Some(url) = &args.url {
        setup_flow(url)?;
        let (run, errors) = load(
            args.client,
            &format!("{url}/webhooks/twilio"),
            args.concurrency,
            args.customers,
            seconds,
        );
        println!(
            "{} requests/s, p50 {}, p90 {}, p99 {}, p99.9 {}, max {}, {errors} errors",
            rate(run.per_second),
            ms(run.p50),
            ms(run.p90),
            ms(run.p99),
            ms(run.p999),
            ms(run.max)
        );
        return Ok(());
    }
    let scratch = tempfile::tempdir()?;
    let (mut daemon, base) = start_daemon(&binary, &scratch.path().join("data"))?;
    setup_flow(&base)?;
    let mut baseline = match &args.baseline {
        Some(binary) => {
            let (child, base) = start_daemon(binary, &scratch.path().join("baseline"))?;
            setup_flow(&base)?;
            Some((child, format!("{base}/webhooks/twilio")))
        }
        None => None,
    };
    let raw_base = start_raw_pipeline(&scratch.path().join("raw"))?;
    let (ours_url, raw_url) =
        (format!("{base}/webhooks/twilio"), format!("{raw_base}/webhooks/twilio"));
    let mut rounds = Vec::new();
    let mut baseline_rounds = Vec::new();
    let mut usage = (Duration::ZERO, 0u64, 0usize);
    // This process's CPU per request: while the daemon is loaded it is the load generator's
    // alone; while the raw pipeline is, the generator's and the pipeline's.
    let (mut client_cpu, mut raw_cpu) = ((Duration::ZERO, 0usize), (Duration::ZERO, 0usize));
    let me = std::process::id();
    let load_baseline = |rounds: &mut Vec<(Run, u64)>| {
        if let Some((_, url)) = &baseline {
            rounds.push(load(args.client, url, args.concurrency, args.customers, seconds));
        }
    };
    for round in 0..args.rounds.max(1) {
        // The daemon loaded first in a round measured about a tenth faster than the same binary
        // loaded second: the two take turns at going first.
        if round % 2 == 1 {
            load_baseline(&mut baseline_rounds);
        }
        let before = (ProcessUsage::of(daemon.id()), ProcessUsage::of(me));
        let ours = load(args.client, &ours_url, args.concurrency, args.customers, seconds);
        if let (Some(before), Some(after)) = (before.0, ProcessUsage::of(daemon.id())) {
            let (cpu, switches) = after.since(&before);
            usage = (usage.0 + cpu, usage.1 + switches, usage.2 + ours.0.count);
        }
        let middle = ProcessUsage::of(me);
        if let (Some(before), Some(after)) = (before.1, &middle) {
            client_cpu = (client_cpu.0 + after.since(&before).0, client_cpu.1 + ours.0.count);
        }
        if round % 2 == 0 {
            load_baseline(&mut baseline_rounds);
        }
        let middle = ProcessUsage::of(me);
        let raw = load(args.client, &raw_url, args.concurrency, args.customers, seconds);
        if let (Some(before), Some(after)) = (middle, ProcessUsage::of(me)) {
            raw_cpu = (raw_cpu.0 + after.since(&before).0, raw_cpu.1 + raw.0.count);
        }
        rounds.push((ours, raw));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    if let Some((child, _)) = baseline.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "## Signed SMS webhooks, {} connections, {} customers, {} rounds of {} s each\n",
        args.concurrency,
        args.customers,
        rounds.len(),
        args.seconds
    );
    println!(
        "| round | target | requests/s | p50 | p99 | p99.9 | max | errors | vs raw | p99 vs raw p99 |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let (mut ratios, mut tails, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    let mut baseline_shares = Vec::new();
    for (n, ((ours, ours_errors), (raw, raw_errors))) in rounds.iter().enumerate() {
        let ratio = ours.per_second / raw.per_second.max(1.0);
        // The daemon's p99 follows the machine's: the raw pipeline's own p99 moves with it.
        let tail = ours.p99.as_secs_f64() / raw.p99.as_secs_f64().max(1e-6);
        ratios.push(ratio);
        tails.push(tail);
        p99s.push(ours.p99);
        println!(
            "| {} | switchboard serve (fsync) | {} | {} | {} | {} | {} | {ours_errors} | {:.0} % | {tail:.2} |",
            n + 1,
            rate(ours.per_second),
            ms(ours.p50),
            ms(ours.p99),
            ms(ours.p999),
            ms(ours.max),
            ratio * 100.0
        );
        if let Some((theirs, errors)) = baseline_rounds.get(n) {
            let ratio = theirs.per_second / raw.per_second.max(1.0);
            let tail = theirs.p99.as_secs_f64() / raw.p99.as_secs_f64().max(1e-6);
            let share = ours.per_second / theirs.per_second.max(1.0);
            baseline_shares.push(share);
            println!(
                "| {} | baseline binary (this run's {:.0} % of it) | {} | {} | {} | {} | {} | {errors} | {:.0} % | {tail:.2} |",
                n + 1,
                share * 100.0,
                rate(theirs.per_second),
                ms(theirs.p50),
                ms(theirs.p99),
                ms(theirs.p999),
                ms(theirs.max),
                ratio * 100.0
            );
        }
        println!(
            "| {} | raw pipeline (form + encode + seal + sled + group commit) | {} | {} | {} | {} | {} | {raw_errors} | | |",
            n + 1,
            rate(raw.per_second),
            ms(raw.p50),
            ms(raw.p99),
            ms(raw.p999),
            ms(raw.max),
        );
    }
    ratios.sort_by(f64::total_cmp);
    tails.sort_by(f64::total_cmp);
    p99s.sort();
    println!(
        "\nRatio: {:.0}% of the raw pipeline, the median of the rounds' (target ≥ 50%, p99 < 10 ms); \
         the daemon's p99 {} at the median, {} in the worst round; {:.2} times the raw \
         pipeline's, the median.",
        ratios[ratios.len() / 2] * 100.0,
        ms(p99s[p99s.len() / 2]),
        ms(p99s[p99s.len() - 1]),
        tails[tails.len() / 2]
    );
    if !baseline_shares.is_empty() {
        baseline_shares.sort_by(f64::total_cmp);
        println!(
            "Against the baseline binary: {:.1} % of its throughput, the median of the rounds' \
             ({:.1}–{:.1} %).",
            baseline_shares[baseline_shares.len() / 2] * 100.0,
            baseline_shares[0] * 100.0,
            baseline_shares[baseline_shares.len() - 1] * 100.0
        );
    }
    println!(
        "Transparent huge pages: {} for the daemon and the raw pipeline (SWITCHBOARD_HUGE_PAGES).",
        if crate::huge_pages_off() { "off" } else { "the kernel's policy" }
    );
    let (cpu, switches, requests) = usage;
    if requests > 0 {
        println!(
            "The daemon used {:.0} µs of CPU and {:.1} context switches per request.",
            cpu.as_secs_f64() * 1e6 / requests as f64,
            switches as f64 / requests as f64
        );
    }
    if client_cpu.1 > 0 && raw_cpu.1 > 0 {
        let per = |(cpu, n): (Duration, usize)| cpu.as_secs_f64() * 1e6 / n as f64;
        let (client, both) = (per(client_cpu), per(raw_cpu));
        println!(
            "The load generator used {client:.0} µs per request; the raw pipeline about {:.0} µs \
             (this process's {both:.0} µs per raw request, less the generator's).",
            both - client
        );
    }
    Ok(())
}

/// The `switchboard` binary to measure: the one given, or the one built beside this tool.
pub fn daemon_binary(given: &Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    Ok(match given {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("switchboard"),
    })
}

pub fn start_daemon(
    binary: &std::path::Path,
    data: &std::path::Path,
) -> anyhow::Result<(Child, String)> {
    start_daemon_with(binary, data, &[])
}

/// Starts `switchboard serve` with this tool's credentials and `env`; returns it and its URL.
pub fn start_daemon_with(
    binary: &std::path::Path,
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> anyhow::Result<(Child, String)> {
    start_daemon_on(binary, data, "127.0.0.1:0", env)
}

/// [`start_daemon_with`] on the address `listen` (a restarted daemon keeps its clients' URL).
pub fn start_daemon_on(
    binary: &std::path::Path,
    data: &std::path::Path,
    listen: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(binary)
        .args(["serve", "--listen", listen])
        // One credential from one address stands for a whole contact center's clients here:
        // no rate limits (docs/limits.md), unless a bench sets them.
        .env("SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND", "0")
        .env("SWITCHBOARD_RATE_FAILED_AUTH_PER_MINUTE", "0")
        .env("SWITCHBOARD_RATE_ADDRESS_PER_SECOND", "0")
        .env("SWITCHBOARD_LOG", "warn")
        .envs(env.iter().copied())
        .env("SWITCHBOARD_DATA_DIR", data)
        .env("SWITCHBOARD_ACCOUNT_SID", ACCOUNT)
        .env("SWITCHBOARD_AUTH_TOKEN", TOKEN)
        .env("SWITCHBOARD_API_KEY_SID", "SK0123456789abcdef0123456789abcdef")
        .env("SWITCHBOARD_API_KEY_SECRET", "bench")
        // The bench's stand-ins for providers listen on loopback, which the daemon's outbound
        // policy refuses unless allowed.
        .env("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.1")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("the daemon exited"))??;
        if let Some(url) = line.strip_prefix("switchboard listening on ") {
            break url.to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok((child, base))
}

/// An enabled task flow for the bench's number, made unless one is there already.
pub fn setup_flow(base: &str) -> anyhow::Result<()> {
    match create_flow(base, "sms", NUMBER) {
        // A run before this one (`--url`, the same folder) made it: its webhooks route the same.
        // (The Chat Service made on the way stays, unused: a bench folder is thrown away.)
        Err(error) if matches!(error.downcast_ref(), Some(ureq::Error::Status(409, _))) => Ok(()),
        other => other.map(drop),
    }
}

/// A Chat Service and an enabled task flow of `channel_type` for `identity`; returns the service.
pub fn create_flow(base: &str, channel_type: &str, identity: &str) -> anyhow::Result<String> {
    let auth = format!("Basic {}", base64(&format!("{ACCOUNT}:{TOKEN}")));
    let service: serde_json::Value = ureq::post(&format!("{base}/chat/v2/Services"))
        .set("Authorization", &auth)
        .send_form(&[("FriendlyName", channel_type)])?
        .into_json()?;
    let service = service["sid"].as_str().unwrap_or_default().to_owned();
    ureq::post(&format!("{base}/flex/v1/FlexFlows")).set("Authorization", &auth).send_form(&[
        ("FriendlyName", channel_type),
        ("ChatServiceSid", &service),
        ("ChannelType", channel_type),
        ("ContactIdentity", identity),
        ("Enabled", "true"),
        ("IntegrationType", "task"),
    ])?;
    Ok(service)
}

/// The account's Basic credentials, as an `Authorization` header's value.
pub fn account_auth() -> String {
    format!("Basic {}", base64(&format!("{ACCOUNT}:{TOKEN}")))
}

pub fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `concurrency` keep-alive connections from `client`, each posting signed Twilio webhooks.
pub fn load(
    client: Client,
    url: &str,
    concurrency: usize,
    customers: usize,
    seconds: Duration,
) -> (Run, u64) {
    // Every load gets MessageSids of its own, also against a daemon an earlier run of this tool
    // loaded (`--url`): reused ones would be answered as redeliveries, which store nothing.
    static LOADS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let run = (since_epoch.subsec_nanos() ^ since_epoch.as_secs() as u32)
        .wrapping_add(LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let url_for_signing = url.to_owned();
    let body = "x".repeat(160);
    load_with(client, url, concurrency, seconds, move |t, i| {
        let from = format!("+1415{:07}", (t + i * concurrency) % customers.max(1));
        let params = vec![
            ("From".to_owned(), from),
            ("To".to_owned(), NUMBER.to_owned()),
            ("Body".to_owned(), body.clone()),
            ("MessageSid".to_owned(), format!("SM{run:08x}{t:06x}{i:018x}")),
            ("NumMedia".to_owned(), "0".to_owned()),
        ];
        let signature = switchboard_crypto::webhook::compute(TOKEN, &url_for_signing, &params);
        let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        Signed {
            header: ("X-Twilio-Signature", signature),
            content_type: "application/x-www-form-urlencoded",
            body: form.into_bytes(),
        }
    })
}

/// What the raw pipeline writes per request.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inbound {
    from: String,
    body: String,
    message_sid: String,
}

/// The raw pipeline's group commit: (started, completed, wanted), a wake-up for the flusher,
/// and a watch of `completed` for async waiters.
type Flushes = (Mutex<(u64, u64, u64)>, Condvar, tokio::sync::watch::Sender<u64>);

struct RawState {
    db: sled::Db,
    sealer: switchboard_crypto::Sealer,
    next: std::sync::atomic::AtomicU64,
    flushes: Arc<Flushes>,
}

/// The raw pipeline on 127.0.0.1, its sled folder in `dir`: signed webhooks' route and the Chat
/// message route, each without auth or routing; returns its URL.
pub fn start_raw_pipeline(dir: &std::path::Path) -> anyhow::Result<String> {
    let db = sled::open(dir)?;
    let file = std::fs::File::open(dir.join("db"))?;
    // (started, completed, wanted) and a watch of `completed` for async waiters.
    let flushes = Arc::new((
        Mutex::new((0u64, 0u64, 0u64)),
        Condvar::new(),
        tokio::sync::watch::channel(0u64).0,
    ));
    {
        let (db, flushes) = (db.clone(), Arc::clone(&flushes));
        std::thread::spawn(move || loop {
            let generation = {
                let mut s = flushes.0.lock().unwrap_or_else(|e| e.into_inner());
                while s.2 <= s.1 {
                    s = flushes.1.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                s.0 += 1;
                s.0
            };
            let _ = db.flush();
            let _ = file.sync_data();
            flushes.0.lock().unwrap_or_else(|e| e.into_inner()).1 = generation;
            flushes.2.send_replace(generation);
        });
    }
    let state = web::Data::new(RawState {
        db,
        sealer: DataKey::generate().sealer(),
        next: std::sync::atomic::AtomicU64::new(0),
        flushes,
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/webhooks/twilio", web::post().to(raw_handler))
                    .route(
                        "/chat/v2/Services/{service}/Channels/{channel}/Messages",
                        web::post().to(raw_chat_handler),
                    )
            })
            .workers(2)
            .listen(listener)
            .map(HttpServer::run);
            if let Ok(server) = server {
                let _ = server.await;
            }
        });
    });
    Ok(format!("http://{addr}"))
}

async fn raw_handler(state: web::Data<RawState>, form: web::Form<Inbound>) -> HttpResponse {
    let form = form.into_inner();
    match store_raw(&state, form.from, form.body, Some(form.message_sid)).await {
        Some(_) => HttpResponse::Ok()
            .content_type("text/xml")
            .body(r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#),
        None => HttpResponse::InternalServerError().finish(),
    }
}

/// What the raw pipeline writes per Chat message (`chat`'s yardstick).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChatMessage {
    from: String,
    body: String,
}

/// The same pipeline for a Chat message: answers 201 with the index it stored under.
async fn raw_chat_handler(
    state: web::Data<RawState>,
    form: web::Form<ChatMessage>,
) -> HttpResponse {
    let form = form.into_inner();
    match store_raw(&state, form.from, form.body, None).await {
        Some(index) => HttpResponse::Created().json(serde_json::json!({ "index": index })),
        None => HttpResponse::InternalServerError().finish(),
    }
}

/// Encodes, seals and inserts one message, then waits for a group commit that covers it;
/// returns its number, `None` when sled refused it.
async fn store_raw(
    state: &RawState,
    author: String,
    body: String,
    provider_message_id: Option<String>,
) -> Option<u64> {
    let n = state.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let event = Recorded::new(
        Timestamp(0),
        ChannelEvent::MessageAdded {
            message_sid: Sid::from_parts(SidPrefix::MESSAGE, [1; 16]),
            index: n,
            author,
            body,
            attributes: "{}".into(),
            media: None,
            source: MessageSource::Customer,
            provider_message_id,
        },
    );
    let plain = switchboard_store::encode_event(&event).ok()?;
    let mut sealed = Vec::new();
    state.sealer.seal_into(b"raw", &plain, &mut sealed);
    state.db.insert(n.to_be_bytes(), sealed).ok()?;
    let wanted = {
        let mut s = state.flushes.0.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = s.0 + 1;
        if s.2 < wanted {
            s.2 = wanted;
            state.flushes.1.notify_one();
        }
        wanted
    };
    let mut rx = state.flushes.2.subscribe();
    let _ = rx.wait_for(|done| *done >= wanted).await;
    Some(n)
}

//! TaskRouter under a contact center's load (issue 23's Performance section), each figure beside
//! a yardstick measured in the same run:
//! - offers: W workers, each holding its worker WebSocket (Twilio's TaskRouter grant) and
//!   Available, while new SMS conversations arrive at a steady rate as signed webhooks on a task
//!   flow; the delay from a webhook's answer (durable) to the `reservation.created` frame on the
//!   chosen worker's socket. Each worker accepts and completes what it is offered, so capacity
//!   frees as in a working center;
//! - re-match: N tasks waiting in a workspace with no available worker, then one worker that
//!   matches becomes Available over REST: the time to the update's answer (the router's pass over
//!   what waits, made and appended under its lock before the answer) and to the last of its
//!   `reservation.created` frames; once for a worker whose expression holds for the first tasks
//!   in line (its capacity filled at once) and once for one only the last tasks in line match,
//!   so the pass evaluates every waiting task; with `--idle-after`, the waiting tasks are
//!   idle first (their states out of memory: the daemon's hibernation period);
//! - ingest: signed webhooks, each a new conversation, into a task flow (a channel and a task
//!   each, counted until the router has made every task) beside the same webhooks into a flow
//!   with no task (`external`: the same channels, each message posted to a receiver on loopback,
//!   counted until it has every one; a flow must have an integration, and this is the one
//!   without TaskRouter), and the raw pipeline of `switchboard-bench http`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;

use crate::fake_twilio::FakeTwilio;
use crate::http::{base64, daemon_binary, start_daemon_with, start_raw_pipeline, ACCOUNT, TOKEN};
use crate::load::{load_with, post_numbered, Client, Signed};
use crate::realtime::{enough_descriptors, read_json, Stopped};
use crate::stats::{ms, rate, ProcessUsage, Run};

#[derive(Args)]
pub struct TaskRouterArgs {
    /// Workers, each with its socket open and Available, during the offers.
    #[arg(long, default_value_t = 500)]
    workers: usize,
    /// New conversations per second during the offers.
    #[arg(long, default_value_t = 100)]
    per_second: u64,
    /// Length of the offers' stream of conversations.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Tasks waiting when a worker becomes Available.
    #[arg(long, default_value_t = 10_000)]
    waiting: usize,
    /// The chat capacity of the worker the first tasks in line match.
    #[arg(long, default_value_t = 50)]
    capacity: u32,
    /// Workers made Available one after the other, for each kind of re-match.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Seconds of load per target and round of the ingest.
    #[arg(long, default_value_t = 4)]
    ingest_seconds: u64,
    /// Rounds of the ingest: each loads the task flow, the flow without a task, then the raw
    /// pipeline.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent connections of the ingest.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The switchboard binary [default: beside this one].
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
    /// The daemon's hibernation period in seconds (`SWITCHBOARD_HIBERNATE_AFTER`), after which
    /// a task waiting untouched is idle; the re-match then waits that long (and two seconds
    /// more) after making its waiting tasks, so it passes over idle ones. Channels hibernate
    /// after it too, during the offers and the ingest.
    #[arg(long)]
    idle_after: Option<u64>,
    /// The ingest's load generator (see `load.rs`).
    #[arg(long, value_enum, default_value_t = Client::Async)]
    client: Client,
}

const API_KEY: &str = "SK0123456789abcdef0123456789abcdef";
const API_SECRET: &str = "bench";
/// The task flow's number during the offers.
const OFFER_NUMBER: &str = "+15005550010";
/// The ingest's task flow and its flow without a task.
const INGEST_TASK_NUMBER: &str = "+15005550011";
const INGEST_PLAIN_NUMBER: &str = "+15005550012";

pub fn run(args: &TaskRouterArgs) -> anyhow::Result<()> {
    enough_descriptors(args.workers + 2 * args.repeats + 256)?;
    let binary = daemon_binary(&args.binary)?;
    let scratch = tempfile::tempdir()?;
    let hibernate = args.idle_after.map(|secs| format!("{secs}s"));
    let env: Vec<(&str, &str)> =
        hibernate.iter().map(|h| ("SWITCHBOARD_HIBERNATE_AFTER", h.as_str())).collect();
    let (daemon, base) = start_daemon_with(&binary, &scratch.path().join("data"), &env)?;
    let daemon = Stopped(daemon);
    let rest = Rest::new(&base);
    offers(args, &rest)?;
    rematch(args, &rest)?;
    ingest(args, &rest, daemon.0.id(), &scratch.path().join("raw"))?;
    drop(daemon);
    Ok(())
}

/// Basic-authenticated REST calls to the daemon.
struct Rest {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

impl Rest {
    fn new(base: &str) -> Rest {
        Rest {
            base: base.to_owned(),
            auth: format!("Basic {}", base64(&format!("{ACCOUNT}:{TOKEN}"))),
            agent: ureq::AgentBuilder::new().build(),
        }
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        Ok(self.agent.get(&url).set("Authorization", &self.auth).call()?.into_json()?)
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        Ok(self.agent.post(&url).set("Authorization", &self.auth).send_form(form)?.into_json()?)
    }

    /// A workspace: (its REST path, its SID, its activities by name).
    fn workspace(&self, sid: &str) -> anyhow::Result<(String, String, HashMap<String, String>)> {
        let path = format!("/taskrouter/v1/Workspaces/{sid}");
        let activities = self.get(&format!("{path}/Activities"))?;
        let by_name = items(&activities, "activities")
            .iter()
            .map(|a| (text(a, "friendly_name"), text(a, "sid")))
            .collect();
        Ok((path, sid.to_owned(), by_name))
    }

    /// A new FIFO workspace, as [`Rest::workspace`] gives it.
    fn new_workspace(
        &self,
        name: &str,
    ) -> anyhow::Result<(String, String, HashMap<String, String>)> {
        let made = self
            .post("/taskrouter/v1/Workspaces", &[("FriendlyName", name), ("Template", "FIFO")])?;
        self.workspace(&text(&made, "sid"))
    }

    /// A Chat Service and an enabled SMS Flex Flow for `number` with `integration` and its
    /// parameters.
    fn flow(&self, number: &str, integration: &[(&str, &str)]) -> anyhow::Result<()> {
        let service = self.post("/chat/v2/Services", &[("FriendlyName", number)])?;
        let service = text(&service, "sid");
        let mut form = vec![
            ("FriendlyName", number),
            ("ChatServiceSid", service.as_str()),
            ("ChannelType", "sms"),
            ("ContactIdentity", number),
            ("Enabled", "true"),
        ];
        form.extend_from_slice(integration);
        self.post("/flex/v1/FlexFlows", &form)?;
        Ok(())
    }

    /// A worker of `workspace` in `activity` with `attributes`; returns its SID.
    fn worker(
        &self,
        workspace: &str,
        name: &str,
        activity: &str,
        attributes: &Value,
    ) -> anyhow::Result<String> {
        let attributes = attributes.to_string();
        let made = self.post(
            &format!("{workspace}/Workers"),
            &[("FriendlyName", name), ("ActivitySid", activity), ("Attributes", &attributes)],
        )?;
        Ok(text(&made, "sid"))
    }
}

fn items(list: &Value, key: &str) -> Vec<Value> {
    list[key].as_array().cloned().unwrap_or_default()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// A worker's access token with Twilio's TaskRouter grant alone, signed as the helper
/// libraries sign it (HS256, `cty: twilio-fpa;v=1`).
fn worker_token(workspace: &str, worker: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let header = json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"});
    let claims = json!({
        "jti": format!("{API_KEY}-{now}"), "iss": API_KEY, "sub": ACCOUNT, "exp": now + 3600,
        "grants": {"identity": worker,
                   "task_router": {"workspace_sid": workspace, "worker_sid": worker, "role": "worker"}},
    });
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let message = format!("{}.{}", encode(&header), encode(&claims));
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(API_SECRET.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// A `reservation.created` frame as a worker's socket read it.
struct Offered {
    at: Instant,
    frame: Value,
}

/// What a worker's socket does with its reservations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answering {
    /// Accepts each, then completes it once accepted: the slot comes back.
    AcceptAndComplete,
    /// Leaves them pending.
    Nothing,
}

/// A worker's socket read on a thread of its own, which reports every `reservation.created`
/// and answers as `answering` says, until `stop`.
fn worker_socket(
    base: &str,
    workspace: &str,
    worker: &str,
    answering: Answering,
    offered: mpsc::Sender<Offered>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let address = base.trim_start_matches("http://").to_owned();
    let url = format!("ws://{address}/ws?token={}", worker_token(workspace, worker));
    let stream = std::net::TcpStream::connect(&address)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (mut socket, _) = tungstenite::client(url, MaybeTlsStream::Plain(stream))
        .map_err(|e| anyhow::anyhow!("WebSocket handshake: {e}"))?;
    let ready = read_json(&mut socket)?;
    anyhow::ensure!(ready["type"] == "ready", "the worker's socket opened with {ready}");
    // Read with a short timeout so the thread sees `stop`.
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    }
    let thread = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
        let mut answered = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let frame = match socket.read() {
                Ok(tungstenite::Message::Text(text)) => {
                    serde_json::from_str::<Value>(&text).unwrap_or_default()
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(_) => break,
            };
            if frame["type"] != "taskrouter_event" {
                continue;
            }
            let status = match frame["event_type"].as_str() {
                Some("reservation.created") => {
                    let _ = offered.send(Offered { at: Instant::now(), frame: frame.clone() });
                    "accepted"
                }
                Some("reservation.accepted") => "completed",
                _ => continue,
            };
            if answering == Answering::AcceptAndComplete {
                answered += 1;
                let answer = json!({
                    "type": "reservation_update",
                    "id": format!("a{answered}"),
                    "task_sid": frame["task_sid"],
                    "reservation_sid": frame["reservation_sid"],
                    "status": status,
                });
                if socket.send(tungstenite::Message::Text(answer.to_string())).is_err() {
                    break;
                }
            }
        }
        // A clean close: ours sent, the server's read (a few frames may come before it).
        let _ = socket.close(None);
        for _ in 0..50 {
            if let Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) =
                socket.read()
            {
                break;
            }
        }
    })?;
    Ok(thread)
}

/// The signed form of a customer's first message `body` to `to` from `from`.
fn inbound(url: &str, from: &str, to: &str, sid: &str) -> Signed {
    let params = vec![
        ("From".to_owned(), from.to_owned()),
        ("To".to_owned(), to.to_owned()),
        ("Body".to_owned(), "hello, I need help".to_owned()),
        ("MessageSid".to_owned(), sid.to_owned()),
        ("NumMedia".to_owned(), "0".to_owned()),
    ];
    let signature = switchboard_crypto::webhook::compute(TOKEN, url, &params);
    let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    Signed {
        header: ("X-Twilio-Signature", signature),
        content_type: "application/x-www-form-urlencoded",
        body: form.into_bytes(),
    }
}

/// When a conversation's webhook was sent and answered (`None`: it was not answered 200).
type Answered = Option<(Instant, Instant)>;

/// The offers' customer `n`.
fn customer(n: usize) -> String {
    format!("+1417{n:07}")
}

fn offers(args: &TaskRouterArgs, rest: &Rest) -> anyhow::Result<()> {
    // The workspace the first start made for Flex.
    let workspaces = rest.get("/taskrouter/v1/Workspaces")?;
    let first = items(&workspaces, "workspaces").first().map(|w| text(w, "sid"));
    let (path, workspace, activities) =
        rest.workspace(&first.ok_or_else(|| anyhow::anyhow!("no workspace"))?)?;
    let available = activities.get("Available").cloned().unwrap_or_default();
    rest.flow(
        OFFER_NUMBER,
        &[("IntegrationType", "task"), ("Integration.WorkspaceSid", workspace.as_str())],
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let (offered_tx, offered_rx) = mpsc::channel();
    let started = Instant::now();
    let mut threads = Vec::with_capacity(args.workers);
    for n in 0..args.workers {
        let name = format!("agent.{n}");
        let attributes = json!({"contact_uri": format!("client:{name}")});
        let worker = rest.worker(&path, &name, &available, &attributes)?;
        threads.push(worker_socket(
            &rest.base,
            &workspace,
            &worker,
            Answering::AcceptAndComplete,
            offered_tx.clone(),
            Arc::clone(&stop),
        )?);
    }
    let set_up = started.elapsed();

    let total = (args.per_second * args.seconds) as usize;
    let (times, refused, sent_for) = send_conversations(args, &rest.base, total);
    let (frames, extra_offers) = collect_offers(&offered_rx, total);
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    report_offers(args, set_up, &times, refused, sent_for, &frames, extra_offers);
    Ok(())
}

/// `total` new conversations' first messages at `args.per_second`, from four senders on a fixed
/// schedule: when each was sent and answered, how many were refused, and how long it took.
fn send_conversations(
    args: &TaskRouterArgs,
    base: &str,
    total: usize,
) -> (Vec<Answered>, usize, Duration) {
    let times: Arc<Mutex<Vec<Answered>>> = Arc::new(Mutex::new(vec![None; total]));
    let url = format!("{base}/webhooks/twilio");
    let interval = Duration::from_nanos(1_000_000_000 / args.per_second.max(1));
    let senders = 4;
    let origin = Instant::now();
    let refused = Arc::new(AtomicUsize::new(0));
    let sending: Vec<_> = (0..senders)
        .map(|s| {
            let (url, times, refused) = (url.clone(), Arc::clone(&times), Arc::clone(&refused));
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                for n in (s..total).step_by(senders) {
                    let due = origin + interval * u32::try_from(n).unwrap_or(u32::MAX);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let signed = inbound(&url, &customer(n), OFFER_NUMBER, &format!("SM1{n:031x}"));
                    let sent = Instant::now();
                    let answer = agent
                        .post(&url)
                        .set(signed.header.0, &signed.header.1)
                        .set("Content-Type", signed.content_type)
                        .send_bytes(&signed.body);
                    match answer {
                        Ok(response) if response.status() == 200 => {
                            let mut times = times.lock().unwrap_or_else(|e| e.into_inner());
                            times[n] = Some((sent, Instant::now()));
                        }
                        _ => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for thread in sending {
        let _ = thread.join();
    }
    let sent_for = origin.elapsed();
    let times = times.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (times, refused.load(Ordering::Relaxed), sent_for)
}

/// Every offer's customer number and when its frame was read (until `total`, or none for
/// 10 s), and how many offers were of another task or again.
fn collect_offers(
    offered_rx: &mpsc::Receiver<Offered>,
    total: usize,
) -> (HashMap<usize, Instant>, usize) {
    let mut frames: HashMap<usize, Instant> = HashMap::new();
    let mut extra_offers = 0usize;
    while frames.len() < total {
        let Ok(offer) = offered_rx.recv_timeout(Duration::from_secs(10)) else { break };
        let attributes: Value = offer.frame["task"]["attributes"]
            .as_str()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default();
        let number = attributes["from"]
            .as_str()
            .and_then(|f| f.strip_prefix("+1417"))
            .and_then(|n| n.parse::<usize>().ok());
        match number {
            Some(n) if n < total && !frames.contains_key(&n) => {
                frames.insert(n, offer.at);
            }
            _ => extra_offers += 1,
        }
    }
    (frames, extra_offers)
}

fn report_offers(
    args: &TaskRouterArgs,
    set_up: Duration,
    times: &[Answered],
    refused: usize,
    sent_for: Duration,
    frames: &HashMap<usize, Instant>,
    extra_offers: usize,
) {
    let total = times.len();
    let (mut from_answer, mut from_send, mut early) = (Vec::new(), Vec::new(), 0usize);
    for (n, at) in frames {
        let Some((sent, answered)) = times[*n] else { continue };
        if *at < answered {
            early += 1;
        }
        from_answer.push(at.saturating_duration_since(answered));
        from_send.push(at.saturating_duration_since(sent));
    }
    let webhooks: Vec<Duration> = times.iter().flatten().map(|(s, a)| *a - *s).collect();
    let answered = webhooks.len();
    let webhooks = Run::from(webhooks, sent_for);
    let from_answer = Run::from(from_answer, sent_for);
    let from_send = Run::from(from_send, sent_for);
    println!(
        "## TaskRouter offers: {} workers on their sockets, {} new SMS conversations/s for {} s\n",
        args.workers, args.per_second, args.seconds
    );
    println!(
        "{} workers made and their sockets opened in {:.1} s. {answered} of {total} webhooks \
         answered 200 ({} refused) in {:.1} s; {} offers read on the workers' sockets ({} \
         before their webhook's answer was read; {extra_offers} offers again or of another \
         task).\n",
        args.workers,
        set_up.as_secs_f64(),
        refused,
        sent_for.as_secs_f64(),
        frames.len(),
        early,
    );
    println!("| delay | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|");
    for (name, run) in [
        ("webhook answered → `reservation.created` on the chosen worker's socket", from_answer),
        ("webhook sent → `reservation.created`", from_send),
        ("yardstick: the webhook's own answer (sent → answered)", webhooks),
    ] {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            ms(run.p50),
            ms(run.p90),
            ms(run.p99),
            ms(run.p999),
            ms(run.max)
        );
    }
    println!();
}

/// A routing rule only some workers meet: the target's expression matches a task's `language`
/// against the worker's `languages`.
fn languages_workflow(queue: &str) -> String {
    json!({"task_routing": {
        "filters": [{"filter_friendly_name": "By language", "expression": "1==1",
                     "targets": [{"queue": queue,
                                  "expression": "worker.languages HAS task.language"}]}],
        "default_filter": {"queue": queue}}})
    .to_string()
}

fn rematch(args: &TaskRouterArgs, rest: &Rest) -> anyhow::Result<()> {
    let (path, workspace, activities) = rest.new_workspace("Re-match")?;
    let offline = activities.get("Offline").cloned().unwrap_or_default();
    let available = activities.get("Available").cloned().unwrap_or_default();
    let queues = rest.get(&format!("{path}/TaskQueues"))?;
    let queue = items(&queues, "task_queues").first().map(|q| text(q, "sid")).unwrap_or_default();
    let workflows = rest.get(&format!("{path}/Workflows"))?;
    let workflow =
        items(&workflows, "workflows").first().map(|w| text(w, "sid")).unwrap_or_default();
    rest.post(
        &format!("{path}/Workflows/{workflow}"),
        &[("Configuration", &languages_workflow(&queue))],
    )?;

    // The waiting tasks, all in one queue in the order they were made: English ones, then the
    // last `repeats` in Spanish, which only the Spanish-speaking workers take.
    let total = args.waiting;
    let spanish_from = total.saturating_sub(args.repeats);
    let made_in = waiting_tasks(rest, &path, workflow, total, spanish_from)?;
    println!(
        "## TaskRouter re-match: {total} tasks waiting, then one matching worker becomes Available\n"
    );
    println!(
        "{total} tasks made over REST in {:.1} s ({}), none reserved: no worker is available.\n",
        made_in.as_secs_f64(),
        rate(total as f64 / made_in.as_secs_f64())
    );
    if let Some(secs) = args.idle_after {
        // What the daemon counts for its tasks falls when they go idle (a daemon without idle
        // tasks keeps it): printed, so the run shows whether the pass was over idle ones.
        let held = tasks_bytes(rest)?;
        std::thread::sleep(Duration::from_secs(secs + 2));
        println!(
            "Waited {} s for the tasks to go idle: the daemon's tasks counted at {held} bytes before, {} after.\n",
            secs + 2,
            tasks_bytes(rest)?
        );
    }
    println!(
        "| worker made Available | tasks it can take | reservations made | update answered | last `reservation.created` on its socket |\n|---|---|---|---|---|"
    );
    for (kind, language, capacity) in [
        ("speaks English: the first tasks in line match", "en", args.capacity),
        (
            "speaks Spanish: only the last tasks in line match, every waiting task evaluated",
            "es",
            1,
        ),
    ] {
        for r in 0..args.repeats {
            let name = format!("{language}.{r}");
            let who = (name.as_str(), language, capacity);
            let (answered, last, count) =
                make_available(rest, (&path, &workspace), (&offline, &available), who)?;
            println!(
                "| {kind} ({}) | {capacity} | {count} | {} | {} |",
                r + 1,
                ms(answered),
                last.map_or("none".into(), ms)
            );
        }
    }
    println!();
    Ok(())
}

/// `total` tasks of `workflow` made over REST, in English but from `spanish_from` on: how long
/// making them took.
fn waiting_tasks(
    rest: &Rest,
    path: &str,
    workflow: String,
    total: usize,
    spanish_from: usize,
) -> anyhow::Result<Duration> {
    let tasks_url = format!("{path}/Tasks");
    let auth = rest.auth.clone();
    let started = Instant::now();
    let made = post_numbered(&rest.base, 16, total, move |n| {
        let language = if n >= spanish_from { "es" } else { "en" };
        let attributes = json!({"language": language, "n": n}).to_string();
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("Attributes", attributes.as_str()),
                ("TaskChannel", "chat"),
                ("WorkflowSid", workflow.as_str()),
            ])
            .finish();
        let signed = Signed {
            header: ("Authorization", auth.clone()),
            content_type: "application/x-www-form-urlencoded",
            body: form.into_bytes(),
        };
        (tasks_url.clone(), signed)
    });
    let made_in = started.elapsed();
    anyhow::ensure!(made.errors == 0, "{} of {total} tasks were not made", made.errors);
    Ok(made_in)
}

/// A new worker speaking `language` with chat capacity `capacity`, its socket open, made
/// Available: how long the update took to be answered, when its last offer arrived, and how
/// many offers came (their reservations accepted afterwards).
fn make_available(
    rest: &Rest,
    (path, workspace): (&str, &str),
    (offline, available): (&str, &str),
    (name, language, capacity): (&str, &str, u32),
) -> anyhow::Result<(Duration, Option<Duration>, usize)> {
    let attributes = json!({"languages": [language], "contact_uri": format!("client:{name}")});
    let worker = rest.worker(path, name, offline, &attributes)?;
    let channel = format!("{path}/Workers/{worker}/Channels/chat");
    rest.post(&channel, &[("Capacity", &capacity.to_string())])?;
    let stop = Arc::new(AtomicBool::new(false));
    let (offered_tx, offered_rx) = mpsc::channel();
    let thread = worker_socket(
        &rest.base,
        workspace,
        &worker,
        Answering::Nothing,
        offered_tx,
        Arc::clone(&stop),
    )?;
    let asked = Instant::now();
    rest.post(&format!("{path}/Workers/{worker}"), &[("ActivitySid", available)])?;
    let answered = asked.elapsed();
    let mut last = None;
    let mut offers = Vec::new();
    while offers.len() < capacity as usize {
        let Ok(offer) = offered_rx.recv_timeout(Duration::from_secs(10)) else { break };
        last = Some(offer.at - asked);
        offers.push(offer.frame);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();
    let count = offers.len();
    // Accepted once timed, so that no reservation times out later and sends its task back
    // to waiting during the ingest, whose count of made tasks reads the waiting gauge.
    for offer in offers {
        let (task, reservation) = (text(&offer, "task_sid"), text(&offer, "reservation_sid"));
        rest.post(
            &format!("{path}/Tasks/{task}/Reservations/{reservation}"),
            &[("ReservationStatus", "accepted")],
        )?;
    }
    Ok((answered, last, count))
}

/// The ingest's customers: a number of its own for every webhook of the run.
static NEXT_CUSTOMER: AtomicUsize = AtomicUsize::new(0);

fn ingest(
    args: &TaskRouterArgs,
    rest: &Rest,
    pid: u32,
    raw_dir: &std::path::Path,
) -> anyhow::Result<()> {
    // A workspace with no worker: each task is made, routed and waits (the gauge counts it).
    let (_, workspace, _) = rest.new_workspace("Ingest")?;
    rest.flow(
        INGEST_TASK_NUMBER,
        &[("IntegrationType", "task"), ("Integration.WorkspaceSid", workspace.as_str())],
    )?;
    let receiver = FakeTwilio::start()?;
    let receiver_url = format!("{}/integration", receiver.url);
    rest.flow(
        INGEST_PLAIN_NUMBER,
        &[("IntegrationType", "external"), ("Integration.Url", receiver_url.as_str())],
    )?;
    let raw = start_raw_pipeline(raw_dir)?;
    let seconds = Duration::from_secs(args.ingest_seconds);
    println!(
        "## TaskRouter ingest: signed SMS webhooks, each a new conversation, {} connections, {} rounds of {} s\n",
        args.concurrency, args.rounds, args.ingest_seconds
    );
    println!(
        "| round | target | conversations/s (until every task or delivery was made) | acknowledged/s | p50 | p99 | errors | daemon CPU a webhook |\n|---|---|---|---|---|---|---|---|"
    );
    let mut ratios = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let mut through = [0.0f64; 2];
        for (i, (name, number)) in [
            ("switchboard serve, task flow (a channel and a task each)", INGEST_TASK_NUMBER),
            (
                "switchboard serve, external flow (a channel and a delivery each)",
                INGEST_PLAIN_NUMBER,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            through[i] = ingest_flow(args, rest, pid, &receiver, round, (name, number))?;
        }
        let (raw_run, raw_errors) = new_conversations(args, &raw, INGEST_PLAIN_NUMBER, seconds);
        println!(
            "| {round} | raw pipeline (form + encode + seal + sled + group commit) | {} | {} | {} | {} | {raw_errors} | |",
            rate(raw_run.per_second),
            rate(raw_run.per_second),
            ms(raw_run.p50),
            ms(raw_run.p99),
        );
        ratios.push(through[0] / through[1].max(1.0));
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\nThe task flow's throughput is {:.0} % of the external flow's, the median of the rounds' \
         (target: within 20 % of ingest without the task integration).\n",
        ratios[ratios.len() / 2] * 100.0
    );
    Ok(())
}

/// One round's load of the flow answering for `number`, counted until its integration's work
/// is done: the conversations a second, printed as a row.
fn ingest_flow(
    args: &TaskRouterArgs,
    rest: &Rest,
    pid: u32,
    receiver: &FakeTwilio,
    round: usize,
    (name, number): (&str, &str),
) -> anyhow::Result<f64> {
    let seconds = Duration::from_secs(args.ingest_seconds);
    let waiting_before = tasks_waiting(rest)?;
    let delivered_before = receiver.sent();
    let cpu_before = ProcessUsage::of(pid);
    let started = Instant::now();
    let (run, errors) = new_conversations(args, &rest.base, number, seconds);
    // The task flow's webhooks are done when the router has made their tasks.
    // Each flow's webhooks are done when its integration's work is: the router has made
    // every task (the waiting gauge, read every 100 ms: a scrape samples every gauge,
    // work the daemon does meanwhile), the receiver has every delivery.
    let done = || -> anyhow::Result<usize> {
        Ok(if number == INGEST_TASK_NUMBER {
            tasks_waiting(rest)?.saturating_sub(waiting_before)
        } else {
            receiver.sent() - delivered_before
        })
    };
    let (mut made, mut since) = (0usize, Instant::now());
    while made < run.count && since.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        let now = done()?;
        if now != made {
            (made, since) = (now, Instant::now());
        }
    }
    let elapsed = started.elapsed();
    let cpu = match (cpu_before, ProcessUsage::of(pid)) {
        (Some(before), Some(after)) => after.since(&before).0,
        _ => Duration::ZERO,
    };
    let through = run.count as f64 / elapsed.as_secs_f64();
    let what = if number == INGEST_TASK_NUMBER { "tasks" } else { "deliveries" };
    let tasks = format!(" ({made} {what} of {} webhooks)", run.count);
    println!(
        "| {round} | {name} | {} | {} | {} | {} | {errors}{tasks} | {:.0} µs |",
        rate(through),
        rate(run.per_second),
        ms(run.p50),
        ms(run.p99),
        cpu.as_secs_f64() * 1e6 / run.count.max(1) as f64
    );
    Ok(through)
}

/// Signed webhooks to `to` on `base`, each from a customer never seen before.
fn new_conversations(args: &TaskRouterArgs, base: &str, to: &str, seconds: Duration) -> (Run, u64) {
    let url = format!("{base}/webhooks/twilio");
    let (signing_url, to) = (url.clone(), to.to_owned());
    load_with(args.client, &url, args.concurrency, seconds, move |_, _| {
        let n = NEXT_CUSTOMER.fetch_add(1, Ordering::Relaxed);
        inbound(&signing_url, &format!("+1418{n:07}"), &to, &format!("SM2{n:031x}"))
    })
}

/// The bytes the daemon counts for its tasks now (`switchboard_memory_bytes{holder="tasks"}`).
fn tasks_bytes(rest: &Rest) -> anyhow::Result<u64> {
    Ok(series(rest, "switchboard_memory_bytes{holder=\"tasks\"}")? as u64)
}

/// The tasks waiting in every workspace, as the daemon's `/metrics` counts them now.
fn tasks_waiting(rest: &Rest) -> anyhow::Result<usize> {
    Ok(series(rest, "switchboard_taskrouter_tasks_waiting")? as usize)
}

/// The value of one series of the daemon's `/metrics` (its name and labels as exported), 0 when
/// it is not there.
fn series(rest: &Rest, name: &str) -> anyhow::Result<f64> {
    let url = format!("{}/metrics", rest.base);
    let text = rest.agent.get(&url).set("Authorization", &rest.auth).call()?.into_string()?;
    let value = text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' '));
    Ok(value.and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0))
}

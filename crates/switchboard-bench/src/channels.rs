//! The other channels, end to end against the real daemon: signed WhatsApp Cloud webhooks at N
//! concurrent connections beside signed SMS webhooks in the same run, and agent replies
//! delivered to a fast fake of the Graph API on loopback. Replies are measured twice: as posted
//! and delivered together (delivery keeps up with posting), and as a backlog drained once the
//! fake, held shut while every reply was posted, opens (outbound messages per second).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use clap::Args;
use serde_json::json;

use crate::http::{base64, start_daemon_with, ACCOUNT, TOKEN};
use crate::load::{load_with, Client, Signed};
use crate::stats::{ms, rate};

#[derive(Args)]
pub struct ChannelsArgs {
    /// Seconds of webhook load per target.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections for the webhooks and for posting replies.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Distinct customers (each gets its own channel).
    #[arg(long, default_value_t = 1000)]
    customers: usize,
    /// Channels that receive replies, and replies per channel.
    #[arg(long, default_value_t = 200)]
    reply_channels: usize,
    #[arg(long, default_value_t = 20)]
    replies_per_channel: usize,
    /// The switchboard binary [default: beside this one].
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
    /// The load generator of the webhooks (see `load.rs`).
    #[arg(long, value_enum, default_value_t = Client::Async)]
    client: Client,
}

const APP_SECRET: &str = "bench_app_secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
/// A second number, whose service holds only the channels that receive replies.
const REPLY_NUMBER_ID: &str = "106540352242923";

pub fn run(args: &ChannelsArgs) -> anyhow::Result<()> {
    let binary = crate::http::daemon_binary(&args.binary)?;
    let graph = FakeGraph::start()?;
    let scratch = tempfile::tempdir()?;
    let (mut daemon, base) = start_daemon_with(
        &binary,
        &scratch.path().join("data"),
        &[
            ("SWITCHBOARD_META_APP_SECRET", APP_SECRET),
            ("SWITCHBOARD_GRAPH_API_BASE", &graph.url),
            ("SWITCHBOARD_WHATSAPP_TOKEN", "bench-token"),
        ],
    )?;
    crate::http::setup_flow(&base)?;
    crate::http::create_flow(&base, "whatsapp", PHONE_NUMBER_ID)?;
    let service = crate::http::create_flow(&base, "whatsapp", REPLY_NUMBER_ID)?;
    let seconds = Duration::from_secs(args.seconds);

    let sms = crate::http::load(
        args.client,
        &format!("{base}/webhooks/twilio"),
        args.concurrency,
        args.customers,
        seconds,
    );
    let whatsapp = load_whatsapp(args.client, &base, args.concurrency, args.customers, seconds);
    let outbound = replies(&base, &service, args, &graph)?;
    graph.shut();
    let backlog = replies(&base, &service, args, &graph)?;
    let _ = daemon.kill();
    let _ = daemon.wait();

    println!(
        "## WhatsApp Cloud webhooks and replies, {} connections, {} customers\n",
        args.concurrency, args.customers
    );
    println!("| what | rate | p50 | p99 | errors |\n|---|---|---|---|---|");
    for (name, (run, errors)) in [
        ("signed SMS webhooks (Twilio)", sms),
        ("signed WhatsApp Cloud webhooks (one message each)", whatsapp),
    ] {
        println!(
            "| {name} | {} | {} | {} | {errors} |",
            rate(run.per_second),
            ms(run.p50),
            ms(run.p99)
        );
    }
    println!(
        "| agent replies posted over REST ({} channels × {}) | {} | | | |",
        args.reply_channels,
        args.replies_per_channel,
        rate(outbound.posted_per_second)
    );
    println!(
        "| replies delivered to the fake Graph API, first post to last received | {} | | | {} missing |",
        rate(outbound.delivered_per_second),
        outbound.missing
    );
    println!(
        "| a backlog of {} replies drained once the fake opens (outbound messages/s) | {} | | | {} missing |",
        backlog.total,
        rate(backlog.delivered_per_second),
        backlog.missing
    );
    Ok(())
}

/// One WhatsApp text message from customer `wa_id`, as Meta posts it, signed.
fn whatsapp_webhook(number_id: &str, wa_id: &str, id: &str, body: &str) -> Signed {
    let envelope = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": number_id},
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": id, "timestamp": "1700000000", "type": "text",
                      "text": {"body": body}}],
    }}]}]});
    let bytes = envelope.to_string().into_bytes();
    Signed {
        header: (
            "X-Hub-Signature-256",
            switchboard_crypto::webhook::meta_signature(APP_SECRET, &bytes),
        ),
        content_type: "application/json",
        body: bytes,
    }
}

fn load_whatsapp(
    client: Client,
    base: &str,
    concurrency: usize,
    customers: usize,
    seconds: Duration,
) -> (crate::stats::Run, u64) {
    let text = "x".repeat(160);
    load_with(client, &format!("{base}/webhooks/whatsapp"), concurrency, seconds, move |t, i| {
        let wa_id = format!("44770{:07}", (t + i * concurrency) % customers.max(1));
        whatsapp_webhook(PHONE_NUMBER_ID, &wa_id, &format!("wamid.{t:08x}{i:024x}"), &text)
    })
}

struct Outbound {
    total: u64,
    posted_per_second: f64,
    delivered_per_second: f64,
    missing: u64,
}

/// Opens `reply_channels` channels (one inbound message each), then posts every reply from
/// `concurrency` threads and waits for the fake to receive them all (or 60 s).
fn replies(
    base: &str,
    service: &str,
    args: &ChannelsArgs,
    graph: &FakeGraph,
) -> anyhow::Result<Outbound> {
    let auth = format!("Basic {}", base64(&format!("{ACCOUNT}:{TOKEN}")));
    let mut channels = Vec::new();
    for n in 0..args.reply_channels {
        // The same customers each time: a second call finds their channels.
        let wa_id = format!("44799{n:07}");
        let request = whatsapp_webhook(REPLY_NUMBER_ID, &wa_id, &format!("wamid.open{n}"), "hello");
        ureq::post(&format!("{base}/webhooks/whatsapp"))
            .set(request.header.0, &request.header.1)
            .set("Content-Type", request.content_type)
            .send_bytes(&request.body)?;
    }
    let mut page =
        Some(format!("{base}/chat/v2/Services/{service}/Channels?Type=private&PageSize=100"));
    while let Some(url) = page {
        let list: serde_json::Value =
            ureq::get(&url).set("Authorization", &auth).call()?.into_json()?;
        for channel in list["channels"].as_array().into_iter().flatten() {
            channels.push(channel["sid"].as_str().unwrap_or_default().to_owned());
        }
        page = list["meta"]["next_page_url"].as_str().map(str::to_owned);
    }
    let total = (channels.len() * args.replies_per_channel) as u64;
    let before = graph.received.load(Ordering::Relaxed);
    let channels = Arc::new(channels);
    let started = Instant::now();
    let threads: Vec<_> = (0..args.concurrency)
        .map(|t| {
            let (channels, auth, base, service) =
                (Arc::clone(&channels), auth.clone(), base.to_owned(), service.to_owned());
            let (per_channel, concurrency) = (args.replies_per_channel, args.concurrency);
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().max_idle_connections_per_host(1).build();
                for round in 0..per_channel {
                    for channel in channels.iter().skip(t).step_by(concurrency) {
                        let url = format!(
                            "{base}/chat/v2/Services/{service}/Channels/{channel}/Messages"
                        );
                        let body = format!("reply {round}");
                        let _ = agent
                            .post(&url)
                            .set("Authorization", &auth)
                            .send_form(&[("From", "agent.bench"), ("Body", &body)]);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let posted = started.elapsed();
    // A shut fake opens now: what follows is the backlog draining.
    let started = if graph.open() { Instant::now() } else { started };
    let deadline = Instant::now() + Duration::from_secs(60);
    while graph.received.load(Ordering::Relaxed) - before < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let delivered = graph.received.load(Ordering::Relaxed) - before;
    let elapsed = graph.last_at(started).unwrap_or_else(|| started.elapsed());
    Ok(Outbound {
        total,
        posted_per_second: total as f64 / posted.as_secs_f64(),
        delivered_per_second: delivered as f64 / elapsed.as_secs_f64(),
        missing: total.saturating_sub(delivered),
    })
}

/// A Graph API stand-in that answers every send at once with a fresh `wamid`, or, while shut,
/// holds every send until it opens.
struct FakeGraph {
    url: String,
    received: Arc<AtomicU64>,
    shut: Arc<std::sync::atomic::AtomicBool>,
    /// Nanoseconds after `epoch` of the last request.
    last: Arc<AtomicU64>,
    epoch: Instant,
}

impl FakeGraph {
    fn start() -> anyhow::Result<FakeGraph> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let received = Arc::new(AtomicU64::new(0));
        let last = Arc::new(AtomicU64::new(0));
        let shut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let epoch = Instant::now();
        let (count, stamp, gate) = (Arc::clone(&received), Arc::clone(&last), Arc::clone(&shut));
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let (count, stamp, gate) =
                        (Arc::clone(&count), Arc::clone(&stamp), Arc::clone(&gate));
                    App::new().default_service(web::to(move || {
                        let (count, stamp, gate) =
                            (Arc::clone(&count), Arc::clone(&stamp), Arc::clone(&gate));
                        async move {
                            while gate.load(Ordering::Relaxed) {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                            let n = count.fetch_add(1, Ordering::Relaxed);
                            stamp.store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                            HttpResponse::Ok().json(
                                json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.out{n}")}]}),
                            )
                        }
                    }))
                })
                .workers(1)
                .max_connections(100_000)
                .listen(listener)
                .map(HttpServer::run);
                if let Ok(server) = server {
                    let _ = server.await;
                }
            });
        });
        Ok(FakeGraph { url, received, shut, last, epoch })
    }

    /// Holds every send from now on, until `open`.
    fn shut(&self) {
        self.shut.store(true, Ordering::Relaxed);
    }

    /// Lets the held sends through; whether it was shut.
    fn open(&self) -> bool {
        self.shut.swap(false, Ordering::Relaxed)
    }

    /// How long after `start` the last request arrived.
    fn last_at(&self, start: Instant) -> Option<Duration> {
        let last = self.epoch + Duration::from_nanos(self.last.load(Ordering::Relaxed));
        last.checked_duration_since(start)
    }
}

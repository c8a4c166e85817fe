//! `console`: the agent console in headless Chromium (issue 24, Performance). Seeds an agent with
//! past conversations (SMS customers answered and completed through the real task router) and
//! two open ones, one of many messages; then times, in the browser (`ui/e2e/console-bench.mjs`,
//! playwright-core and Debian's Chromium): the console's first load to interactive for that
//! agent beside a fresh agent's (the yardstick: the same page with no history), and opening the
//! long conversation to its latest page beside opening a short one (the yardstick), then each
//! page back as it is scrolled. Twice: right after the seeding (the router still holds the
//! tasks finished in the last five minutes, and a worker's socket replays them), and after a
//! clean restart (past tasks only in the log, as on any later day).

use std::process::Command;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use crate::http::{base64, start_daemon_with, ACCOUNT, NUMBER, TOKEN};
use crate::realtime::Stopped;

#[derive(Args)]
pub struct ConsoleArgs {
    /// Past conversations (answered and completed) of the measured agent.
    #[arg(long, default_value_t = 1000)]
    past: usize,
    /// Messages of the long open conversation.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Loads and openings timed, each.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    #[arg(long)]
    binary: Option<std::path::PathBuf>,
    /// Debian's Chromium, or another.
    #[arg(long, default_value = "/usr/bin/chromium")]
    chromium: String,
}

const PASSWORD: &str = "a long enough password";
/// Threads posting the long conversation's messages.
const POSTERS: usize = 4;

struct Rest {
    base: String,
    auth: String,
}

impl Rest {
    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let answer = ureq::get(&format!("{}{path}", self.base)).set("Authorization", &self.auth);
        Ok(answer.call()?.into_json()?)
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let answer = ureq::post(&format!("{}{path}", self.base)).set("Authorization", &self.auth);
        Ok(answer.send_form(form)?.into_json()?)
    }
}

pub fn run(args: &ConsoleArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let data = scratch.path().join("data");
    let binary = crate::http::daemon_binary(&args.binary)?;
    let (daemon, base) = start_daemon_with(&binary, &data, &[])?;
    let mut daemon = Stopped(daemon);
    let rest = Rest { auth: format!("Basic {}", base64(&format!("{ACCOUNT}:{TOKEN}"))), base };
    seed(&rest, args)?;
    let froms = (customer(args.past), customer(args.past + 1));
    let fresh = browser(&rest.base, args, &froms)?;
    print(
        args,
        &fresh,
        "right after the seeding (its past tasks finished within five minutes, still held)",
    );
    crate::wake::stop(&mut daemon.0, false)?;
    let (restarted, base) = start_daemon_with(&binary, &data, &[])?;
    let _daemon = Stopped(restarted);
    let later = browser(&base, args, &froms)?;
    print(args, &later, "after a clean restart (its past tasks only in the log)");
    Ok(())
}

/// The agent's past conversations, then a short and a long open one.
fn seed(rest: &Rest, args: &ConsoleArgs) -> anyhow::Result<()> {
    let service = sms_flow(rest)?;
    let agent = person(rest, "bench.agent")?;
    person(rest, "bench.fresh")?;
    let workspace = agent["workspace_sid"].as_str().unwrap_or_default().to_owned();
    let worker = agent["worker_sid"].as_str().unwrap_or_default().to_owned();
    let router = Router { rest, base: format!("/taskrouter/v1/Workspaces/{workspace}") };
    router.make_available(&worker)?;
    let started = std::time::Instant::now();
    for n in 0..args.past {
        let channel = router.answer(&worker, &customer(n), "hello")?;
        router.complete(&worker, &channel)?;
    }
    eprintln!("{} past conversations in {:.0?}", args.past, started.elapsed());
    router.answer(&worker, &customer(args.past), "a short one")?;
    let long = router.answer(&worker, &customer(args.past + 1), "message 0")?;
    fill(rest, &service, &long, &customer(args.past + 1), args.messages)
}

fn customer(n: usize) -> String {
    format!("+1415{:07}", 5_000_000 + n)
}

/// An enabled SMS task flow on the first start's Chat service (the people's): its SID.
fn sms_flow(rest: &Rest) -> anyhow::Result<String> {
    let services = rest.get("/chat/v2/Services")?;
    let service = services["services"][0]["sid"].as_str().unwrap_or_default().to_owned();
    rest.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "SMS"),
            ("ChatServiceSid", &service),
            ("ChannelType", "sms"),
            ("ContactIdentity", NUMBER),
            ("Enabled", "true"),
            ("IntegrationType", "task"),
        ],
    )?;
    Ok(service)
}

/// A person of role agent with their password set: the person.
fn person(rest: &Rest, username: &str) -> anyhow::Result<Value> {
    let added = rest.post("/admin/v1/People", &[("Username", username), ("Role", "agent")])?;
    let link = added["set_password_url"].as_str().unwrap_or_default();
    let secret = link.split("#set-password=").nth(1).unwrap_or_default();
    ureq::post(&format!("{}/console/password", rest.base))
        .send_json(json!({ "token": secret, "password": PASSWORD }))?;
    Ok(added)
}

struct Router<'a> {
    rest: &'a Rest,
    base: String,
}

impl Router<'_> {
    /// Available, and room for the two open conversations on every task channel.
    fn make_available(&self, worker: &str) -> anyhow::Result<()> {
        let channels = self.rest.get(&format!("{}/Workers/{worker}/Channels", self.base))?;
        for channel in channels["channels"].as_array().cloned().unwrap_or_default() {
            let sid = channel["sid"].as_str().unwrap_or_default();
            let path = format!("{}/Workers/{worker}/Channels/{sid}", self.base);
            self.rest.post(&path, &[("Capacity", "2"), ("Available", "true")])?;
        }
        let activities = self.rest.get(&format!("{}/Activities", self.base))?;
        let list = activities["activities"].as_array().cloned().unwrap_or_default();
        let available = list.iter().find(|a| a["friendly_name"] == "Available");
        let sid = available.and_then(|a| a["sid"].as_str()).unwrap_or_default();
        self.rest.post(&format!("{}/Workers/{worker}", self.base), &[("ActivitySid", sid)])?;
        Ok(())
    }

    /// A customer writes; the worker accepts the offer: the task's channel.
    fn answer(&self, worker: &str, from: &str, body: &str) -> anyhow::Result<String> {
        sms(&self.rest.base, from, body)?;
        let path = format!("{}/Workers/{worker}/Reservations?ReservationStatus=pending", self.base);
        let reservation = (0..500)
            .find_map(|_| {
                let list = self.rest.get(&path).ok()?;
                let first = list["reservations"][0].clone();
                if first.is_null() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                (!first.is_null()).then_some(first)
            })
            .ok_or_else(|| anyhow::anyhow!("no offer for {from}"))?;
        let task = reservation["task_sid"].as_str().unwrap_or_default();
        let sid = reservation["sid"].as_str().unwrap_or_default();
        let answer = format!("{}/Tasks/{task}/Reservations/{sid}", self.base);
        self.rest.post(&answer, &[("ReservationStatus", "accepted")])?;
        let task = self.rest.get(&format!("{}/Tasks/{task}", self.base))?;
        let attributes: Value = serde_json::from_str(task["attributes"].as_str().unwrap_or("{}"))?;
        Ok(attributes["channelSid"].as_str().unwrap_or_default().to_owned())
    }

    /// Wraps up and completes the worker's task of `channel`.
    fn complete(&self, worker: &str, channel: &str) -> anyhow::Result<()> {
        let path =
            format!("{}/Workers/{worker}/Reservations?ReservationStatus=accepted", self.base);
        let list = self.rest.get(&path)?;
        let reservations = list["reservations"].as_array().cloned().unwrap_or_default();
        for reservation in reservations {
            let task = reservation["task_sid"].as_str().unwrap_or_default();
            let fetched = self.rest.get(&format!("{}/Tasks/{task}", self.base))?;
            if !fetched["attributes"].as_str().unwrap_or_default().contains(channel) {
                continue;
            }
            let sid = reservation["sid"].as_str().unwrap_or_default();
            let answer = format!("{}/Tasks/{task}/Reservations/{sid}", self.base);
            self.rest.post(&answer, &[("ReservationStatus", "wrapping")])?;
            self.rest.post(&answer, &[("ReservationStatus", "completed")])?;
        }
        Ok(())
    }
}

/// An SMS from `from` as Twilio posts it, signed.
fn sms(base: &str, from: &str, body: &str) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let url = format!("{base}/webhooks/twilio");
    let sid = format!("SM{:032x}", NEXT.fetch_add(1, Ordering::Relaxed));
    let params: Vec<(String, String)> =
        [("From", from), ("To", NUMBER), ("Body", body), ("MessageSid", &sid), ("NumMedia", "0")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    let signature = switchboard_crypto::webhook::compute(TOKEN, &url, &params);
    let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ureq::post(&url).set("X-Twilio-Signature", &signature).send_form(&form)?;
    Ok(())
}

/// The long conversation's messages, from the customer over the Chat API, `POSTERS` at a time.
fn fill(rest: &Rest, service: &str, channel: &str, from: &str, count: usize) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let path = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
    std::thread::scope(|scope| {
        let posters: Vec<_> = (0..POSTERS)
            .map(|p| {
                let path = &path;
                scope.spawn(move || -> anyhow::Result<()> {
                    for n in (1 + p..count).step_by(POSTERS) {
                        let body = format!("message {n}");
                        rest.post(path, &[("From", from), ("Body", &body)])?;
                    }
                    Ok(())
                })
            })
            .collect();
        posters.into_iter().try_for_each(|p| p.join().unwrap_or_else(|_| anyhow::bail!("a poster")))
    })?;
    eprintln!("{count} messages in {:.0?}", started.elapsed());
    Ok(())
}

/// Runs the browser's part; its report.
fn browser(base: &str, args: &ConsoleArgs, froms: &(String, String)) -> anyhow::Result<Value> {
    let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../switchboard-web/ui");
    let output = Command::new("node")
        .arg("e2e/console-bench.mjs")
        .current_dir(ui)
        .env("DAEMON", base)
        .env("AGENT", "bench.agent")
        .env("FRESH", "bench.fresh")
        .env("PASSWORD", PASSWORD)
        .env("SHORT_FROM", &froms.0)
        .env("LONG_FROM", &froms.1)
        .env("REPEATS", args.repeats.to_string())
        .env("CHROMIUM", &args.chromium)
        .output()?;
    if !output.status.success() {
        anyhow::bail!("the browser part failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(serde_json::from_str(stdout.lines().last().unwrap_or_default())?)
}

fn print(args: &ConsoleArgs, report: &Value, when: &str) {
    let row = |what: &str, key: &str| {
        let times = &report[key];
        println!("| {what} | {} | {} | {} |", times["median"], times["min"], times["max"]);
    };
    println!("\n## The console in headless Chromium, {when} ({} timings each, ms)\n", args.repeats);
    println!("| what | median | min | max |\n|---|---|---|---|");
    row("first load to interactive, an agent with no history (yardstick)", "fresh_load");
    row(
        &format!("first load to interactive, an agent with {} past conversations", args.past),
        "load",
    );
    row("opening a 1-message conversation, its message shown (yardstick)", "open_short");
    row(
        &format!("opening a {}-message conversation, latest page shown", args.messages),
        "open_long",
    );
    row("each page back of it, scrolled to the top", "page_back");
    println!("\nThe console's page is {} messages.", report["page_size"]);
}

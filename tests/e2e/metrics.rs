//! `/metrics` through the real daemon: behind the account's credentials on the main listener,
//! or alone on a listener of its own; counters that move by exactly what was done, no SID or
//! phone number anywhere, and a scrape `promtool check metrics` accepts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::api::{
    assert_twilio_error, daemon_command, frames, get_bytes, token, ACCOUNT_SID, OUR_NUMBER,
};
use crate::support::Daemon;

fn started(extra: &[(&str, &str)]) -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    for (name, value) in extra {
        command.env(name, value);
    }
    let daemon = Daemon::start(command);
    (temp, daemon)
}

/// A scrape: its text, and each series (name with its labels, as written) with its value.
struct Scrape {
    text: String,
    series: HashMap<String, f64>,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let series = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
                (name.to_owned(), value.parse().unwrap_or_else(|_| panic!("{line:?}")))
            })
            .collect();
        Scrape { text, series }
    }

    /// The value of a series, 0 when it is not there (a counter never touched).
    fn value(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }
}

/// `/metrics` of the main listener, with the account's credentials.
fn scrape(daemon: &Daemon) -> Scrape {
    let answer = daemon.get("/metrics");
    assert_eq!(answer.status, 200, "{}", answer.body);
    Scrape::parse(answer.body)
}

fn inbound(outcome: &str) -> String {
    format!("switchboard_inbound_messages_total{{provider=\"twilio\",outcome=\"{outcome}\"}}")
}

const WEBHOOK_REQUESTS: &str = "switchboard_http_requests_total{route=\"/webhooks/twilio\",\
                                method=\"POST\",status=\"2xx\"}";
const WEBHOOK_LATENCIES: &str = "switchboard_http_request_duration_seconds_count{\
                                 route=\"/webhooks/twilio\",method=\"POST\"}";

/// The open WebSockets of one kind: `unauthenticated`, `chat`, `worker` or `visitor`.
fn websockets_open(kind: &str) -> String {
    format!("switchboard_websockets_open{{kind=\"{kind}\"}}")
}

/// The open WebSockets of every kind.
fn websockets_open_total(scrape: &Scrape) -> f64 {
    ["unauthenticated", "chat", "worker", "visitor"]
        .iter()
        .map(|kind| scrape.value(&websockets_open(kind)))
        .sum()
}

#[test]
fn metrics_count_what_was_done_and_name_no_sid_or_number() {
    let (_temp, daemon) = started(&[]);
    let (service, flow) = daemon.sms_flow(false);
    let before = scrape(&daemon);
    assert_twilio_error(&daemon.get_anonymous("/metrics"), 401, 20003);
    // A documented path asked with a method it does not take: 405, counted under its template.
    assert_twilio_error(&daemon.delete("/chat/v2/Services"), 405, 20004);
    let (customer, message_sid) = ("+14155550171", "SM0000000000000000000000000000a171");
    for _ in 0..2 {
        let answer = daemon.sms(customer, "where is my order?", message_sid);
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // A socket that has not said who it is yet, then a Chat client's: each counted by kind.
    let mut waiting = daemon.websocket(None).unwrap();
    let mut socket = daemon.websocket(Some(&token(customer, "1h"))).unwrap();
    assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");
    let open = scrape(&daemon);
    assert_eq!(open.value(&websockets_open("chat")), 1.0, "{}", open.text);
    assert_eq!(open.value(&websockets_open("unauthenticated")), 1.0, "{}", open.text);
    assert_eq!(open.value(&websockets_open("worker")), 0.0);
    assert_eq!(open.value(&websockets_open("visitor")), 0.0);
    for socket in [&mut waiting, &mut socket] {
        socket.close(None).unwrap();
        let _ = frames(socket, 1);
    }
    let after = settled(&daemon);

    let moved = |series: &str| after.value(series) - before.value(series);
    assert_eq!(moved(&inbound("stored")), 1.0, "{}", after.text);
    assert_eq!(moved(&inbound("duplicate")), 1.0, "the redelivery");
    for outcome in ["rejected", "unrouted", "failed"] {
        assert_eq!(after.value(&inbound(outcome)), 0.0, "{outcome}");
        assert!(after.series.contains_key(&inbound(outcome)), "every outcome has its series");
    }
    assert_eq!(moved(WEBHOOK_REQUESTS), 2.0);
    assert_eq!(moved(WEBHOOK_LATENCIES), 2.0);
    let upgrades = "switchboard_http_requests_total{route=\"/ws\",method=\"GET\",status=\"1xx\"}";
    assert_eq!(moved(upgrades), 2.0, "{}", after.text);
    let refused = "switchboard_http_requests_total{route=\"/chat/v2/Services\",method=\"DELETE\",\
                   status=\"4xx\"}";
    assert_eq!(moved(refused), 1.0, "{}", after.text);
    assert_eq!(moved("switchboard_websockets_opened_total"), 2.0);
    assert_eq!(websockets_open_total(&after), 0.0, "closed again");
    assert_eq!(after.value("switchboard_channel_actors_live"), 1.0, "the customer's channel");
    assert!(moved("switchboard_log_flush_appends_sum") >= 1.0, "the message's append");
    assert!(moved("switchboard_log_flush_duration_seconds_count") >= 1.0);
    assert!(after.value("switchboard_store_disk_bytes") > 0.0);
    assert_eq!(moved("switchboard_channels"), 1.0, "the customer's channel, counted");
    let janitor = moved("switchboard_memory_bytes{holder=\"janitor\"}");
    assert!(janitor > 0.0, "the janitor's record of it: {janitor} bytes");
    assert!(after.value("switchboard_memory_bytes{holder=\"stream_caches\"}") > 0.0);
    let users = moved("switchboard_memory_bytes{holder=\"users\"}");
    assert!(users > 0.0, "the customer's Chat user: {users} bytes");
    // Issue 20: a channel, its customer and the customer's user within 1 KiB once the channel
    // hibernates (its own stream caches go then; this one is still live).
    assert!(janitor + users <= 1024.0, "janitor {janitor} + user {users} bytes");
    assert!(after.value("process_resident_memory_bytes") > 0.0);
    assert!(after.series.contains_key("process_cpu_seconds_total"));

    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let (service, flow) = (service.as_str(), flow.as_str());
    for private in [service, flow, &channel, ACCOUNT_SID, message_sid, customer, OUR_NUMBER] {
        assert!(!after.text.contains(private), "{private} in the scrape");
    }
    assert_eq!(sids_and_numbers(&after.text), Vec::<String>::new());
    promtool_accepts(&after.text);
}

/// A scrape once the closed WebSocket is no longer counted open: its server side ends after
/// the close handshake, a moment after the client's close.
fn settled(daemon: &Daemon) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = scrape(daemon);
        if websockets_open_total(&now) == 0.0 || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Words of `text` shaped like a SID (two capitals and 32 hex digits) or a phone number (`+`
/// and digits).
fn sids_and_numbers(text: &str) -> Vec<String> {
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+'));
    words
        .filter(|word| {
            let sid = word.len() == 34
                && word[..2].chars().all(|c| c.is_ascii_uppercase())
                && word[2..].chars().all(|c| c.is_ascii_hexdigit());
            let number = word.len() > 7
                && word.starts_with('+')
                && word[1..].chars().all(|c| c.is_ascii_digit());
            sid || number
        })
        .map(str::to_owned)
        .collect()
}

/// `promtool check metrics` (Debian's `prometheus` package; .ci/run installs it) finds nothing
/// wrong with `text`. Required, not skipped: without it this test fails.
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|e| {
        panic!("promtool ({e}): install Debian's `prometheus` package (.ci/run does)")
    });
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let checked = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&checked.stdout).into_owned()
        + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success() && said.trim().is_empty(), "promtool: {said}\n{text}");
}

#[test]
fn metrics_on_their_own_listener_need_no_credentials_and_leave_the_main_one() {
    let (_temp, daemon) = started(&[("SWITCHBOARD_METRICS_LISTEN", "127.0.0.1:0")]);
    let printed = daemon.stdout.lock().unwrap().clone();
    let base = printed
        .iter()
        .find_map(|line| line.strip_prefix("switchboard metrics on "))
        .unwrap_or_else(|| panic!("no metrics listener announced: {printed:?}"))
        .to_owned();
    assert_ne!(base, daemon.base_url);
    assert_twilio_error(&daemon.get("/metrics"), 404, 20404);
    assert_twilio_error(&daemon.get_anonymous("/metrics"), 404, 20404);
    let scraped = get_bytes(&format!("{base}/metrics"), None);
    assert_eq!(scraped.status, 200);
    assert!(scraped.content_type.starts_with("text/plain; version=0.0.4"), "{scraped:?}");
    let scraped = Scrape::parse(String::from_utf8(scraped.body).unwrap());
    let refused =
        "switchboard_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"4xx\"}";
    assert_eq!(scraped.value(refused), 2.0, "{}", scraped.text);
    assert!(scraped.series.contains_key(&inbound("stored")), "{}", scraped.text);
    assert!(scraped.series.contains_key("process_cpu_seconds_total"));
    assert_eq!(get_bytes(&format!("{base}/healthz"), None).status, 404, "only /metrics there");
    promtool_accepts(&scraped.text);
}

/// The task router's gauges follow its waiting tasks: a task nobody can take waits and is
/// counted, with its age; canceled, it is no longer counted.
#[test]
fn waiting_tasks_and_the_oldest_wait_are_gauged() {
    let (_temp, daemon) = started(&[]);
    const WAITING: &str = "switchboard_taskrouter_tasks_waiting";
    const OLDEST: &str = "switchboard_taskrouter_oldest_wait_seconds";
    let before = scrape(&daemon);
    assert!(before.series.contains_key(WAITING) && before.series.contains_key(OLDEST));
    let made = daemon
        .post("/taskrouter/v1/Workspaces", &[("FriendlyName", "Gauged"), ("Template", "FIFO")]);
    assert_eq!(made.status, 201, "{}", made.body);
    let base = format!("/taskrouter/v1/Workspaces/{}", made.json()["sid"].as_str().unwrap());
    // No worker in the workspace: the task waits in the sample queue.
    let task = daemon.post(&format!("{base}/Tasks"), &[("Attributes", "{}")]);
    assert_eq!(task.status, 201, "{}", task.body);
    let task = task.json()["sid"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(1100));
    let waiting = scrape(&daemon);
    assert_eq!(waiting.value(WAITING) - before.value(WAITING), 1.0, "{}", waiting.text);
    assert!(waiting.value(OLDEST) >= 1.0, "it has waited a second: {}", waiting.value(OLDEST));
    let form = [("AssignmentStatus", "canceled"), ("Reason", "gauged")];
    let canceled = daemon.post(&format!("{base}/Tasks/{task}"), &form);
    assert_eq!(canceled.status, 200, "{}", canceled.body);
    let after = scrape(&daemon);
    assert_eq!(after.value(WAITING), before.value(WAITING), "no longer waiting");
    promtool_accepts(&after.text);
}

/// The outbox's depth follows a delivery that cannot get through: the customer's channel is
/// pending for the external integration while its attempts fail and wait to retry, and no
/// longer once the integration answers.
#[test]
fn the_outbox_depth_counts_a_stream_while_its_delivery_retries() {
    // Three retries from 3 s (3, 6, 12 s): the gauge is read well before they run out.
    let (_temp, daemon) = started(&[("SWITCHBOARD_OUTBOX_RETRY_BASE", "3s")]);
    let fake = crate::support::fake::FakeServer::start();
    fake.fail_next(&[503; 50]);
    crate::integrations::external_flow(&daemon, &format!("{}/bot", fake.url), "3");
    const PENDING: &str = "switchboard_outbox_pending_streams{consumer=\"external-integration\"}";
    let before = scrape(&daemon);
    assert_eq!(before.value(PENDING), 0.0, "{}", before.text);
    let replies = "switchboard_outbox_pending_streams{consumer=\"provider-delivery\"}";
    assert!(before.series.contains_key(replies), "every consumer has its series: {}", before.text);

    let answer = daemon.sms("+14155550172", "anyone there?", "SM0000000000000000000000000000a172");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut last = String::new();
    let retrying = crate::inbound::wait_for(Duration::from_secs(10), || {
        let now = scrape(&daemon);
        last = now.text.clone();
        now.value(PENDING) == 1.0 && !fake.requests().is_empty()
    });
    assert!(retrying, "pending while the integration fails: {last}");
    fake.recover();
    let drained = crate::inbound::wait_for(Duration::from_secs(30), || {
        let now = scrape(&daemon);
        last = now.text.clone();
        now.value(PENDING) == 0.0
    });
    assert!(drained, "delivered, no longer pending: {last}");
    let succeeded = "switchboard_outbox_deliveries_total{destination=\"integration\",\
                     outcome=\"succeeded\"}";
    let delivered = Scrape::parse(last.clone()).value(succeeded) - before.value(succeeded);
    assert_eq!(delivered, 1.0, "delivered, not given up: {last}");
    let requests = fake.requests();
    assert!(requests.len() >= 2, "failed, then delivered: {} requests", requests.len());
    assert!(requests.iter().all(|r| r.param("Body").as_deref() == Some("anyone there?")));
    promtool_accepts(&last);
}

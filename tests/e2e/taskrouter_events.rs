//! TaskRouter's events through the real binary: what the router does is listed by the Events
//! resource (windows, filters, fetch by SID) and POSTed to the workspace's `EventCallbackUrl`,
//! signed, filtered by `EventsFilter`, retried, in order, and once across a restart.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::api::{daemon_command, twilio_signature, Response, AUTH_TOKEN};
use crate::support::fake::{FakeServer, Received, Reply};
use crate::support::Daemon;

fn start(dir: &std::path::Path) -> Daemon {
    let mut command = daemon_command(dir);
    command
        .env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms")
        .env("SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND", "0");
    Daemon::start(command)
}

fn ok(response: Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    response.json()
}

/// Polls until `check` holds (or fails after 15 s).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(15), "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The callbacks received, each once (a retried one counts once), in order.
fn delivered(fake: &FakeServer, url: &str) -> Vec<Received> {
    let mut seen: Vec<Received> = Vec::new();
    for request in fake.requests() {
        let params = request.form();
        let pairs: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let signature = twilio_signature(AUTH_TOKEN, url, &pairs);
        assert_eq!(request.header("X-Twilio-Signature"), Some(signature.as_str()), "signed");
        if seen.last().and_then(|r| r.param("Sid")) != request.param("Sid") {
            seen.push(request);
        }
    }
    seen
}

fn types(requests: &[Received]) -> Vec<String> {
    requests.iter().map(|r| r.param("EventType").unwrap_or_default()).collect()
}

const FILTER: &str = "task.created,reservation.created,reservation.accepted,task.completed";

/// A FIFO workspace whose events go to `callback`, an available worker, and a task it accepted
/// and completed; returns the workspace's path and the task's SID.
fn one_task_done(daemon: &Daemon, callback: &str) -> (String, String, String) {
    let form = [
        ("FriendlyName", "Events"),
        ("Template", "FIFO"),
        ("EventCallbackUrl", callback),
        ("EventsFilter", FILTER),
    ];
    let made = ok(daemon.post("/taskrouter/v1/Workspaces", &form), 201);
    assert_eq!(made["event_callback_url"], callback);
    let base = format!("/taskrouter/v1/Workspaces/{}", made["sid"].as_str().unwrap());
    let activities = ok(daemon.get(&format!("{base}/Activities?FriendlyName=Available")), 200);
    let available = activities["activities"][0]["sid"].as_str().unwrap().to_owned();
    let form = [("FriendlyName", "alice"), ("ActivitySid", available.as_str())];
    let worker = ok(daemon.post(&format!("{base}/Workers"), &form), 201);
    let worker = worker["sid"].as_str().unwrap().to_owned();
    let form = [("Attributes", r#"{"name":"Ann"}"#), ("TaskChannel", "chat")];
    let task = ok(daemon.post(&format!("{base}/Tasks"), &form), 201);
    let task = task["sid"].as_str().unwrap().to_owned();
    let offered = ok(daemon.get(&format!("{base}/Tasks/{task}/Reservations")), 200);
    let reservation = offered["reservations"][0]["sid"].as_str().unwrap().to_owned();
    let path = format!("{base}/Tasks/{task}/Reservations/{reservation}");
    ok(daemon.post(&path, &[("ReservationStatus", "accepted")]), 200);
    let form = [("AssignmentStatus", "completed"), ("Reason", "resolved")];
    ok(daemon.post(&format!("{base}/Tasks/{task}"), &form), 200);
    (base, task, worker)
}

#[test]
fn callbacks_send_the_filtered_events_signed_in_order_retried_and_once_across_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let daemon = start(&dir);
    let fake = FakeServer::start();
    fake.fail_next(&[503]);
    let callback = format!("{}/taskrouter-events", fake.url);
    let (_, task, worker) = one_task_done(&daemon, &callback);
    let expected =
        ["task.created", "reservation.created", "reservation.accepted", "task.completed"];
    eventually("the four events are delivered", || delivered(&fake, &callback).len() == 4);
    let sent = delivered(&fake, &callback);
    assert_eq!(types(&sent), expected, "in the router's order, only what the filter names");
    assert_eq!(fake.requests().len(), 5, "the first was refused (503) and tried again");
    assert_eq!(fake.requests()[1].param("RetryCount").as_deref(), Some("1"));
    for request in &sent {
        assert_eq!(request.param("TaskSid").as_deref(), Some(task.as_str()));
        assert_eq!(request.param("WorkspaceName").as_deref(), Some("Events"));
        assert!(request.param("Sid").unwrap().starts_with("EV"));
    }
    assert_eq!(sent[1].param("WorkerSid").as_deref(), Some(worker.as_str()));
    assert_eq!(sent[1].param("ResourceType").as_deref(), Some("Reservation"));
    assert_eq!(sent[1].param("TaskAttributes").as_deref(), Some(r#"{"name":"Ann"}"#));
    assert_eq!(sent[3].param("TaskCompletedReason").as_deref(), Some("resolved"));

    // A restart sends nothing again; what happens after it is sent.
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let daemon = start(&dir);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(delivered(&fake, &callback).len(), 4, "nothing sent twice");
    let base = sent[0].param("WorkspaceSid").unwrap();
    let form = [("Attributes", "{}"), ("TaskChannel", "chat")];
    ok(daemon.post(&format!("/taskrouter/v1/Workspaces/{base}/Tasks"), &form), 201);
    eventually("the next task's events", || delivered(&fake, &callback).len() == 6);
    let after = types(&delivered(&fake, &callback)[4..]);
    assert_eq!(after, ["task.created", "reservation.created"]);

    // Turned off, what happens is not sent; turned on again, only what comes after is.
    let workspace = format!("/taskrouter/v1/Workspaces/{base}");
    ok(daemon.post(&workspace, &[("EventCallbackUrl", "")]), 200);
    let unheard = ok(daemon.post(&format!("{workspace}/Tasks"), &form), 201);
    std::thread::sleep(Duration::from_millis(500));
    ok(daemon.post(&workspace, &[("EventCallbackUrl", &callback)]), 200);
    let heard = ok(daemon.post(&format!("{workspace}/Tasks"), &form), 201);
    eventually("the last task's creation", || delivered(&fake, &callback).len() == 7);
    let last = delivered(&fake, &callback).pop().unwrap();
    assert_eq!(last.param("TaskSid").as_deref(), heard["sid"].as_str());
    assert!(
        delivered(&fake, &callback)
            .iter()
            .all(|r| r.param("TaskSid").as_deref() != unheard["sid"].as_str()),
        "nothing of the task made while the callback was off"
    );
}

#[test]
fn the_events_resource_lists_windows_and_filters_and_fetches_one() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let fake = FakeServer::start();
    let (base, task, worker) = one_task_done(&daemon, &format!("{}/cb", fake.url));
    let all = ok(daemon.get(&format!("{base}/Events?PageSize=1000")), 200);
    let listed: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for wanted in [
        "worker.created",
        "task.created",
        "workflow.entered",
        "task-queue.entered",
        "workflow.target-matched",
        "reservation.created",
        "reservation.accepted",
        "task.completed",
    ] {
        assert!(listed.contains(&wanted), "{wanted} in {listed:?}");
    }
    let at = |name: &str| listed.iter().position(|t| *t == name).unwrap();
    assert!(at("task.created") < at("reservation.created"));
    assert!(at("workflow.entered") < at("task-queue.entered"));
    assert!(at("task-queue.entered") < at("workflow.target-matched"));
    assert!(at("reservation.accepted") < at("task.completed"));

    let created = ok(daemon.get(&format!("{base}/Events?EventType=reservation.created")), 200);
    let created = created["events"].as_array().unwrap().clone();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["event_data"]["worker_sid"], worker.as_str());
    assert_eq!(created[0]["event_data"]["task_sid"], task.as_str());
    assert_eq!(created[0]["resource_type"], "Reservation");

    let of_worker = ok(daemon.get(&format!("{base}/Events?WorkerSid={worker}")), 200);
    assert!(of_worker["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| { e["event_data"]["worker_sid"] == worker.as_str() }));
    let paged = ok(daemon.get(&format!("{base}/Events?PageSize=2&Page=1")), 200);
    let second_page: Vec<&str> = paged["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(second_page, listed[2..4], "pages cut the same list");
    let next = paged["meta"]["next_page_url"].as_str().unwrap();
    assert!(
        next.contains("StartDate=") && next.contains("EndDate="),
        "the next page keeps this page's window: {next}"
    );

    let long_ago = ok(daemon.get(&format!("{base}/Events?EndDate=2020-01-01T00:00:00Z")), 200);
    assert_eq!(long_ago["events"], Value::Array(vec![]), "an old window holds nothing");
    let sid = created[0]["sid"].as_str().unwrap();
    let fetched = ok(daemon.get(&format!("{base}/Events/{sid}")), 200);
    assert_eq!(fetched["event_type"], "reservation.created");
    let unknown = daemon.get(&format!("{base}/Events/EV{}", "0".repeat(32)));
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let bad = daemon.get(&format!("{base}/Events?Minutes=0"));
    assert_eq!(bad.status, 400, "{}", bad.body);
    let refused = daemon.post(&base, &[("EventCallbackUrl", "not a url")]);
    assert_eq!(refused.status, 400, "{}", refused.body);
}

/// A FIFO workspace whose workflow's `AssignmentCallbackUrl` is `url` (a URL not http or https
/// is refused), with two available workers; returns its path and the workflow's SID.
fn assigning_workspace(daemon: &Daemon, url: &str) -> (String, String) {
    let made = daemon
        .post("/taskrouter/v1/Workspaces", &[("FriendlyName", "Assign"), ("Template", "FIFO")]);
    let base = format!("/taskrouter/v1/Workspaces/{}", ok(made, 201)["sid"].as_str().unwrap());
    let workflows = ok(daemon.get(&format!("{base}/Workflows")), 200);
    let workflow = workflows["workflows"][0]["sid"].as_str().unwrap().to_owned();
    let path = format!("{base}/Workflows/{workflow}");
    let set = ok(daemon.post(&path, &[("AssignmentCallbackUrl", url)]), 200);
    assert_eq!(set["assignment_callback_url"], url);
    let refused = daemon.post(&path, &[("AssignmentCallbackUrl", "ftp://nowhere")]);
    assert_eq!(refused.status, 400, "{}", refused.body);
    let activities = ok(daemon.get(&format!("{base}/Activities?FriendlyName=Available")), 200);
    let available = activities["activities"][0]["sid"].as_str().unwrap().to_owned();
    for name in ["alice", "bob"] {
        let form = [("FriendlyName", name), ("ActivitySid", available.as_str())];
        ok(daemon.post(&format!("{base}/Workers"), &form), 201);
    }
    (base, workflow)
}

/// A workflow's `AssignmentCallbackUrl` is POSTed each reservation, signed, and its answer's
/// instruction is carried out: `accept` accepts the reservation (once, though a 503 made the
/// call twice), `reject` sends the task on, and an instruction not supported (`call`) leaves
/// the reservation to the worker. A restart calls nothing again.
#[test]
fn an_assignment_callback_s_instruction_is_carried_out_once() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let daemon = start(&dir);
    // The task's attributes say what to answer.
    let fake = FakeServer::start_with(|request| {
        let attributes = request.param("TaskAttributes").unwrap_or_default();
        let attributes: Value = serde_json::from_str(&attributes).unwrap_or_default();
        let said = attributes["say"].as_str().unwrap_or("accept").to_owned();
        Reply::json(&serde_json::json!({ "instruction": said }))
    });
    fake.fail_next(&[503]);
    let url = format!("{}/assignment", fake.url);
    let (base, workflow) = assigning_workspace(&daemon, &url);
    let task = |say: &str| {
        let form =
            [("Attributes", format!(r#"{{"say":"{say}"}}"#)), ("TaskChannel", "chat".into())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ok(daemon.post(&format!("{base}/Tasks"), &form), 201)["sid"].as_str().unwrap().to_owned()
    };
    let statuses = |daemon: &Daemon, task: &str| -> Vec<String> {
        let listed = ok(daemon.get(&format!("{base}/Tasks/{task}/Reservations")), 200);
        let all = listed["reservations"].as_array().unwrap().iter();
        all.map(|r| r["reservation_status"].as_str().unwrap().to_owned()).collect()
    };
    let calls_for = |task: &str| -> Vec<Received> {
        let requests = fake.requests();
        requests.into_iter().filter(|r| r.param("TaskSid").as_deref() == Some(task)).collect()
    };

    let accepted = task("accept");
    eventually("the callback's accept", || statuses(&daemon, &accepted) == ["accepted"]);
    let calls = calls_for(&accepted);
    assert_eq!(calls.len(), 2, "the 503 and the retry");
    for call in &calls {
        let params = call.form();
        let pairs: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let signature = twilio_signature(AUTH_TOKEN, &url, &pairs);
        assert_eq!(call.header("X-Twilio-Signature"), Some(signature.as_str()), "signed");
        assert_eq!(call.param("WorkflowSid").as_deref(), Some(workflow.as_str()));
        assert!(call.param("ReservationSid").unwrap().starts_with("WR"));
        assert!(call.param("WorkerSid").unwrap().starts_with("WK"));
    }
    let task_path = format!("{base}/Tasks/{accepted}");
    assert_eq!(ok(daemon.get(&task_path), 200)["assignment_status"], "assigned");

    // The free worker is offered it and the callback rejects: nobody else is free, it waits.
    let rejected = task("reject");
    eventually("the callback's reject", || statuses(&daemon, &rejected) == ["rejected"]);
    let waiting = ok(daemon.get(&format!("{base}/Tasks/{rejected}")), 200);
    assert_eq!(waiting["assignment_status"], "pending");

    // `call` is voice only: refused, so the reservation waits for the worker.
    let called = task("call");
    eventually("the call for the third task", || calls_for(&called).len() == 1);
    assert_eq!(statuses(&daemon, &called), ["pending"], "nothing carried out");
    let reason = failure_told(&daemon, &base, &called);
    assert!(reason.contains("\"call\" is not supported"), "{reason}");

    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let before = fake.requests().len();
    let daemon = start(&dir);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(fake.requests().len(), before, "a restart calls nothing again");
    assert_eq!(statuses(&daemon, &called), ["pending"]);
}

/// The `Reason` of the one `reservation.failed` event of `task`, once listed.
fn failure_told(daemon: &Daemon, base: &str, task: &str) -> String {
    let failed = format!("{base}/Events?EventType=reservation.failed&TaskSid={task}");
    eventually("reservation.failed is told", || {
        ok(daemon.get(&failed), 200)["events"].as_array().is_some_and(|e| e.len() == 1)
    });
    let told = ok(daemon.get(&failed), 200);
    told["events"][0]["event_data"]["reason"].as_str().unwrap_or_default().to_owned()
}

/// When the `AssignmentCallbackUrl` fails (here a 404, after which nothing is tried again), the
/// workflow's `FallbackAssignmentCallbackUrl` is called with the same signed parameters, and its
/// instruction is carried out; a workflow without a fallback leaves the reservation to the worker.
#[test]
fn a_failing_assignment_callback_falls_back_to_the_fallback_url() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let broken = FakeServer::start_with(|_| Reply::status(404));
    let fallback =
        FakeServer::start_with(|_| Reply::json(&serde_json::json!({ "instruction": "accept" })));
    let (base, workflow) = assigning_workspace(&daemon, &format!("{}/assignment", broken.url));
    let task = || {
        let made = daemon.post(&format!("{base}/Tasks"), &[("TaskChannel", "chat")]);
        ok(made, 201)["sid"].as_str().unwrap().to_owned()
    };
    let statuses = |task: &str| -> Vec<String> {
        let listed = ok(daemon.get(&format!("{base}/Tasks/{task}/Reservations")), 200);
        let all = listed["reservations"].as_array().unwrap().iter();
        all.map(|r| r["reservation_status"].as_str().unwrap().to_owned()).collect()
    };

    // No fallback yet: the broken callback is called and the reservation waits for its worker.
    let waiting = task();
    eventually("the broken callback's call", || !broken.requests().is_empty());
    assert_eq!(statuses(&waiting), ["pending"]);

    let fallback_url = format!("{}/fallback", fallback.url);
    let path = format!("{base}/Workflows/{workflow}");
    ok(daemon.post(&path, &[("FallbackAssignmentCallbackUrl", fallback_url.as_str())]), 200);
    let accepted = task();
    eventually("the fallback's accept", || statuses(&accepted) == ["accepted"]);
    let called: Vec<Received> = fallback.requests();
    assert_eq!(called.len(), 1, "the fallback is called once");
    let first =
        broken.requests().into_iter().find(|r| r.param("TaskSid").as_deref() == Some(&accepted));
    let first = first.expect("the callback itself was called first");
    let params = called[0].form();
    assert_eq!(params, first.form(), "the same parameters");
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let signature = twilio_signature(AUTH_TOKEN, &fallback_url, &pairs);
    assert_eq!(
        called[0].header("X-Twilio-Signature"),
        Some(signature.as_str()),
        "signed for its URL"
    );
    assert_eq!(statuses(&waiting), ["pending"], "the earlier reservation is still the worker's");
}

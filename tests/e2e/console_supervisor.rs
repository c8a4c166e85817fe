//! The console's supervisor and admin views through the real daemon: an agent is refused both
//! (403 from every endpoint); a supervisor sees a customer's task wait in its queue, watches the
//! conversation read-only (joining nothing, recorded in their own person stream, which `replay`
//! shows) and moves the task to another queue; an admin's session acts as the account on the
//! REST routes, with the CSRF token on changes, and checks expressions and the log's integrity.
//! In real headless Chromium (crates/switchboard-web/ui/e2e/console-supervisor.mjs; screenshots
//! under target/tmp/console-supervisor-artefacts/): the admin sets up a queue, a workflow and a
//! flow through the pages (a bad expression flagged as typed); a customer of the new flow waits
//! in the new queue on the supervisor's page and leaves it when the agent accepts.

use std::time::Duration;

use serde_json::{json, Value};

use crate::console_agent::started;
use crate::inbound::wait_for;
use crate::people::person_signed_in;
use crate::support::api::AUTH_TOKEN;
use crate::support::console::Session;
use crate::support::fake::FakeServer;
use crate::support::{run, switchboard, Daemon};

const CUSTOMER: &str = "+14155550177";
const PASSWORD: &str = "a long enough password";
/// The number the flow the admin makes in the browser answers for.
const ESCALATED_NUMBER: &str = "+15005550188";

fn ok(response: crate::support::api::Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    response.json()
}

/// The workspace's two queues (the first start's and a second one) and a workflow that routes
/// a queue transfer to the second and everything else to the first.
fn two_queues(daemon: &Daemon, base: &str) -> (String, String) {
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    let first = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let second =
        ok(daemon.post(&format!("{base}/TaskQueues"), &[("FriendlyName", "Escalations")]), 201);
    let second = second["sid"].as_str().unwrap().to_owned();
    let workflows = ok(daemon.get(&format!("{base}/Workflows")), 200);
    let workflow = workflows["workflows"][0]["sid"].as_str().unwrap().to_owned();
    let configuration = json!({"task_routing": {
        "filters": [{"filter_friendly_name": "moved to a queue",
                     "expression": "transferTargetType == 'queue'",
                     "targets": [{"queue": second}]}],
        "default_filter": {"queue": first}}});
    let path = format!("{base}/Workflows/{workflow}");
    ok(daemon.post(&path, &[("Configuration", &configuration.to_string())]), 200);
    (first, second)
}

/// The supervisor view's waiting count of queue `sid`.
fn waiting(daemon: &Daemon, supervisor: &Session, sid: &str) -> u64 {
    let view = ok(daemon.console_get(supervisor, "/console/supervisor"), 200);
    let queues = view["queues"].as_array().unwrap();
    queues.iter().find(|q| q["sid"] == sid).unwrap()["waiting"].as_u64().unwrap()
}

#[test]
fn a_supervisor_watches_read_only_and_moves_a_task_and_an_agent_may_do_neither() {
    let twilio = FakeServer::start();
    let (temp, daemon, service) = started(&twilio);
    let alice = person_signed_in(&daemon, "alice", "agent");
    let sam = person_signed_in(&daemon, "sam", "supervisor");
    let workspace = sam.person["person"]["workspace_sid"].as_str().unwrap().to_owned();
    let base = format!("/taskrouter/v1/Workspaces/{workspace}");
    let (first, second) = two_queues(&daemon, &base);
    assert_eq!(waiting(&daemon, &sam, &first), 0);
    assert_eq!(
        daemon.sms(CUSTOMER, "where is my order?", "SM0000000000000000000000000000c1").status,
        200
    );
    assert!(wait_for(Duration::from_secs(10), || waiting(&daemon, &sam, &first) == 1));

    let view = ok(daemon.console_get(&sam, "/console/supervisor"), 200);
    let live = &view["conversations"][0];
    assert_eq!(
        (live["status"].as_str(), live["queue_sid"].as_str()),
        (Some("pending"), Some(first.as_str()))
    );
    assert_eq!(live["customer"], CUSTOMER, "{view}");
    assert!(view["queues"][0]["oldest_wait_secs"].as_u64().is_some());
    let agents = view["agents"].as_array().unwrap();
    assert!(agents.iter().any(|a| a["friendly_name"] == "alice" && a["tasks"] == 0), "{view}");
    let (task, channel) =
        (live["task_sid"].as_str().unwrap(), live["channel_sid"].as_str().unwrap());

    // An agent reaches none of it.
    let watch = format!("/console/monitor/{channel}");
    for path in ["/console/supervisor", watch.as_str(), &format!("{watch}/messages")] {
        assert_eq!(daemon.console_get(&alice, path).status, 403, "{path}");
    }
    let form = [("TaskSid", task), ("To", second.as_str())];
    assert_eq!(daemon.console_post(&alice, "/console/moves", &form, true).status, 403);

    // Watching: the conversation and its messages, and no membership.
    let watched = ok(daemon.console_get(&sam, &watch), 200);
    assert_eq!(watched["sid"], channel);
    let page = ok(daemon.console_get(&sam, &format!("{watch}/messages")), 200);
    assert_eq!(page["messages"][0]["body"], "where is my order?");
    let members = crate::task_routing::members(&daemon, &service, channel);
    assert!(!members.iter().any(|m| m == "sam"), "{members:?}");

    // Moving: without the CSRF token refused; then the task waits in the second queue.
    assert_eq!(daemon.console_post(&sam, "/console/moves", &form, false).status, 403);
    let moved = ok(daemon.console_post(&sam, "/console/moves", &form, true), 201);
    let old = ok(daemon.get(&format!("{base}/Tasks/{task}")), 200);
    assert_eq!(
        (old["assignment_status"].as_str(), old["reason"].as_str()),
        (Some("canceled"), Some("moved by a supervisor"))
    );
    let attributes: Value = serde_json::from_str(moved["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(
        (attributes["channelSid"].as_str(), attributes["targetSid"].as_str()),
        (Some(channel), Some(second.as_str()))
    );
    assert!(wait_for(Duration::from_secs(10), || waiting(&daemon, &sam, &second) == 1));
    assert_eq!(waiting(&daemon, &sam, &first), 0);
    assert_eq!(channel_status(&daemon, &service, channel), "ACTIVE", "it waits for its next agent");
    let again = [("TaskSid", task), ("To", first.as_str())];
    assert_eq!(
        daemon.console_post(&sam, "/console/moves", &again, true).status,
        404,
        "a canceled task"
    );

    watching_is_in_the_supervisor_s_stream(temp, daemon, &sam, channel);
}

fn channel_status(daemon: &Daemon, service: &str, channel: &str) -> String {
    let fetched = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}")).json();
    let attributes: Value = serde_json::from_str(fetched["attributes"].as_str().unwrap()).unwrap();
    attributes["status"].as_str().unwrap_or_default().to_owned()
}

/// The watching is in the supervisor's own person stream, once, which replay shows.
fn watching_is_in_the_supervisor_s_stream(
    temp: tempfile::TempDir,
    daemon: Daemon,
    supervisor: &Session,
    channel: &str,
) {
    let sam_sid = supervisor.person["person"]["sid"].as_str().unwrap().to_owned();
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let data = temp.path().join("data");
    let replay = run(switchboard().args(["replay", "--format", "json", "--data-dir"]).arg(data));
    replay.assert_ok();
    let monitored: Vec<Value> = replay
        .lines()
        .into_iter()
        .filter(|l| l["channel_sid"] == sam_sid.as_str() && l["type"] == "conversation_monitored")
        .collect();
    assert_eq!(monitored.len(), 1, "one opening, one record: {monitored:?}");
    assert_eq!(monitored[0]["fields"]["channel_sid"], channel);
}

#[test]
fn an_admin_session_acts_as_the_account_on_rest_and_checks_expressions_and_integrity() {
    let twilio = FakeServer::start();
    let (_temp, daemon, _service) = started(&twilio);
    let alice = person_signed_in(&daemon, "alice", "agent");
    let sam = person_signed_in(&daemon, "sam", "supervisor");
    let ada = person_signed_in(&daemon, "ada", "admin");
    for session in [&alice, &sam] {
        assert_eq!(daemon.console_get(session, "/chat/v2/Services").status, 403);
        assert_eq!(daemon.console_get(session, "/console/integrity").status, 403);
        let form = [("Kind", "expression"), ("Text", "1 == 1")];
        assert_eq!(daemon.console_post(session, "/console/expressions", &form, true).status, 403);
    }
    let services = ok(daemon.console_get(&ada, "/chat/v2/Services"), 200);
    assert!(!services["services"].as_array().unwrap().is_empty());
    let form = [("FriendlyName", "Made in the console")];
    assert_eq!(
        daemon.console_post(&ada, "/chat/v2/Services", &form, false).status,
        403,
        "no CSRF token"
    );
    ok(daemon.console_post(&ada, "/chat/v2/Services", &form, true), 201);

    let check = |kind: &str, text: &str| {
        ok(
            daemon.console_post(
                &ada,
                "/console/expressions",
                &[("Kind", kind), ("Text", text)],
                true,
            ),
            200,
        )
    };
    assert_eq!(check("expression", "skills HAS 'billing' AND level > 2")["valid"], true);
    let broken = check("expression", "skills HAS (");
    assert_eq!(broken["valid"], false);
    assert!(!broken["message"].as_str().unwrap().is_empty());
    assert_eq!(check("workflow", r#"{"task_routing": 3}"#)["valid"], false);
    let bad_kind =
        daemon.console_post(&ada, "/console/expressions", &[("Kind", "sql"), ("Text", "x")], true);
    assert_eq!(bad_kind.status, 400);

    let report = ok(daemon.console_get(&ada, "/console/integrity"), 200);
    assert_eq!(report["clean"], true, "{report}");
    assert!(report["records"].as_u64().unwrap() > 0, "{report}");
}

/// The admin and supervisor views in real headless Chromium: the admin's queue, workflow and
/// flow made through the pages route a customer of the new flow to the new queue; the
/// supervisor's count of it goes up and down; watching joins nothing; an agent is refused.
#[test]
fn in_chromium_an_admin_sets_up_a_flow_and_queue_and_a_supervisor_watches_them_work() {
    let twilio = FakeServer::start();
    let (_temp, daemon, service) = started(&twilio);
    for (name, role) in [("alice", "agent"), ("sam", "supervisor"), ("ada", "admin")] {
        person_signed_in(&daemon, name, role);
    }
    let artefacts =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-supervisor-artefacts");
    let mut scenario = std::process::Command::new("node");
    scenario
        .arg("e2e/console-supervisor.mjs")
        .current_dir(crate::widget::ui())
        .env("DAEMON", &daemon.base_url)
        .env("AGENT", "alice")
        .env("SUPERVISOR", "sam")
        .env("ADMIN", "ada")
        .env("PASSWORD", PASSWORD)
        .env("AUTH_TOKEN", AUTH_TOKEN)
        .env("SMS_FROM", CUSTOMER)
        .env("SMS_TO", ESCALATED_NUMBER)
        .env("ARTEFACTS", &artefacts)
        .env("CHROMIUM", crate::widget::chromium());
    let report = crate::widget::node_report(&mut scenario, &daemon, "the supervisor scenario");
    let views = ["admin-0-services", "admin-1-invalid-expression", "admin-2-routing"];
    let more = [
        "admin-3-flow-editor",
        "admin-3-flows",
        "admin-3-widget-settings",
        "admin-4-people",
        "admin-5-health",
        "admin-6-integrity",
        "admin-7-api-key",
    ];
    let supervisor =
        ["0-idle", "1-waiting", "2-accepted", "3-watching", "4-moving", "5-moved", "agent-refused"];
    let narrow = ["supervisor-768", "admin-routing-768", "agent-768"];
    for view in views.iter().chain(&more).chain(&supervisor).chain(&narrow) {
        assert!(artefacts.join(format!("supervisor-{view}.png")).exists(), "{view}");
    }
    what_the_pages_made(&daemon, &service, &report);
}

/// What the admin's and supervisor's pages made is what the daemon holds: the flow as edited
/// (renamed, on the admin's workflow), the widget settings, no deleted flow; the new flow's
/// customer reached the queue the admin made, the supervisor's move left a task waiting where
/// it was sent, and the supervisor who watched is no member of the conversation.
fn what_the_pages_made(daemon: &Daemon, service: &str, report: &Value) {
    let channel = report["channel"].as_str().unwrap();
    let members = crate::task_routing::members(daemon, service, channel);
    assert!(
        members.contains(&CUSTOMER.to_owned()) && !members.contains(&"sam".to_owned()),
        "{members:?}"
    );
    let flows = daemon.get("/flex/v1/FlexFlows").json();
    let flow = flows["flex_flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["friendly_name"] == "Escalated SMS");
    let flow = flow.expect("the flow made on the page, under the name it was edited to");
    let names = flows["flex_flows"].as_array().unwrap().iter().map(|f| &f["friendly_name"]);
    let names: Vec<_> = names.collect();
    assert!(!names.iter().any(|n| *n == "Short-lived" || *n == "Escalation draft"), "{names:?}");
    let web = flows["flex_flows"].as_array().unwrap().iter().find(|f| f["channel_type"] == "web");
    let web = web.expect("the first start's web flow")["sid"].as_str().unwrap();
    let settings = daemon.get(&format!("/webchat/v1/Flows/{web}")).json();
    assert_eq!(settings["greeting"], "Welcome to the test shop.", "{settings}");
    assert_eq!(settings["theme"]["color"], "#aa3300", "{settings}");
    assert_eq!((flow["enabled"].as_bool(), flow["long_lived"].as_bool()), (Some(true), Some(true)));
    let workspace = flow["integration"]["workspace_sid"].as_str().unwrap();
    let tasks = daemon.get(&format!("/taskrouter/v1/Workspaces/{workspace}/Tasks")).json();
    let tasks: Vec<_> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["attributes"].as_str().unwrap().contains(channel))
        .map(|t| {
            (
                t["task_queue_sid"].clone(),
                t["task_queue_friendly_name"].clone(),
                t["assignment_status"].clone(),
            )
        })
        .collect();
    // The customer's task was routed to the admin's queue and wrapped up by the supervisor's
    // move; the move's task waits in the queue chosen.
    assert!(tasks.iter().any(|t| t.0 == report["queue"] && t.2 == "wrapping"), "{tasks:?}");
    assert!(tasks.iter().any(|t| t.1 == report["moved_to"] && t.2 == "pending"), "{tasks:?}");
}

/// Basic credentials of an API key.
fn key_auth(sid: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{secret}")))
}

fn status_with_key(daemon: &Daemon, sid: &str, secret: &str) -> u16 {
    let answer = ureq::get(&daemon.url("/chat/v2/Services"))
        .set("Authorization", &key_auth(sid, secret))
        .call();
    match answer {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn an_admin_makes_and_revokes_api_keys_and_a_revoked_key_is_refused_after_a_restart_too() {
    let twilio = FakeServer::start();
    let (temp, daemon, _service) = started(&twilio);
    let alice = person_signed_in(&daemon, "alice", "agent");
    let ada = person_signed_in(&daemon, "ada", "admin");
    assert_eq!(daemon.console_get(&alice, "/console/api-keys").status, 403);
    assert_eq!(daemon.console_post(&alice, "/console/api-keys", &[], true).status, 403);
    assert_eq!(
        daemon.console_post(&ada, "/console/api-keys", &[], false).status,
        403,
        "no CSRF token"
    );
    let before =
        ok(daemon.console_get(&ada, "/console/api-keys"), 200)["keys"].as_array().unwrap().len();
    let made = ok(daemon.console_post(&ada, "/console/api-keys", &[], true), 201);
    let (sid, secret) = (made["sid"].as_str().unwrap(), made["secret"].as_str().unwrap());
    assert_eq!(status_with_key(&daemon, sid, secret), 200);
    let listed = ok(daemon.console_get(&ada, "/console/api-keys"), 200);
    assert_eq!(listed["keys"].as_array().unwrap().len(), before + 1);
    assert!(!listed.to_string().contains(secret), "the secret is shown once only");

    assert_eq!(daemon.console_delete(&alice, &format!("/console/api-keys/{sid}")).status, 403);
    assert_eq!(daemon.console_delete(&ada, &format!("/console/api-keys/{sid}")).status, 204);
    assert_eq!(status_with_key(&daemon, sid, secret), 401);
    assert_eq!(daemon.console_delete(&ada, &format!("/console/api-keys/{sid}")).status, 404);
    // The last key signs the console's tokens: it stays.
    let keys = ok(daemon.console_get(&ada, "/console/api-keys"), 200);
    let last = keys["keys"][0]["sid"].as_str().unwrap().to_owned();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(daemon.console_delete(&ada, &format!("/console/api-keys/{last}")).status, 409);

    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let mut command = crate::support::api::daemon_command(&temp.path().join("data"));
    command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    let again = Daemon::start(command);
    assert_eq!(status_with_key(&again, sid, secret), 401, "revoked for good");
}

/// Debian's Firefox ESR (`firefox-esr`), or `SWITCHBOARD_FIREFOX`.
fn firefox() -> String {
    let path =
        std::env::var("SWITCHBOARD_FIREFOX").unwrap_or_else(|_| "/usr/bin/firefox-esr".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "no Firefox at {path}: install Debian's firefox-esr (.ci/run does) or set SWITCHBOARD_FIREFOX"
    );
    path
}

/// The console in Firefox (puppeteer-core over WebDriver BiDi): sign-in, the agent view
/// answering an SMS customer, whose reply reaches the provider; the supervisor watching it; the
/// admin view.
#[test]
fn in_firefox_an_agent_answers_an_sms_customer_a_supervisor_watches_and_an_admin_looks_around() {
    let twilio = FakeServer::start();
    let (_temp, daemon, _service) = started(&twilio);
    for (name, role) in [("alice", "agent"), ("sam", "supervisor"), ("ada", "admin")] {
        person_signed_in(&daemon, name, role);
    }
    let artefacts =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-firefox-artefacts");
    let mut scenario = std::process::Command::new("node");
    scenario
        .arg("e2e/console-firefox.mjs")
        .current_dir(crate::widget::ui())
        .env("DAEMON", &daemon.base_url)
        .env("AGENT", "alice")
        .env("SUPERVISOR", "sam")
        .env("ADMIN", "ada")
        .env("PASSWORD", PASSWORD)
        .env("AUTH_TOKEN", AUTH_TOKEN)
        .env("SMS_FROM", CUSTOMER)
        .env("SMS_TO", crate::support::api::OUR_NUMBER)
        .env("ARTEFACTS", &artefacts)
        .env("FIREFOX", firefox());
    crate::widget::node_report(&mut scenario, &daemon, "the Firefox scenario");
    for view in ["agent", "supervisor", "admin-routing", "admin-audit"] {
        assert!(artefacts.join(format!("firefox-{view}.png")).exists(), "{view}");
    }
    assert!(wait_for(Duration::from_secs(10), || {
        twilio.requests().iter().any(|r| {
            r.param("Body").as_deref() == Some("Answered from Firefox")
                && r.param("To").as_deref() == Some(CUSTOMER)
        })
    }));
}

//! The console's agent view through the real daemon: what it reads beside the WebSocket
//! (`/console/agent`, `/console/conversations/…`) reaches only the agent's own conversations and
//! pages history newest first, and says whether a web customer has the chat open; a transfer
//! is made only of a task the agent holds; and in real
//! headless Chromium (crates/switchboard-web/ui/e2e/console-agent.mjs; screenshots under
//! target/tmp/console-agent-artefacts/) a web customer and an SMS customer are answered from the
//! console, the web chat transferred to a second agent, the SMS reply reaching the fake Twilio.

use std::time::Duration;

use serde_json::Value;

use crate::inbound::wait_for;
use crate::people::person_signed_in;
use crate::support::api::{daemon_command, AUTH_TOKEN, OUR_NUMBER};
use crate::support::console::Session;
use crate::support::fake::FakeServer;
use crate::support::openapi::Contract;
use crate::support::Daemon;

const PASSWORD: &str = "a long enough password";
const CUSTOMER: &str = "+14155550123";

/// A daemon as on a first start (a Chat service, the Flex workspace, a web flow, the first
/// admin), replies going to `twilio`, and a long-lived SMS task flow on the same Chat service as
/// the console's people.
pub(crate) fn started(twilio: &FakeServer) -> (tempfile::TempDir, Daemon, String) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env_remove("SWITCHBOARD_FIRST_START_DEFAULTS");
    command.env("SWITCHBOARD_DURABILITY", "flush");
    command.env("SWITCHBOARD_TWILIO_API_BASE", &twilio.url);
    let daemon = Daemon::start(command);
    let services = daemon.get("/chat/v2/Services").json();
    let service = services["services"][0]["sid"].as_str().unwrap().to_owned();
    let flow = daemon.post(
        "/flex/v1/FlexFlows",
        &[
            ("FriendlyName", "SMS"),
            ("ChatServiceSid", &service),
            ("ChannelType", "sms"),
            ("ContactIdentity", OUR_NUMBER),
            ("Enabled", "true"),
            ("IntegrationType", "task"),
            ("LongLived", "true"),
        ],
    );
    assert_eq!(flow.status, 201, "{}", flow.body);
    (temp, daemon, service)
}

fn ok(response: crate::support::api::Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    response.json()
}

/// The worker of `person` set to `activity` over REST; its pending reservation accepted.
fn accept_over_rest(daemon: &Daemon, person: &Value) -> String {
    let (workspace, worker) =
        (person["workspace_sid"].as_str().unwrap(), person["worker_sid"].as_str().unwrap());
    let base = format!("/taskrouter/v1/Workspaces/{workspace}");
    let activities = ok(daemon.get(&format!("{base}/Activities")), 200);
    let available = activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["friendly_name"] == "Available")
        .unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(daemon.post(&format!("{base}/Workers/{worker}"), &[("ActivitySid", &available)]), 200);
    let mut reservation = Value::Null;
    assert!(wait_for(Duration::from_secs(10), || {
        let list = ok(daemon.get(&format!("{base}/Workers/{worker}/Reservations")), 200);
        reservation = list["reservations"][0].clone();
        !reservation.is_null()
    }));
    let task = reservation["task_sid"].as_str().unwrap();
    let path = format!("{base}/Tasks/{task}/Reservations/{}", reservation["sid"].as_str().unwrap());
    ok(daemon.post(&path, &[("ReservationStatus", "accepted")]), 200);
    let task = ok(daemon.get(&format!("{base}/Tasks/{task}")), 200);
    let attributes: Value = serde_json::from_str(task["attributes"].as_str().unwrap()).unwrap();
    attributes["channelSid"].as_str().unwrap().to_owned()
}

#[test]
fn the_agent_endpoints_reach_only_the_agent_s_own_conversations_newest_first() {
    let twilio = FakeServer::start();
    let (_temp, daemon, service) = started(&twilio);
    let alice = person_signed_in(&daemon, "alice", "agent");
    let bob = person_signed_in(&daemon, "bob", "agent");
    let admin = daemon.signed_in("admin", &daemon.first_admin_password());
    let contract = Contract::fetch(&daemon);

    let agent = daemon.console_get(&alice, "/console/agent");
    contract.check("get", "/console/agent", &agent);
    let agent = ok(agent, 200);
    let names: Vec<&str> = agent["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["friendly_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Offline", "Available", "Unavailable"]);
    assert_eq!(agent["worker_sid"], alice.person["person"]["worker_sid"]);
    assert_eq!(agent["reservation_timeouts"][0]["task_reservation_timeout"], 120);
    assert_eq!(daemon.console_get(&admin, "/console/agent").status, 403, "admins answer nobody");
    assert_eq!(daemon.get_anonymous("/console/agent").status, 401);

    for n in 1..=3 {
        let sid = format!("SM{n:032}");
        assert_eq!(daemon.sms(CUSTOMER, &format!("message {n}"), &sid).status, 200);
    }
    let channel = accept_over_rest(&daemon, &alice.person["person"]);
    let path = format!("/console/conversations/{channel}");
    let conversation = daemon.console_get(&alice, &path);
    contract.check("get", "/console/conversations/{channel}", &conversation);
    let conversation = ok(conversation, 200);
    assert_eq!(conversation["customer_address"], CUSTOMER);
    assert_eq!(conversation["attributes"]["channel_type"], "sms");
    assert_eq!(conversation["service_sid"], service.as_str());
    assert_eq!(conversation["messages_count"], 3);
    assert_eq!(conversation["long_lived"], true);
    assert_eq!(conversation["interaction_started"], Value::Null, "its first interaction");
    assert_eq!(conversation["customer_online"], Value::Null, "an SMS customer has no socket");

    let page = |n: u32| {
        let answer = daemon.console_get(&alice, &format!("{path}/messages?PageSize=2&Page={n}"));
        contract.check("get", "/console/conversations/{channel}/messages", &answer);
        let page = ok(answer, 200);
        let bodies: Vec<String> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(page["earlier_interactions"], serde_json::json!([]), "its first interaction");
        (bodies, page["has_more"].as_bool().unwrap())
    };
    assert_eq!(page(0), (vec!["message 3".to_owned(), "message 2".to_owned()], true));
    assert_eq!(page(1), (vec!["message 1".to_owned()], false));

    // Bob is no member: to him the conversation does not exist; nor does a malformed SID.
    assert_eq!(daemon.console_get(&bob, &path).status, 404);
    assert_eq!(daemon.console_get(&bob, &format!("{path}/messages")).status, 404);
    assert_eq!(daemon.console_get(&admin, &path).status, 403);
    assert_eq!(daemon.console_get(&alice, "/console/conversations/CHnope").status, 404);
    // Nor does the agent reach the operator's API or the people of the console.
    assert_eq!(daemon.console_get(&alice, "/admin/v1/People").status, 403);
    assert_eq!(daemon.console_get(&alice, &format!("/chat/v2/Services/{service}")).status, 403);
    transfers_reach_only_the_agent_s_own_task(&daemon, (&alice, &bob), &service, &channel);
}

/// Whether a web customer has the chat open, as the agent's conversation says it: from the
/// visitor's socket, now, while the service keeps reachability (the first start's does); `null`
/// once it keeps none.
#[test]
fn the_agent_sees_whether_a_web_customer_has_the_chat_open() {
    let twilio = FakeServer::start();
    let (_temp, daemon, service) = started(&twilio);
    let alice = person_signed_in(&daemon, "alice", "agent");
    let flows = ok(daemon.get("/flex/v1/FlexFlows"), 200);
    let web = flows["flex_flows"].as_array().unwrap().iter().find(|f| f["channel_type"] == "web");
    let form = [
        ("FlowSid", web.unwrap()["sid"].as_str().unwrap()),
        ("PreEngagementData", r#"{"friendly_name":"Ada Visitor"}"#),
    ];
    let session = ureq::post(&daemon.url("/webchat/v1/Sessions"))
        .set("Origin", &daemon.base_url)
        .send_form(&form)
        .expect("a webchat session");
    let session: Value = serde_json::from_str(&session.into_string().unwrap()).unwrap();
    let channel = accept_over_rest(&daemon, &alice.person["person"]);
    assert_eq!(channel, session["channel_sid"].as_str().unwrap());
    let path = format!("/console/conversations/{channel}");
    let online = || ok(daemon.console_get(&alice, &path), 200)["customer_online"].clone();
    assert_eq!(online(), false, "no socket of the visitor's yet");
    let mut visitor = daemon.websocket(Some(session["token"].as_str().unwrap())).unwrap();
    assert_eq!(crate::support::api::frames(&mut visitor, 1)[0]["type"], "ready");
    assert_eq!(online(), true);
    visitor.close(None).unwrap();
    let _ = crate::support::api::frames(&mut visitor, 1);
    assert!(wait_for(Duration::from_secs(10), || online() == false), "the visitor left");
    let off =
        daemon.post(&format!("/chat/v2/Services/{service}"), &[("ReachabilityEnabled", "false")]);
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(online(), Value::Null, "no reachability kept: nothing to say");
}

/// Transfers: only of a task the agent holds, to another worker or a queue of the workspace,
/// with the CSRF token; a cold one wraps the agent's reservation up and keeps the channel active.
fn transfers_reach_only_the_agent_s_own_task(
    daemon: &Daemon,
    (alice, bob): (&Session, &Session),
    service: &str,
    channel: &str,
) {
    let person = &alice.person["person"];
    let base = format!("/taskrouter/v1/Workspaces/{}", person["workspace_sid"].as_str().unwrap());
    let tasks = ok(daemon.get(&format!("{base}/Tasks")), 200);
    let task = tasks["tasks"][0]["sid"].as_str().unwrap().to_owned();
    let queues = ok(daemon.get(&format!("{base}/TaskQueues")), 200);
    let queue = queues["task_queues"][0]["sid"].as_str().unwrap().to_owned();
    let bob_worker = bob.person["person"]["worker_sid"].as_str().unwrap();
    let own_worker = person["worker_sid"].as_str().unwrap();
    let form = |to: &str, mode: &str| {
        vec![("TaskSid", task.clone()), ("To", to.to_owned()), ("Mode", mode.to_owned())]
    };
    let post = |session: &Session, form: &[(&str, String)], csrf: bool| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        daemon.console_post(session, "/console/transfers", &form, csrf)
    };
    assert_eq!(post(bob, &form(&queue, "cold"), true).status, 404, "Bob holds no such task");
    assert_eq!(post(alice, &form(&queue, "cold"), false).status, 403, "no CSRF token");
    assert_eq!(post(alice, &form(own_worker, "cold"), true).status, 400, "not to herself");
    assert_eq!(post(alice, &form("WQ00000000000000000000000000000000", "cold"), true).status, 400);
    assert_eq!(post(alice, &form(bob_worker, "lukewarm"), true).status, 400);
    let made = post(alice, &form(&queue, "cold"), true);
    Contract::fetch(daemon).check("post", "/console/transfers", &made);
    let made = ok(made, 201);
    let attributes: Value = serde_json::from_str(made["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["channelSid"], channel);
    assert_eq!(attributes["transferTargetType"], "queue");
    assert_eq!(attributes["ignoreWorkerContactUri"], "client:alice");
    let old = ok(daemon.get(&format!("{base}/Tasks/{task}")), 200);
    assert_eq!(old["assignment_status"], "wrapping", "a cold transfer wraps the agent's task up");
    let fetched = ok(daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}")), 200);
    assert!(fetched["attributes"].as_str().unwrap().contains("\"ACTIVE\""), "{fetched}");
    assert_eq!(post(alice, &form(&queue, "cold"), true).status, 404, "she holds it no more");
}

/// The agent view in real headless Chromium: a web customer on the widget answered by one agent
/// and transferred (warm) to a second, and an SMS customer (signed webhooks) answered from the
/// console; the SMS reply's first delivery is refused by the provider, shown with its error and
/// sent again from the console; an image sent from the console reaches the provider as a link.
#[test]
fn in_chromium_agents_answer_a_web_and_an_sms_customer_and_transfer_from_the_console() {
    let twilio = FakeServer::start();
    // The first reply to the SMS customer is refused: the console shows it and sends it again.
    twilio.fail_next(&[400]);
    let (_temp, daemon, service) = started(&twilio);
    let alice = person_signed_in(&daemon, "alice", "agent");
    person_signed_in(&daemon, "bob", "agent");
    let workspace = alice.person["person"]["workspace_sid"].as_str().unwrap();
    crate::task_routing::transfer_workflow(
        &daemon,
        &format!("/taskrouter/v1/Workspaces/{workspace}"),
    );
    let artefacts =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-agent-artefacts");
    let mut scenario = std::process::Command::new("node");
    scenario
        .arg("e2e/console-agent.mjs")
        .current_dir(crate::widget::ui())
        .env("DAEMON", &daemon.base_url)
        .env("USERNAME", "alice")
        .env("SECOND", "bob")
        .env("PASSWORD", PASSWORD)
        .env("AUTH_TOKEN", AUTH_TOKEN)
        .env("SMS_FROM", CUSTOMER)
        .env("SMS_TO", OUR_NUMBER)
        .env("SMS_COUNT", "70")
        .env("ARTEFACTS", &artefacts)
        .env("CHROMIUM", crate::widget::chromium());
    crate::widget::node_report(&mut scenario, &daemon, "the agent scenario");
    let views = ["0-idle", "1-offer", "2-conversation", "4-transfer", "5b-customer-offline"];
    let more = ["6-wrapping-up", "8-sms-paged-back", "12-sms-came-back", "14-cold-transfer"];
    for view in views.iter().chain(&more) {
        assert!(artefacts.join(format!("agent-{view}.png")).exists(), "{view}");
    }
    what_the_provider_got(&twilio);
    the_sms_customer_waits_in_the_queue(&daemon, workspace);
    the_web_chat_ended(&daemon, &service);
}

/// The cold transfer's task waits in the queue, naming it, the agent who left it left out.
fn the_sms_customer_waits_in_the_queue(daemon: &Daemon, workspace: &str) {
    let tasks = daemon.get(&format!("/taskrouter/v1/Workspaces/{workspace}/Tasks")).json();
    let pending: Vec<Value> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["assignment_status"] == "pending")
        .map(|t| serde_json::from_str(t["attributes"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let attributes = &pending[0];
    assert_eq!(attributes["transferTargetType"], "queue", "{attributes}");
    assert_eq!(attributes["ignoreAgent"], "alice", "{attributes}");
    assert_eq!(attributes["from"], CUSTOMER, "{attributes}");
}

/// The SMS reply reached the provider, refused once and then sent again from the console; the
/// attachment went out as a signed link to its bytes.
fn what_the_provider_got(twilio: &FakeServer) {
    let shipped = "Your order has shipped.";
    assert!(wait_for(Duration::from_secs(10), || {
        twilio.requests().iter().filter(|r| r.param("Body").as_deref() == Some(shipped)).count()
            == 2
    }));
    let mut requests = Vec::new();
    assert!(wait_for(Duration::from_secs(10), || {
        requests = twilio.requests();
        requests.len() == 3
    }));
    assert!(requests.iter().all(|r| r.param("To").as_deref() == Some(CUSTOMER)));
    assert_eq!(requests[2].param("Body").as_deref(), Some("Your receipt"));
    let link = requests[2].param("MediaUrl").expect("the attachment's link");
    let bytes = ureq::get(&link).call().expect("the signed link serves the bytes");
    assert_eq!(bytes.content_type(), "image/png");
}

/// The web customer's channel ended its interaction, both agents wrote in it, and they left it
/// on completion.
fn the_web_chat_ended(daemon: &Daemon, service: &str) {
    let web = daemon
        .channels(service)
        .into_iter()
        .find(|c| c["friendly_name"] == "Ada Visitor")
        .expect("the web customer's channel");
    let attributes: Value = serde_json::from_str(web["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["status"], "INACTIVE");
    assert_eq!(attributes["pre_engagement_data"]["friendly_name"], "Ada Visitor");
    let members = crate::task_routing::members(daemon, service, web["sid"].as_str().unwrap());
    assert!(!members.iter().any(|m| m == "alice" || m == "bob"), "{members:?}");
    let authors: Vec<Value> = daemon
        .messages(service, web["sid"].as_str().unwrap())
        .iter()
        .map(|m| m["from"].clone())
        .collect();
    assert!(authors.contains(&"bob".into()) && authors.contains(&"alice".into()), "{authors:?}");
}

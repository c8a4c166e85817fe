//! Studio flows run from traffic through the real binary: a Flex Flow with
//! `IntegrationType=studio` gives SMS customers' messages to its Studio flow (Studio's own JSON,
//! in tests/fixtures/studio), whose bot messages reach the customer through Twilio's Messages API
//! (a fake on 127.0.0.1): a greeting and menu that waits for replies, resumes after a kill -9
//! and times out once, also across a restart; a pre-survey that sends the customer to Flex as a TaskRouter task with
//! the answers in its attributes; a lookup in an HTTP service the test serves (allowed on
//! loopback by the test's configuration), branching on its answer, the service failing and one
//! on a loopback address the configuration does not allow, never called; a task TaskRouter
//! refuses, which leaves the customer to the bot rather than to no one; a
//! web chat customer through the pre-survey, the bot's messages in the chat; and the provider
//! failing the bot's messages (refused by the API, or reported undelivered by a status
//! callback), which takes the widgets' `failed` and `deliveryFailure` transitions once.

use std::time::Duration;

use serde_json::Value;

use crate::inbound::wait_for;
use crate::support::api::{
    daemon_command, twilio_signature, Response, ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER,
};
use crate::support::fake::{FakeServer, Reply};
use crate::support::Daemon;

const GREETING: &str = include_str!("../fixtures/studio/greeting_menu.json");
const PRE_SURVEY: &str = include_str!("../fixtures/studio/pre_survey.json");
const HTTP_LOOKUP: &str = include_str!("../fixtures/studio/http_lookup.json");

/// The pre-survey fixture sending to Flex through `workflow` on task channel `task_channel`.
fn pre_survey(workflow: &str, task_channel: &str) -> String {
    PRE_SURVEY
        .replace("WW00000000000000000000000000000000", workflow)
        .replace("TC00000000000000000000000000000000", task_channel)
}

fn start(data: &std::path::Path, twilio: &FakeServer) -> Daemon {
    let mut command = daemon_command(data);
    command
        .env("SWITCHBOARD_TWILIO_API_BASE", &twilio.url)
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND", "0");
    Daemon::start(command)
}

fn ok(response: Response, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    response.json()
}

/// A published Studio flow of `definition` and an enabled SMS Flex Flow running it; returns
/// (Chat service, Studio flow).
fn studio_flow(daemon: &Daemon, name: &str, definition: &str) -> (String, String) {
    studio_flow_with(daemon, name, definition, &[])
}

/// [`studio_flow`], the Flex Flow with `more` of its settings.
fn studio_flow_with(
    daemon: &Daemon,
    name: &str,
    definition: &str,
    more: &[(&str, &str)],
) -> (String, String) {
    let form = [("FriendlyName", name), ("Status", "published"), ("Definition", definition)];
    let flow = ok(daemon.post("/studio/v2/Flows", &form), 201)["sid"].as_str().unwrap().to_owned();
    let mut settings = vec![
        ("ChannelType", "sms"),
        ("ContactIdentity", OUR_NUMBER),
        ("Enabled", "true"),
        ("IntegrationType", "studio"),
        ("Integration.FlowSid", &flow),
    ];
    settings.extend_from_slice(more);
    let (service, _) = daemon.flow(&settings);
    (service, flow)
}

/// The bodies Twilio's fake was asked to send to `to`, in order.
fn sent_to(twilio: &FakeServer, to: &str) -> Vec<String> {
    let to_customer = |r: &crate::support::fake::Received| r.param("To").as_deref() == Some(to);
    twilio.requests().iter().filter(|r| to_customer(r)).filter_map(|r| r.param("Body")).collect()
}

/// Waits until `count` messages went to `to`; returns them all.
#[track_caller]
fn await_sent(twilio: &FakeServer, to: &str, count: usize) -> Vec<String> {
    let reached = wait_for(Duration::from_secs(15), || sent_to(twilio, to).len() >= count);
    assert!(reached, "{count} messages to {to}; sent: {:?}", sent_to(twilio, to));
    sent_to(twilio, to)
}

fn sms(daemon: &Daemon, from: &str, body: &str, n: u32) {
    let sid = format!("SM{n:032}");
    assert_eq!(daemon.sms(from, body, &sid).status, 200);
}

/// The status in the attributes of the service's first channel (`ACTIVE`, `INACTIVE`).
fn channel_status(daemon: &Daemon, service: &str) -> String {
    let channel = &daemon.channels(service)[0];
    let attributes: Value = serde_json::from_str(channel["attributes"].as_str().unwrap()).unwrap();
    attributes["status"].as_str().unwrap_or_default().to_owned()
}

/// The executions of a Studio flow, newest first.
fn executions(daemon: &Daemon, flow: &str) -> Vec<Value> {
    let list = ok(daemon.get(&format!("/studio/v2/Flows/{flow}/Executions")), 200);
    list["executions"].as_array().unwrap().clone()
}

/// The steps of an execution as `from -event-> to`.
fn walked(daemon: &Daemon, flow: &str, execution: &str) -> Vec<String> {
    let path = format!("/studio/v2/Flows/{flow}/Executions/{execution}/Steps");
    let steps = ok(daemon.get(&path), 200);
    let step = |s: &Value| {
        let field = |k: &str| s[k].as_str().unwrap().to_owned();
        format!("{} -{}-> {}", field("transitioned_from"), field("name"), field("transitioned_to"))
    };
    steps["steps"].as_array().unwrap().iter().map(step).collect()
}

const ADA: &str = "+15551110001";
const BOB: &str = "+15551110002";
const CAROL: &str = "+15551110003";

#[test]
fn a_menu_waits_for_replies_across_a_restart_and_times_out_once() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let twilio = FakeServer::start();
    let daemon = start(&data, &twilio);
    let (service, flow) = studio_flow(&daemon, "Owl Shoes bot", GREETING);
    sms(&daemon, ADA, "hello", 1);
    let greeting = "Welcome to Owl Shoes! Reply 1 for orders, 2 for returns.";
    assert_eq!(await_sent(&twilio, ADA, 1), [greeting]);
    // Killed (SIGKILL: no clean stop) while waiting for Ada's reply, then started again: her
    // reply resumes the execution where it was. The kill comes once the greeting's delivery is
    // recorded and a moment has passed: a reply to a provider is delivered at least once, and
    // one killed mid-delivery may go out twice (tests/e2e/replies.rs), which is not this test's.
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let delivered =
        || daemon.messages(&service, &channel).iter().any(|m| m["delivery_status"] == "sent");
    assert!(wait_for(Duration::from_secs(10), delivered), "the greeting's delivery is recorded");
    std::thread::sleep(Duration::from_secs(1));
    drop(daemon);
    let daemon = start(&data, &twilio);
    sms(&daemon, ADA, "7", 2);
    let sorry = "Sorry, \"7\" is not on the menu.";
    assert_eq!(await_sent(&twilio, ADA, 3), [greeting, sorry, greeting]);
    sms(&daemon, ADA, "1", 3);
    let orders = format!("Orders: we will text {ADA} with your tracking number.");
    assert_eq!(await_sent(&twilio, ADA, 4)[3], orders);
    let all = executions(&daemon, &flow);
    assert_eq!(all.len(), 1, "one execution for the conversation: {all:?}");
    let execution = all[0]["sid"].as_str().unwrap();
    assert!(wait_for(Duration::from_secs(5), || executions(&daemon, &flow)[0]["status"] == "ended"));
    assert_eq!(
        walked(&daemon, &flow, execution),
        [
            "Trigger -incomingMessage-> greeting",
            "greeting -incomingMessage-> menu_choice",
            "menu_choice -noMatch-> did_not_understand",
            "did_not_understand -sent-> greeting",
            "greeting -incomingMessage-> menu_choice",
            "menu_choice -match-> orders",
        ]
    );
    let history: Vec<(String, String)> = daemon
        .messages(&service, &channel)
        .iter()
        .map(|m| (m["from"].as_str().unwrap().into(), m["body"].as_str().unwrap().into()))
        .collect();
    assert_eq!(history.len(), 7, "three from Ada, four from the bot: {history:?}");
    assert_eq!(history[0], (ADA.to_owned(), "hello".to_owned()));
    assert_eq!(history[1], ("Owl Shoes bot".to_owned(), greeting.to_owned()), "the bot's own");
    times_out_once(daemon, &data, &twilio, &flow);
}

/// A revision whose greeting waits two seconds: Bob, who never answers, is told goodbye once,
/// and a restart after that fires nothing more.
fn times_out_once(daemon: Daemon, data: &std::path::Path, twilio: &FakeServer, flow: &str) {
    let quick = GREETING.replace(r#""timeout": "3600""#, r#""timeout": "2""#);
    let revise = [("Status", "published"), ("Definition", quick.as_str())];
    ok(daemon.post(&format!("/studio/v2/Flows/{flow}"), &revise), 200);
    sms(&daemon, BOB, "hi", 10);
    let goodbye = "We did not hear back. Text us any time.";
    assert_eq!(await_sent(twilio, BOB, 2)[1], goodbye);
    // The stop comes once the goodbye's delivery is recorded (its `send-message` ends the run
    // only then): a reply the provider took but the stop kept from being recorded goes out
    // again, at least once, which is not this test's.
    let ended = || {
        executions(&daemon, flow)
            .iter()
            .any(|e| e["contact_channel_address"] == BOB && e["status"] == "ended")
    };
    assert!(wait_for(Duration::from_secs(10), ended), "Bob's execution ends");
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let daemon = start(data, twilio);
    std::thread::sleep(Duration::from_secs(3));
    let sent = sent_to(twilio, BOB);
    assert_eq!(sent.len(), 2, "the timeout fired once: {sent:?}");
    let bob = executions(&daemon, flow).into_iter().find(|e| e["contact_channel_address"] == BOB);
    let bob = bob.expect("Bob's execution");
    assert_eq!(bob["status"], "ended");
    assert_eq!(
        walked(&daemon, flow, bob["sid"].as_str().unwrap()),
        ["Trigger -incomingMessage-> greeting", "greeting -timeout-> no_answer"]
    );
}

/// A FIFO workspace; returns its path, its workflow and its `sms` task channel.
fn workspace(daemon: &Daemon) -> (String, String, String) {
    let made =
        daemon.post("/taskrouter/v1/Workspaces", &[("FriendlyName", "Owl"), ("Template", "FIFO")]);
    let base = format!("/taskrouter/v1/Workspaces/{}", ok(made, 201)["sid"].as_str().unwrap());
    let workflows = ok(daemon.get(&format!("{base}/Workflows")), 200);
    let workflow = workflows["workflows"][0]["sid"].as_str().unwrap().to_owned();
    let channels = ok(daemon.get(&format!("{base}/TaskChannels")), 200);
    let sms = channels["channels"].as_array().unwrap().iter().find(|c| c["unique_name"] == "sms");
    let channel = sms.expect("an sms task channel")["sid"].as_str().unwrap().to_owned();
    (base, workflow, channel)
}

#[test]
fn a_pre_survey_sends_the_customer_to_flex_with_the_answers() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let daemon = start(&temp.path().join("data"), &twilio);
    let (base, workflow, task_channel) = workspace(&daemon);
    let definition = pre_survey(&workflow, &task_channel);
    let (service, flow) = studio_flow(&daemon, "Pre-survey", &definition);
    sms(&daemon, ADA, "I need help", 1);
    await_sent(&twilio, ADA, 1);
    sms(&daemon, ADA, "  ada ", 2);
    let asked = await_sent(&twilio, ADA, 2);
    assert_eq!(asked[1], "Thanks Ada. Is it about billing or delivery?");
    sms(&daemon, ADA, "Billing", 3);
    // At once, before the task is made: the execution has ended, but the channel is the agent's.
    sms(&daemon, ADA, "hello?", 4);
    let mut tasks = Vec::new();
    let made = wait_for(Duration::from_secs(15), || {
        tasks = ok(daemon.get(&format!("{base}/Tasks")), 200)["tasks"].as_array().unwrap().clone();
        !tasks.is_empty()
    });
    assert!(made, "send-to-flex made a TaskRouter task");
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let task = &tasks[0];
    let attributes: Value = serde_json::from_str(task["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes["name"], "Ada");
    assert_eq!(attributes["topic"], "billing");
    assert_eq!(attributes["channelType"], "sms");
    assert_eq!(attributes["channelSid"], channel.as_str());
    assert_eq!(attributes["from"], ADA);
    assert_eq!(attributes["first_message"], "I need help");
    assert_eq!(
        (task["workflow_sid"].as_str(), task["task_channel_sid"].as_str()),
        (Some(workflow.as_str()), Some(task_channel.as_str()))
    );
    assert_eq!(task["priority"], 5);
    let open = ok(daemon.get("/admin/v1/Tasks"), 200);
    assert_eq!(open["tasks"][0]["sid"], task["sid"], "the channel's task and TaskRouter's are one");
    let execution = &executions(&daemon, &flow)[0];
    assert_eq!(execution["status"], "ended");
    // The channel is the agent's now: the customer's next messages start no bot.
    sms(&daemon, ADA, "anyone?", 5);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sent_to(&twilio, ADA).len(), 2, "no bot message once an agent holds the channel");
    assert_eq!(executions(&daemon, &flow).len(), 1);
}

/// The CRM: Ada is a gold customer; every call is recorded.
fn crm() -> FakeServer {
    FakeServer::start_with(|request| {
        if request.path.starts_with("/log-visit") {
            return Reply::status(200);
        }
        let asked: Value = serde_json::from_str(&request.body).unwrap_or_default();
        let tier = if asked["phone"] == ADA { "gold" } else { "silver" };
        Reply::json(&serde_json::json!({"id": "C42", "name": "Ada", "tier": tier}))
    })
}

#[test]
fn a_flow_branches_on_an_http_service_s_answer_and_on_its_failure() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let service_fake = crm();
    let daemon = start(&temp.path().join("data"), &twilio);
    let definition = HTTP_LOOKUP
        .replace("https://crm.example.com", &service_fake.url)
        .replace("https://owl-shoes-1234.twil.io", &service_fake.url);
    let (_, flow) = studio_flow(&daemon, "CRM lookup", &definition);
    sms(&daemon, ADA, "where is my order", 1);
    assert_eq!(await_sent(&twilio, ADA, 1), ["Welcome back, Ada! Your gold line is open."]);
    assert!(wait_for(Duration::from_secs(10), || service_fake.requests().len() >= 2));
    let calls = service_fake.requests();
    let lookup = &calls[0];
    assert_eq!((lookup.method.as_str(), lookup.path.as_str()), ("POST", "/customers/lookup"));
    assert_eq!(lookup.json()["phone"], ADA);
    assert_eq!(lookup.json()["text"], "where is my order");
    let key = lookup.header("Idempotency-Key").expect("an idempotency key");
    assert!(key.starts_with("FT"), "{key}");
    let visit = &calls[1];
    assert!(visit.path.starts_with("/log-visit"), "{}", visit.path);
    assert_eq!(visit.param("customer").as_deref(), Some("C42"));
    assert_ne!(visit.header("Idempotency-Key"), Some(key), "a key per step");
    assert!(wait_for(Duration::from_secs(5), || executions(&daemon, &flow)[0]["status"] == "ended"));
    let execution = executions(&daemon, &flow)[0]["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        walked(&daemon, &flow, &execution),
        [
            "Trigger -incomingMessage-> crm_lookup",
            "crm_lookup -success-> check_tier",
            "check_tier -match-> vip",
            "vip -sent-> log_visit",
        ]
    );
    // The service fails for Bob: the flow takes its failure branch, with the status.
    service_fake.fail_next(&[503]);
    sms(&daemon, BOB, "hi", 2);
    assert_eq!(
        await_sent(&twilio, BOB, 1),
        ["Our systems are down (503). Please try again later."]
    );
    assert_eq!(service_fake.requests().len(), 3, "a failed call is not repeated");
    // A service on a loopback address the configuration does not allow is never called.
    let inside = FakeServer::start_on("127.0.0.2", |_| Reply::status(200));
    let hidden = HTTP_LOOKUP.replace("https://crm.example.com", &inside.url);
    let revise = [("Status", "published"), ("Definition", hidden.as_str())];
    ok(daemon.post(&format!("/studio/v2/Flows/{flow}"), &revise), 200);
    sms(&daemon, CAROL, "hi", 3);
    assert_eq!(await_sent(&twilio, CAROL, 1), ["Our systems are down (). Please try again later."]);
    assert!(inside.requests().is_empty(), "the outbound policy refused 127.0.0.2");
    let carol =
        executions(&daemon, &flow).into_iter().find(|e| e["contact_channel_address"] == CAROL);
    let carol = carol.expect("Carol's execution")["sid"].as_str().unwrap().to_owned();
    let steps = ok(daemon.get(&format!("/studio/v2/Flows/{flow}/Executions/{carol}/Steps")), 200);
    let error = steps["steps"][0]["context"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("outbound policy"), "the lookup step says why: {steps}");
}

#[test]
fn a_web_chat_customer_goes_through_the_pre_survey_to_flex() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let daemon = start(&temp.path().join("data"), &twilio);
    let (base, workflow, _) = workspace(&daemon);
    let definition = pre_survey(&workflow, "chat");
    let form =
        [("FriendlyName", "Web survey"), ("Status", "published"), ("Definition", &definition)];
    let flow = ok(daemon.post("/studio/v2/Flows", &form), 201)["sid"].as_str().unwrap().to_owned();
    let (service, web_flow) = daemon.flow(&[
        ("ChannelType", "web"),
        ("Enabled", "true"),
        ("IntegrationType", "studio"),
        ("Integration.FlowSid", &flow),
    ]);
    let form = [
        ("FlexFlowSid", web_flow.as_str()),
        ("Identity", "guest-7"),
        ("CustomerFriendlyName", "Guest"),
        ("ChatFriendlyName", "Web chat"),
        ("PreEngagementData", r#"{"friendlyName":"Guest","location":"/pricing"}"#),
    ];
    let channel =
        ok(daemon.post("/flex/v1/WebChannels", &form), 201)["sid"].as_str().unwrap().to_owned();
    let say = |body: &str| {
        let path = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
        ok(daemon.post(&path, &[("From", "guest-7"), ("Body", body)]), 201);
    };
    let bot_says = |count: usize| {
        let mut said = Vec::new();
        let reached = wait_for(Duration::from_secs(15), || {
            said = daemon
                .messages(&service, &channel)
                .into_iter()
                .filter(|m| m["from"] == "Web survey")
                .map(|m| m["body"].as_str().unwrap().to_owned())
                .collect();
            said.len() >= count
        });
        assert!(reached, "{count} bot messages in the chat: {said:?}");
        said
    };
    say("hello");
    assert_eq!(bot_says(1), ["Hi! Before we connect you, what is your name?"]);
    say("grace");
    assert_eq!(bot_says(2)[1], "Thanks Grace. Is it about billing or delivery?");
    say("Delivery");
    let mut tasks = Vec::new();
    let made = wait_for(Duration::from_secs(15), || {
        tasks = ok(daemon.get(&format!("{base}/Tasks")), 200)["tasks"].as_array().unwrap().clone();
        !tasks.is_empty()
    });
    assert!(made, "send-to-flex made a TaskRouter task");
    let attributes: Value = serde_json::from_str(tasks[0]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&attributes["name"], &attributes["topic"], &attributes["channelType"]),
        (&Value::from("Grace"), &Value::from("delivery"), &Value::from("web"))
    );
    assert_eq!(attributes["channelSid"], channel.as_str());
    assert_eq!(attributes["from"], "guest-7");
    assert!(twilio.requests().is_empty(), "a web chat's bot messages stay in the chat");
}

#[test]
fn a_task_flex_refuses_ends_the_interaction_and_the_next_message_meets_the_bot_again() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let daemon = start(&temp.path().join("data"), &twilio);
    let (_, workflow, _) = workspace(&daemon);
    let definition = pre_survey(&workflow, "carrier-pigeon");
    let (service, flow) = studio_flow(&daemon, "Pre-survey", &definition);
    sms(&daemon, ADA, "hi", 1);
    await_sent(&twilio, ADA, 1);
    sms(&daemon, ADA, "Ada", 2);
    await_sent(&twilio, ADA, 2);
    sms(&daemon, ADA, "billing", 3);
    let status = || channel_status(&daemon, &service);
    let closed = wait_for(Duration::from_secs(15), || status() == "INACTIVE");
    assert!(closed, "the refused task closed the interaction; the channel is {}", status());
    let open = ok(daemon.get("/admin/v1/Tasks"), 200);
    assert_eq!(open["tasks"], serde_json::json!([]), "no task is left open in the channel");
    sms(&daemon, ADA, "anyone there?", 4);
    let sent = await_sent(&twilio, ADA, 3);
    assert_eq!(sent[2], "Hi! Before we connect you, what is your name?", "the bot again");
    assert_eq!(executions(&daemon, &flow).len(), 2);
}

#[test]
fn a_long_lived_channel_s_next_interaction_meets_the_bot_and_reaches_flex_with_a_task_of_its_own() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let daemon = start(&temp.path().join("data"), &twilio);
    let (base, workflow, task_channel) = workspace(&daemon);
    let definition = pre_survey(&workflow, &task_channel);
    let long_lived = [("LongLived", "true")];
    let (service, flow) = studio_flow_with(&daemon, "Pre-survey", &definition, &long_lived);
    let tasks =
        || ok(daemon.get(&format!("{base}/Tasks")), 200)["tasks"].as_array().unwrap().clone();
    let survey = |first: u32, name: &str| {
        let sent = sent_to(&twilio, ADA).len();
        sms(&daemon, ADA, "hello", first);
        let greeted = await_sent(&twilio, ADA, sent + 1);
        assert_eq!(greeted[sent], "Hi! Before we connect you, what is your name?");
        sms(&daemon, ADA, name, first + 1);
        await_sent(&twilio, ADA, sent + 2);
        sms(&daemon, ADA, "delivery", first + 2);
    };
    survey(1, "Ada");
    assert!(wait_for(Duration::from_secs(15), || tasks().len() == 1), "the first task");
    let first = tasks()[0]["sid"].as_str().unwrap().to_owned();
    let form = [("AssignmentStatus", "canceled"), ("Reason", "the customer left")];
    ok(daemon.post(&format!("{base}/Tasks/{first}"), &form), 200);
    let status = || channel_status(&daemon, &service);
    let closed = wait_for(Duration::from_secs(15), || status() == "INACTIVE");
    assert!(closed, "the canceled task closed the interaction: {}", status());
    survey(4, "Ada Lovelace");
    let second = wait_for(Duration::from_secs(15), || {
        tasks().iter().any(|t| t["sid"] != first.as_str() && t["assignment_status"] == "pending")
    });
    assert!(second, "the second interaction's task, not the first's again: {:?}", tasks());
    assert_eq!(daemon.channels(&service).len(), 1, "one long-lived channel for both");
    assert_eq!(executions(&daemon, &flow).len(), 2);
}

/// A fake Twilio that accepts every message with an `SM…` SID of its own ([`bot_sid`]), in
/// order from 0 (a refusal `fail_next` planned takes no number).
fn twilio_with_sids() -> FakeServer {
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    FakeServer::start_with(move |_| {
        let n = accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::json(&serde_json::json!({"sid": bot_sid(n), "status": "queued"}))
    })
}

/// The SID Twilio's fake gives the `n`th message it accepts, unlike any inbound one's.
fn bot_sid(n: usize) -> String {
    format!("SMbbbb{n:028}")
}

/// Posts Twilio's status callback for message `sid`, signed.
fn status_callback(daemon: &Daemon, sid: &str, status: &str) {
    let url = daemon.url("/webhooks/twilio/status");
    let params = [("MessageSid", sid), ("MessageStatus", status), ("AccountSid", ACCOUNT_SID)];
    let signature = twilio_signature(AUTH_TOKEN, &url, &params);
    let posted = ureq::post(&url).set("X-Twilio-Signature", &signature).send_form(&params);
    assert_eq!(posted.map(|r| r.status()).unwrap_or(0), 200, "the report is taken");
}

/// The execution whose customer is `address`.
fn execution_of(daemon: &Daemon, flow: &str, address: &str) -> Value {
    let found =
        executions(daemon, flow).into_iter().find(|e| e["contact_channel_address"] == address);
    found.unwrap_or_else(|| panic!("{address}'s execution"))
}

/// Waits until `address`'s execution has walked `steps`.
#[track_caller]
fn await_walked(daemon: &Daemon, flow: &str, address: &str, steps: &[&str]) {
    let mut seen = Vec::new();
    let reached = wait_for(Duration::from_secs(15), || {
        let execution = execution_of(daemon, flow, address);
        seen = walked(daemon, flow, execution["sid"].as_str().unwrap());
        seen == steps
    });
    assert!(reached, "{address}'s execution walked {seen:?}, not {steps:?}");
}

/// Carol's "Sorry" is refused: the `send-message` takes `failed` (which ends the flow), not
/// `sent` back to the greeting. Returns the steps her execution walked.
fn refused_sorry(daemon: &Daemon, twilio: &FakeServer, flow: &str) -> [&'static str; 3] {
    let to_greeting = "Trigger -incomingMessage-> greeting";
    sms(daemon, CAROL, "hi", 3);
    assert_eq!(await_sent(twilio, CAROL, 1).len(), 1);
    await_walked(daemon, flow, CAROL, &[to_greeting]);
    twilio.fail_next(&[400]);
    sms(daemon, CAROL, "7", 4);
    let no_menu = [
        to_greeting,
        "greeting -incomingMessage-> menu_choice",
        "menu_choice -noMatch-> did_not_understand",
    ];
    await_walked(daemon, flow, CAROL, &no_menu);
    let ended = || execution_of(daemon, flow, CAROL)["status"] == "ended";
    assert!(wait_for(Duration::from_secs(10), ended), "the refused Sorry ended the flow");
    no_menu
}

#[test]
fn the_provider_failing_the_bot_s_messages_takes_the_failure_transitions_once() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let twilio = twilio_with_sids();
    let daemon = start(&data, &twilio);
    // A greeting whose delivery failure says goodbye (the goodbye's own failure ends it).
    let definition = GREETING.replace(
        r#"{"event": "deliveryFailure"}"#,
        r#"{"next": "no_answer", "event": "deliveryFailure"}"#,
    );
    assert_ne!(definition, GREETING);
    let (service, flow) = studio_flow(&daemon, "Owl Shoes bot", &definition);
    let greeting = "Welcome to Owl Shoes! Reply 1 for orders, 2 for returns.";
    let goodbye = "We did not hear back. Text us any time.";
    let to_greeting = "Trigger -incomingMessage-> greeting";
    let to_goodbye = "greeting -deliveryFailure-> no_answer";

    // Twilio refuses Ada's greeting (a 400 is not retried): the outbox records it failed.
    twilio.fail_next(&[400]);
    sms(&daemon, ADA, "hello", 1);
    assert_eq!(await_sent(&twilio, ADA, 2), [greeting, goodbye]);
    await_walked(&daemon, &flow, ADA, &[to_greeting, to_goodbye]);
    let ada = execution_of(&daemon, &flow, ADA);
    assert!(
        wait_for(Duration::from_secs(5), || execution_of(&daemon, &flow, ADA)["status"] == "ended")
    );
    let steps_path =
        format!("/studio/v2/Flows/{flow}/Executions/{}/Steps", ada["sid"].as_str().unwrap());
    let steps = ok(daemon.get(&steps_path), 200);
    let error = steps["steps"][0]["context"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.starts_with("400"), "the greeting's step says why: {steps}");

    // Bob's greeting is accepted (the second accepted, after Ada's goodbye), then reported
    // undelivered: his execution, waiting for his reply, takes `deliveryFailure` instead.
    sms(&daemon, BOB, "hi", 2);
    assert_eq!(await_sent(&twilio, BOB, 1), [greeting]);
    let bob_greeting = bot_sid(1);
    let bob_channel = daemon.channels(&service).into_iter().find(|c| {
        let channel = c["sid"].as_str().unwrap();
        daemon.messages(&service, channel).iter().any(|m| m["from"] == BOB)
    });
    let bob_channel = bob_channel.expect("Bob's channel")["sid"].as_str().unwrap().to_owned();
    let sent = || {
        let messages = daemon.messages(&service, &bob_channel);
        messages.iter().any(|m| m["body"] == greeting && m["delivery_status"] == "sent")
    };
    assert!(wait_for(Duration::from_secs(10), sent), "the greeting's acceptance is recorded");
    await_walked(&daemon, &flow, BOB, &[to_greeting]);
    status_callback(&daemon, &bob_greeting, "undelivered");
    assert_eq!(await_sent(&twilio, BOB, 2), [greeting, goodbye]);
    await_walked(&daemon, &flow, BOB, &[to_greeting, to_goodbye]);

    let no_menu = refused_sorry(&daemon, &twilio, &flow);

    // Once, across a restart: the reports are read again from the channels' logs and the
    // report repeated, and nothing more is sent or walked.
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let daemon = start(&data, &twilio);
    status_callback(&daemon, &bob_greeting, "undelivered");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sent_to(&twilio, BOB), [greeting, goodbye], "the goodbye went once");
    await_walked(&daemon, &flow, BOB, &[to_greeting, to_goodbye]);
    await_walked(&daemon, &flow, CAROL, &no_menu);
    assert_eq!(sent_to(&twilio, CAROL).len(), 2, "the refused Sorry was not sent again");
}

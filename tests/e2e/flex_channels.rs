//! Flex v1 `Channels` and `WebChannels` through the real daemon: one call opens the customer's
//! channel (member, task) and later calls find it, even twenty at once; the bridge's customer
//! messages through the Chat API count as the customer's; a web chat ends with
//! `ChatStatus=inactive`; bad input gets Twilio's error shape and writes nothing.

use std::time::Duration;

use serde_json::{json, Value};

use crate::inbound::wait_for;
use crate::support::api::{assert_twilio_error, daemon_command, Response, ACCOUNT_SID};
use crate::support::fake::FakeServer;
use crate::support::Daemon;

fn start(data: &std::path::Path) -> Daemon {
    let mut command = daemon_command(data);
    command.env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    Daemon::start(command)
}

/// A custom-channel flow with the task integration: (IS, FO).
fn custom_task_flow(daemon: &Daemon, long_lived: bool) -> (String, String) {
    let long_lived = if long_lived { "true" } else { "false" };
    daemon.flow(&[
        ("ChannelType", "custom"),
        ("Enabled", "true"),
        ("IntegrationType", "task"),
        ("LongLived", long_lived),
    ])
}

fn open(daemon: &Daemon, flow: &str, identity: &str, more: &[(&str, &str)]) -> Response {
    let mut form = vec![
        ("FlexFlowSid", flow),
        ("Identity", identity),
        ("ChatUserFriendlyName", "Ana"),
        ("ChatFriendlyName", "Chat with Ana"),
    ];
    form.extend_from_slice(more);
    daemon.post("/flex/v1/Channels", &form)
}

fn chat_channel(daemon: &Daemon, service: &str, channel: &str) -> Value {
    let fetched = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{channel}"));
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    fetched.json()
}

fn attributes(daemon: &Daemon, service: &str, channel: &str) -> Value {
    let channel = chat_channel(daemon, service, channel);
    serde_json::from_str(channel["attributes"].as_str().unwrap()).unwrap()
}

fn tasks_of(daemon: &Daemon, channel: &str) -> Vec<Value> {
    let tasks = daemon.get("/admin/v1/Tasks?PageSize=1000");
    assert_eq!(tasks.status, 200, "{}", tasks.body);
    tasks.json()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["channel_sid"] == channel)
        .cloned()
        .collect()
}

fn post_message(daemon: &Daemon, service: &str, channel: &str, from: &str, body: &str) -> Response {
    daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{channel}/Messages"),
        &[("From", from), ("Body", body)],
    )
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn one_call_opens_the_channel_member_and_task_and_the_next_finds_them() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (service, flow) = custom_task_flow(&daemon, false);
    let created = open(
        &daemon,
        &flow,
        "customer-1",
        &[
            ("PreEngagementData", r#"{"question":"where is my order"}"#),
            ("TaskAttributes", r#"{"tier":"gold","name":"Ana B."}"#),
        ],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let channel = created.json();
    assert_eq!(
        keys(&channel),
        [
            "account_sid",
            "date_created",
            "date_updated",
            "flex_flow_sid",
            "sid",
            "task_sid",
            "url",
            "user_sid"
        ]
    );
    let sid = channel["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("CH"), "{channel}");
    assert_eq!(channel["account_sid"], ACCOUNT_SID);
    assert_eq!(channel["flex_flow_sid"], flow);
    assert!(channel["user_sid"].as_str().unwrap().starts_with("US"), "{channel}");
    // It is the customer's Chat User.
    let user = daemon.get(&format!("/chat/v2/Services/{service}/Users/customer-1"));
    assert_eq!(user.status, 200, "{}", user.body);
    assert_eq!(user.json()["sid"], channel["user_sid"]);
    assert_eq!(channel["url"], daemon.url(&format!("/flex/v1/Channels/{sid}")));
    let task_sid = channel["task_sid"].as_str().unwrap().to_owned();
    assert!(task_sid.starts_with("WT"), "{channel}");

    // The Chat side: a private channel with Flex's attributes, the customer as member, a task.
    let chat = chat_channel(&daemon, &service, &sid);
    assert_eq!(chat["type"], "private");
    assert_eq!(chat["friendly_name"], "Chat with Ana");
    assert_eq!(
        attributes(&daemon, &service, &sid),
        json!({
            "status": "ACTIVE",
            "long_lived": false,
            "channel_type": "custom",
            "from": "customer-1",
            "flex_flow_sid": flow,
            "pre_engagement_data": {"question": "where is my order"},
        })
    );
    let members = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{sid}/Members"));
    let members = members.json()["members"].as_array().unwrap().clone();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["identity"], "customer-1");
    assert_eq!(members[0]["attributes"], r#"{"friendlyName":"Ana"}"#);
    let tasks = tasks_of(&daemon, &sid);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["sid"], task_sid);
    let task: Value = serde_json::from_str(tasks[0]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(task["tier"], "gold", "TaskAttributes are merged");
    assert_eq!(task["name"], "Ana B.", "and win over the defaults");
    assert_eq!(task["channelType"], "custom");

    // The bridge calls again for the same customer (a retry, a new session): the same channel.
    let again = open(&daemon, &flow, "customer-1", &[]);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json()["sid"], sid);
    assert_eq!(again.json()["task_sid"], task_sid, "the open task is not doubled");
    assert_eq!(daemon.channels(&service).len(), 1);
    assert_eq!(tasks_of(&daemon, &sid).len(), 1);

    // Fetch and list.
    let fetched = daemon.get(&format!("/flex/v1/Channels/{sid}"));
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.json()["task_sid"], task_sid);
    assert_eq!(fetched.json()["user_sid"], channel["user_sid"]);
    let other = open(&daemon, &flow, "customer-2", &[]);
    assert_eq!(other.status, 201, "{}", other.body);
    assert_ne!(other.json()["sid"], sid);
    let page = daemon.get("/flex/v1/Channels?PageSize=1");
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    assert_eq!(page["meta"]["key"], "flex_chat_channels");
    assert_eq!(page["flex_chat_channels"].as_array().unwrap().len(), 1);
    let next = page["meta"]["next_page_url"].as_str().unwrap();
    let second = daemon.get(next.strip_prefix(&daemon.base_url).unwrap());
    assert_eq!(second.json()["flex_chat_channels"].as_array().unwrap().len(), 1);
    assert_eq!(second.json()["meta"]["next_page_url"], Value::Null);
}

#[test]
fn twenty_concurrent_calls_for_one_customer_make_one_channel() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = std::sync::Arc::new(start(&temp.path().join("data")));
    let (service, flow) = custom_task_flow(&daemon, false);
    // All at once, so that without the router's serialization they would race.
    let start = std::sync::Arc::new(std::sync::Barrier::new(20));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (daemon, flow) = (std::sync::Arc::clone(&daemon), flow.clone());
            let start = std::sync::Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                open(&daemon, &flow, "burst-customer", &[])
            })
        })
        .collect();
    let answers: Vec<Response> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    for answer in &answers {
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let sid = answers[0].json()["sid"].as_str().unwrap().to_owned();
    assert!(answers.iter().all(|a| a.json()["sid"] == sid), "every call got the same channel");
    assert_eq!(daemon.channels(&service).len(), 1);
    let members = daemon.get(&format!("/chat/v2/Services/{service}/Channels/{sid}/Members"));
    assert_eq!(members.json()["members"].as_array().unwrap().len(), 1);
    assert_eq!(tasks_of(&daemon, &sid).len(), 1);
}

#[test]
fn the_bridge_s_customer_messages_reach_the_external_integration_as_the_customer_s() {
    let temp = tempfile::tempdir().unwrap();
    let bot = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let hook = format!("{}/bot", bot.url);
    let (service, flow) = daemon.flow(&[
        ("ChannelType", "custom"),
        ("Enabled", "true"),
        ("IntegrationType", "external"),
        ("Integration.Url", &hook),
    ]);
    let created = open(&daemon, &flow, "bridge-customer", &[]);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["task_sid"], Value::Null, "no task on an external flow");
    let sid = created.json()["sid"].as_str().unwrap().to_owned();
    let posted = post_message(&daemon, &service, &sid, "bridge-customer", "hello from the bridge");
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(posted.json()["from"], "bridge-customer");
    let posted = post_message(&daemon, &service, &sid, "agent.bob", "an agent's answer");
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert!(wait_for(Duration::from_secs(10), || !bot.requests().is_empty()));
    let delivered = &bot.requests()[0];
    assert_eq!(delivered.param("Body").as_deref(), Some("hello from the bridge"));
    assert_eq!(delivered.param("From").as_deref(), Some("bridge-customer"));
    assert_eq!(delivered.param("ChannelSid").as_deref(), Some(sid.as_str()));
    // Give a wrongly queued agent message the time to arrive: only the customer's goes out.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(bot.requests().len(), 1, "{:?}", bot.requests());
}

#[test]
fn an_outbound_sms_chat_shares_the_customer_s_channel_and_never_echoes_the_customer() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let mut command = daemon_command(&temp.path().join("data"));
    command
        .env("SWITCHBOARD_TWILIO_API_BASE", &twilio.url)
        .env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    let daemon = Daemon::start(command);
    let (service, flow) = daemon.sms_flow(false);
    // Target is the customer's number, in any spelling; it is normalized as inbound SMS are.
    let created = open(
        &daemon,
        &flow,
        "+14155550901",
        &[("Target", "+1 (415) 555-0901"), ("TaskAttributes", r#"{"direction":"outbound"}"#)],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let sid = created.json()["sid"].as_str().unwrap().to_owned();
    assert_eq!(attributes(&daemon, &service, &sid)["from"], "+14155550901");
    assert_eq!(
        daemon
            .sms("+14155550901", "thanks for calling", "SM00000000000000000000000000000901")
            .status,
        200
    );
    assert_eq!(daemon.channels(&service).len(), 1, "the inbound SMS found the same channel");
    let posted = post_message(&daemon, &service, &sid, "+14155550901", "typed on the bridge");
    assert_eq!(posted.status, 201, "{}", posted.body);
    let posted = post_message(&daemon, &service, &sid, "agent.alice", "how can I help?");
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert!(wait_for(Duration::from_secs(10), || !twilio.requests().is_empty()));
    std::thread::sleep(Duration::from_millis(500));
    let sent: Vec<_> = twilio.requests().iter().map(|r| r.param("Body").unwrap()).collect();
    assert_eq!(sent, ["how can I help?"], "the customer's own messages are not sent back");
    assert_eq!(twilio.requests()[0].param("To").as_deref(), Some("+14155550901"));
}

#[test]
fn a_channel_opened_for_an_outbound_chat_recognizes_redeliveries_of_the_customer_s_last_one() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (service, flow) = daemon.sms_flow(false);
    let (customer, message_sid) = ("+14155550911", "SM00000000000000000000000000000911");
    assert_eq!(daemon.sms(customer, "before", message_sid).status, 200);
    let first = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let mut retired = attributes(&daemon, &service, &first);
    retired["status"] = "INACTIVE".into();
    let path = format!("/chat/v2/Services/{service}/Channels/{first}");
    let updated = daemon.post(&path, &[("Attributes", &retired.to_string())]);
    assert_eq!(updated.status, 200, "{}", updated.body);
    // The agent writes first: a new channel, which the customer's redelivery then goes to.
    let opened = open(&daemon, &flow, customer, &[("Target", customer)]);
    assert_eq!(opened.status, 201, "{}", opened.body);
    let second = opened.json()["sid"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(daemon.sms(customer, "before", message_sid).status, 200);
    assert!(daemon.messages(&service, &second).is_empty(), "not stored a second time");
    assert_eq!(daemon.messages(&service, &first).len(), 1);
    assert_eq!(daemon.channels(&service).len(), 2);
}

#[test]
fn a_customer_message_reopens_a_long_lived_channel_with_a_new_task() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (service, flow) = custom_task_flow(&daemon, true);
    let created = open(&daemon, &flow, "returning-customer", &[]);
    assert_eq!(created.status, 201, "{}", created.body);
    let sid = created.json()["sid"].as_str().unwrap().to_owned();
    let first_task = created.json()["task_sid"].as_str().unwrap().to_owned();
    let ended = daemon.post(&format!("/flex/v1/WebChannels/{sid}"), &[("ChatStatus", "inactive")]);
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(attributes(&daemon, &service, &sid)["status"], "INACTIVE");
    assert!(tasks_of(&daemon, &sid).is_empty(), "the task was canceled");
    let posted = post_message(&daemon, &service, &sid, "returning-customer", "me again");
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(attributes(&daemon, &service, &sid)["status"], "ACTIVE");
    let tasks = tasks_of(&daemon, &sid);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_ne!(tasks[0]["sid"], first_task.as_str(), "a new interaction, a new task");
    // An agent's message never reopens it.
    let ended = daemon.post(&format!("/flex/v1/WebChannels/{sid}"), &[("ChatStatus", "inactive")]);
    assert_eq!(ended.status, 200, "{}", ended.body);
    let posted = post_message(&daemon, &service, &sid, "agent.bob", "closing note");
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(attributes(&daemon, &service, &sid)["status"], "INACTIVE");
    assert!(tasks_of(&daemon, &sid).is_empty());
}

#[test]
fn a_web_chat_opens_ends_with_chat_status_inactive_and_is_deleted() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (service, flow) =
        daemon.flow(&[("ChannelType", "web"), ("Enabled", "true"), ("IntegrationType", "task")]);
    let form = [
        ("FlexFlowSid", flow.as_str()),
        ("Identity", "guest-42"),
        ("CustomerFriendlyName", "Guest"),
        ("ChatFriendlyName", "Web chat"),
        ("PreEngagementData", r#"{"friendlyName":"Guest","location":"/pricing"}"#),
    ];
    let created = daemon.post("/flex/v1/WebChannels", &form);
    assert_eq!(created.status, 201, "{}", created.body);
    let web = created.json();
    assert_eq!(
        keys(&web),
        ["account_sid", "date_created", "date_updated", "flex_flow_sid", "sid", "url"]
    );
    let sid = web["sid"].as_str().unwrap().to_owned();
    assert_eq!(web["url"], daemon.url(&format!("/flex/v1/WebChannels/{sid}")));
    assert_eq!(attributes(&daemon, &service, &sid)["channel_type"], "web");
    assert_eq!(attributes(&daemon, &service, &sid)["pre_engagement_data"]["location"], "/pricing");
    assert_eq!(tasks_of(&daemon, &sid).len(), 1);
    let posted = post_message(&daemon, &service, &sid, "guest-42", "hi, a question");
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(tasks_of(&daemon, &sid).len(), 1, "the open task takes the message");

    let ended = daemon.post(
        &format!("/flex/v1/WebChannels/{sid}"),
        &[("ChatStatus", "inactive"), ("PostEngagementData", r#"{"rating":5}"#)],
    );
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(ended.json()["sid"], sid);
    let after = attributes(&daemon, &service, &sid);
    assert_eq!(after["status"], "INACTIVE");
    assert_eq!(after["post_engagement_data"], json!({"rating": 5}));
    assert!(tasks_of(&daemon, &sid).is_empty(), "the task was canceled");
    let refused = post_message(&daemon, &service, &sid, "guest-42", "still there?");
    assert_twilio_error(&refused, 409, 50300);
    // The guest's next chat is a new one.
    let next = daemon.post("/flex/v1/WebChannels", &form);
    assert_eq!(next.status, 201, "{}", next.body);
    assert_ne!(next.json()["sid"], sid);
    let listed = daemon.get("/flex/v1/WebChannels");
    assert_eq!(listed.json()["flex_chat_channels"].as_array().unwrap().len(), 2);

    let deleted = daemon.delete(&format!("/flex/v1/WebChannels/{sid}"));
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_twilio_error(&daemon.get(&format!("/flex/v1/WebChannels/{sid}")), 404, 20404);
    assert_twilio_error(
        &daemon.get(&format!("/chat/v2/Services/{service}/Channels/{sid}")),
        404,
        20404,
    );
    assert_twilio_error(&daemon.delete(&format!("/flex/v1/Channels/{sid}")), 404, 20404);
    let listed = daemon.get("/flex/v1/WebChannels");
    assert_eq!(listed.json()["flex_chat_channels"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_input_gets_twilio_s_error_shape_and_writes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let (service, flow) = custom_task_flow(&daemon, false);
    let missing = daemon.post("/flex/v1/Channels", &[("Identity", "x")]);
    assert_twilio_error(&missing, 400, 20001);
    assert!(missing.json()["message"].as_str().unwrap().contains("FlexFlowSid"));
    for absent in ["Identity", "ChatUserFriendlyName", "ChatFriendlyName"] {
        let form: Vec<(&str, &str)> = [
            ("FlexFlowSid", flow.as_str()),
            ("Identity", "x"),
            ("ChatUserFriendlyName", "X"),
            ("ChatFriendlyName", "X"),
        ]
        .into_iter()
        .filter(|(k, _)| *k != absent)
        .collect();
        let answer = daemon.post("/flex/v1/Channels", &form);
        assert_twilio_error(&answer, 400, 20001);
        assert!(answer.json()["message"].as_str().unwrap().contains(absent), "{}", answer.body);
    }
    let unknown = format!("FO{}", "0".repeat(32));
    assert_twilio_error(&open(&daemon, &unknown, "x", &[]), 404, 20404);
    assert_twilio_error(&open(&daemon, "not-a-flow", "x", &[]), 404, 20404);
    assert_twilio_error(&open(&daemon, &flow, "x", &[("PreEngagementData", "{oops")]), 400, 20001);
    assert_twilio_error(&open(&daemon, &flow, "x", &[("TaskAttributes", "[1]")]), 400, 20001);
    assert_twilio_error(&open(&daemon, &flow, "x", &[("TaskSid", "nope")]), 400, 20001);
    assert_twilio_error(&open(&daemon, &flow, "x", &[("LongLived", "maybe")]), 400, 20001);
    assert_twilio_error(&open(&daemon, &flow, "  ", &[]), 400, 20001);
    assert!(daemon.channels(&service).is_empty(), "nothing was written");

    // An SMS customer must be a phone number; TaskSid needs a task flow.
    let (sms_service, sms_flow) = daemon.sms_flow(false);
    assert_twilio_error(&open(&daemon, &sms_flow, "bob", &[]), 400, 20001);
    let (bot_service, bot_flow) = daemon.flow(&[
        ("ChannelType", "custom"),
        ("IntegrationType", "external"),
        ("Integration.Url", "http://127.0.0.1:9/bot"),
    ]);
    let task = format!("WT{}", "1".repeat(32));
    assert_twilio_error(&open(&daemon, &bot_flow, "x", &[("TaskSid", &task)]), 400, 20001);
    assert!(daemon.channels(&sms_service).is_empty());
    assert!(daemon.channels(&bot_service).is_empty());

    // A unique name is unique in the service; the customer who has it gets their channel back.
    let first = open(&daemon, &flow, "unique-1", &[("ChatUniqueName", "vip")]);
    assert_eq!(first.status, 201, "{}", first.body);
    assert_twilio_error(
        &open(&daemon, &flow, "unique-2", &[("ChatUniqueName", "vip")]),
        409,
        50307,
    );
    let retry = open(&daemon, &flow, "unique-1", &[("ChatUniqueName", "vip")]);
    assert_eq!(retry.json()["sid"], first.json()["sid"]);
    assert_eq!(daemon.channels(&service).len(), 1);

    // Web chats: a disabled flow, a status other than inactive, unknown channels.
    let (_, disabled) =
        daemon.flow(&[("ChannelType", "web"), ("Enabled", "false"), ("IntegrationType", "task")]);
    let web = daemon.post(
        "/flex/v1/WebChannels",
        &[
            ("FlexFlowSid", disabled.as_str()),
            ("Identity", "guest"),
            ("CustomerFriendlyName", "G"),
            ("ChatFriendlyName", "G"),
        ],
    );
    assert_twilio_error(&web, 400, 20001);
    let missing = daemon.post("/flex/v1/WebChannels", &[("FlexFlowSid", disabled.as_str())]);
    assert_twilio_error(&missing, 400, 20001);
    let sid = first.json()["sid"].as_str().unwrap().to_owned();
    let active = daemon.post(&format!("/flex/v1/WebChannels/{sid}"), &[("ChatStatus", "active")]);
    assert_twilio_error(&active, 400, 20001);
    assert_eq!(attributes(&daemon, &service, &sid)["status"], "ACTIVE");
    let nowhere = format!("CH{}", "0".repeat(32));
    assert_twilio_error(&daemon.get(&format!("/flex/v1/Channels/{nowhere}")), 404, 20404);
    assert_twilio_error(&daemon.get("/flex/v1/Channels/nope"), 404, 20404);
    // A plain Chat channel is not a Flex channel.
    let plain = daemon.post(&format!("/chat/v2/Services/{service}/Channels"), &[]);
    let plain = plain.json()["sid"].as_str().unwrap().to_owned();
    assert_twilio_error(&daemon.get(&format!("/flex/v1/Channels/{plain}")), 404, 20404);
    assert_twilio_error(&daemon.delete(&format!("/flex/v1/WebChannels/{plain}")), 404, 20404);
}

/// Twilio's custom-channel pattern whole: the bridge opens the chat, adds a channel webhook,
/// posts the customer's messages through the Chat API and hears the agent's reply on the hook.
#[test]
fn a_custom_channel_bridge_hears_agent_replies_on_its_channel_webhook() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let bridge = FakeServer::start();
    let (service, flow) = custom_task_flow(&daemon, false);
    let opened = open(&daemon, &flow, "line:U4af4980629", &[]);
    assert_eq!(opened.status, 201, "{}", opened.body);
    let channel = opened.json()["sid"].as_str().unwrap().to_owned();
    let hook = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels/{channel}/Webhooks"),
        &[
            ("Type", "webhook"),
            ("Configuration.Url", &format!("{}/line-bridge", bridge.url)),
            ("Configuration.Filters", "onMessageSent"),
        ],
    );
    assert_eq!(hook.status, 201, "{}", hook.body);
    let asked =
        post_message(&daemon, &service, &channel, "line:U4af4980629", "where is my parcel?");
    assert_eq!(asked.status, 201, "{}", asked.body);
    assert_eq!(tasks_of(&daemon, &channel).len(), 1, "the customer's message is in a task");
    let answered = post_message(&daemon, &service, &channel, "agent.bea", "It arrives tomorrow");
    assert_eq!(answered.status, 201, "{}", answered.body);
    assert!(wait_for(Duration::from_secs(10), || bridge.requests().len() >= 2));
    let heard: Vec<(String, String)> = bridge
        .requests()
        .iter()
        .map(|r| (r.param("From").unwrap_or_default(), r.param("Body").unwrap_or_default()))
        .collect();
    assert_eq!(
        heard,
        [
            ("line:U4af4980629".to_owned(), "where is my parcel?".to_owned()),
            ("agent.bea".to_owned(), "It arrives tomorrow".to_owned()),
        ],
        "the bridge hears both, in order, and forwards the agent's to the customer"
    );
    let request = &bridge.requests()[1];
    assert_eq!(request.path, "/line-bridge");
    assert_eq!(request.param("EventType").as_deref(), Some("onMessageSent"));
    assert_eq!(request.param("ChannelSid").as_deref(), Some(channel.as_str()));
}

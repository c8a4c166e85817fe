//! Chat v2 service-level webhooks through the real daemon: settings stored and shown; post-event
//! webhooks fired by REST calls only with `X-Twilio-Webhook-Enabled: true` and always by
//! WebSocket clients, signed, filtered, delivered once across a restart; a pre-event webhook's
//! refusal keeps a client's message out of the channel, and its answer may amend one.

use std::time::Duration;

use serde_json::{json, Value};

use crate::inbound::wait_for;
use crate::support::api::{
    daemon_command, frames, token, twilio_signature, ws_call, ACCOUNT_SID, AUTH_TOKEN,
};
use crate::support::fake::{FakeServer, Received, Reply};
use crate::support::Daemon;

const ENABLED: (&str, &str) = ("X-Twilio-Webhook-Enabled", "true");

fn start(data: &std::path::Path) -> Daemon {
    let mut command = daemon_command(data);
    command.env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    Daemon::start(command)
}

fn sid(value: &Value) -> String {
    value["sid"].as_str().unwrap().to_owned()
}

/// A service with these webhook settings and a public channel in it: (IS, channel path).
fn service_with(daemon: &Daemon, settings: &[(&str, &str)]) -> (String, String) {
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "hooked")]);
    assert_eq!(service.status, 201, "{}", service.body);
    let is = sid(&service.json());
    let updated = daemon.post(&format!("/chat/v2/Services/{is}"), settings);
    assert_eq!(updated.status, 200, "{}", updated.body);
    let channel = daemon.post(
        &format!("/chat/v2/Services/{is}/Channels"),
        &[("FriendlyName", "team"), ("Type", "public")],
    );
    assert_eq!(channel.status, 201, "{}", channel.body);
    let path = format!("/chat/v2/Services/{is}/Channels/{}", sid(&channel.json()));
    (is, path)
}

fn post_message(daemon: &Daemon, channel: &str, body: &str, enabled: bool) -> Value {
    let headers: &[(&str, &str)] = if enabled { &[ENABLED] } else { &[] };
    let form = [("From", "agent.api"), ("Body", body)];
    let posted = daemon.post_with_headers(&format!("{channel}/Messages"), &form, headers);
    assert_eq!(posted.status, 201, "{}", posted.body);
    posted.json()
}

fn signed_post(request: &Received, url: &str) -> bool {
    let params = request.form();
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    request.header("X-Twilio-Signature") == Some(twilio_signature(AUTH_TOKEN, url, &pairs).as_str())
}

fn bodies(requests: &[Received]) -> Vec<String> {
    requests.iter().map(|r| r.param("Body").unwrap_or_default()).collect()
}

fn event_types(requests: &[Received]) -> Vec<String> {
    requests.iter().map(|r| r.param("EventType").unwrap_or_default()).collect()
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn socket(daemon: &Daemon, identity: &str) -> Socket {
    let mut socket = daemon.websocket(Some(&token(identity, "1h"))).unwrap();
    assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");
    socket
}

fn channel_sid(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_owned()
}

#[test]
fn rest_calls_fire_the_post_event_webhook_only_when_they_ask() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let hook = format!("{}/post", fake.url);
    let (is, channel) = service_with(
        &daemon,
        &[
            ("PostWebhookUrl", &hook),
            ("WebhookFilters", "onMessageSent"),
            ("WebhookFilters", "onMessageSend"),
            ("PostWebhookRetryCount", "2"),
        ],
    );
    let service = daemon.get(&format!("/chat/v2/Services/{is}")).json();
    assert_eq!(service["post_webhook_url"], hook.as_str());
    assert_eq!(service["pre_webhook_url"], Value::Null);
    assert_eq!(service["webhook_filters"], json!(["onMessageSent", "onMessageSend"]));
    assert_eq!(service["webhook_method"], "POST");
    assert_eq!(service["post_webhook_retry_count"], 2);

    post_message(&daemon, &channel, "not asked", false);
    let asked = post_message(&daemon, &channel, "asked", true);
    // Delivery is in order: had the first fired, it would have come before the second.
    assert!(wait_for(Duration::from_secs(10), || !fake.requests().is_empty()));
    let requests = fake.requests();
    assert_eq!(bodies(&requests), ["asked"], "{requests:?}");
    let hooked = &requests[0];
    assert_eq!(hooked.method, "POST");
    assert!(signed_post(hooked, &hook), "{hooked:?}");
    let param = |name: &str| hooked.param(name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(param("EventType"), "onMessageSent");
    assert_eq!(param("AccountSid"), ACCOUNT_SID);
    assert_eq!(param("InstanceSid"), is);
    assert_eq!(param("ChannelSid"), channel_sid(&channel));
    assert_eq!(param("MessageSid"), sid(&asked));
    assert_eq!(param("Index"), "1");
    assert_eq!(param("From"), "agent.api");
    assert_eq!(param("ClientIdentity"), "agent.api");
    assert_eq!(param("Attributes"), "{}");
    assert_eq!(param("DateCreated"), asked["date_created"].as_str().unwrap());
    assert_eq!(param("Source"), "API");
    assert_eq!(param("RetryCount"), "0");
    assert!(hooked.param("WebhookSid").is_none(), "a channel webhook's parameter");

    // Not in the filters: a member's arrival, asked for or not, is not sent.
    let added = daemon.post_with_headers(
        &format!("{channel}/Members"),
        &[("Identity", "agent.bea")],
        &[ENABLED],
    );
    assert_eq!(added.status, 201, "{}", added.body);
    post_message(&daemon, &channel, "marker", true);
    assert!(wait_for(Duration::from_secs(10), || fake.requests().len() >= 2));
    assert_eq!(event_types(&fake.requests()), ["onMessageSent", "onMessageSent"]);
    assert_eq!(bodies(&fake.requests())[1], "marker");
}

#[test]
fn a_clients_actions_always_fire_post_event_webhooks_as_the_sdk() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let hook = format!("{}/post", fake.url);
    let (_, channel) = service_with(
        &daemon,
        &[
            ("PostWebhookUrl", &hook),
            ("WebhookFilters", "onMessageSent"),
            ("WebhookFilters", "onMessageRemoved"),
            ("WebhookFilters", "onMemberAdded"),
        ],
    );
    let ch = channel_sid(&channel);
    let mut alice = socket(&daemon, "agent.alice");
    let joined = ws_call(&mut alice, json!({"type": "join", "channel_sid": ch}), "join");
    assert_eq!(joined["type"], "ack", "{joined}");
    let sent = ws_call(
        &mut alice,
        json!({"type": "message", "channel_sid": ch, "body": "from the sdk"}),
        "send",
    );
    assert_eq!(sent["type"], "ack", "{sent}");
    // Edited (not in the filters), then removed.
    let index = sent["index"].clone();
    let edit = json!({"type": "edit_message", "channel_sid": ch, "index": index, "body": "edited"});
    assert_eq!(ws_call(&mut alice, edit, "edit")["type"], "ack");
    let delete = json!({"type": "delete_message", "channel_sid": ch, "index": index});
    assert_eq!(ws_call(&mut alice, delete, "delete")["type"], "ack");
    assert!(wait_for(Duration::from_secs(10), || fake.requests().len() >= 3));
    let requests = fake.requests();
    assert_eq!(
        event_types(&requests),
        ["onMemberAdded", "onMessageSent", "onMessageRemoved"],
        "{requests:?}"
    );
    assert!(requests.iter().all(|r| signed_post(r, &hook)));
    for request in &requests {
        assert_eq!(request.param("Source").as_deref(), Some("SDK"), "{request:?}");
        assert_eq!(request.param("ClientIdentity").as_deref(), Some("agent.alice"));
    }
    let message = &requests[1];
    assert_eq!(message.param("Body").as_deref(), Some("from the sdk"));
    assert_eq!(message.param("From").as_deref(), Some("agent.alice"));
    assert_eq!(message.param("Index").as_deref(), Some("0"));
    assert_eq!(requests[2].param("Body").as_deref(), Some("edited"), "as it was when removed");
    assert_eq!(requests[0].param("Identity").as_deref(), Some("agent.alice"));
}

#[test]
fn a_pre_event_webhook_refuses_or_amends_a_clients_message() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start_with(|request| {
        let body = request.param("Body").unwrap_or_default();
        if body.contains("forbidden") {
            Reply::status(403)
        } else if body.contains("tidy") {
            Reply::json(&json!({"body": "tidied up", "attributes": {"checked": true}}))
        } else {
            Reply::status(200)
        }
    });
    let daemon = start(&temp.path().join("data"));
    let hook = format!("{}/pre", fake.url);
    let (is, channel) =
        service_with(&daemon, &[("PreWebhookUrl", &hook), ("WebhookFilters", "onMessageSend")]);
    let ch = channel_sid(&channel);
    let added = daemon.post(&format!("{channel}/Members"), &[("Identity", "agent.alice")]);
    assert_eq!(added.status, 201, "{}", added.body);
    let mut alice = socket(&daemon, "agent.alice");

    let refused = ws_call(
        &mut alice,
        json!({"type": "message", "channel_sid": ch, "body": "forbidden words"}),
        "refused",
    );
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], 11217, "{refused}");
    let why = refused["message"].as_str().unwrap();
    assert!(why.contains("onMessageSend") && why.contains("403"), "{why}");
    assert!(daemon.messages(&is, &ch).is_empty(), "nothing was written");
    let asked = fake.requests();
    assert_eq!(asked.len(), 1);
    assert!(signed_post(&asked[0], &hook), "{:?}", asked[0]);
    assert_eq!(asked[0].param("EventType").as_deref(), Some("onMessageSend"));
    assert_eq!(asked[0].param("Source").as_deref(), Some("SDK"));
    assert_eq!(asked[0].param("ClientIdentity").as_deref(), Some("agent.alice"));
    assert_eq!(asked[0].param("ChannelSid").as_deref(), Some(ch.as_str()));
    assert!(asked[0].param("MessageSid").is_none(), "not decided yet");

    let amended = ws_call(
        &mut alice,
        json!({"type": "message", "channel_sid": ch, "body": "please tidy this"}),
        "amended",
    );
    assert_eq!(amended["type"], "ack", "{amended}");
    let plain =
        ws_call(&mut alice, json!({"type": "message", "channel_sid": ch, "body": "fine"}), "plain");
    assert_eq!(plain["type"], "ack", "{plain}");
    let messages = daemon.messages(&is, &ch);
    let stored: Vec<_> = messages.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(stored, ["tidied up", "fine"]);
    let attributes: Value =
        serde_json::from_str(messages[0]["attributes"].as_str().unwrap()).unwrap();
    assert_eq!(attributes, json!({"checked": true}));

    // Pre-event webhooks never fire for REST calls, asked or not.
    let before = fake.requests().len();
    post_message(&daemon, &channel, "forbidden but over REST", true);
    assert_eq!(fake.requests().len(), before);
    assert_eq!(daemon.messages(&is, &ch).len(), 3);
}

#[test]
fn a_failing_post_event_webhook_is_delivered_once_after_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let fake = FakeServer::start();
    let daemon = start(&data);
    let hook = format!("{}/post", fake.url);
    let (_, channel) = service_with(
        &daemon,
        &[
            ("PostWebhookUrl", &hook),
            ("WebhookFilters", "onMessageSent"),
            ("PostWebhookRetryCount", "3"),
        ],
    );
    // The receiver is down for longer than one run of retries lasts.
    fake.fail_next(&[503; 40]);
    post_message(&daemon, &channel, "one", true);
    assert!(wait_for(Duration::from_secs(5), || !fake.requests().is_empty()));
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    fake.recover();
    let before = fake.requests().len();
    let daemon = start(&data);
    assert!(wait_for(Duration::from_secs(10), || {
        bodies(&fake.requests()[before..]).contains(&"one".to_owned())
    }));
    // In order: a second "one" would come before the marker.
    post_message(&daemon, &channel, "two", true);
    assert!(wait_for(Duration::from_secs(10), || {
        bodies(&fake.requests()[before..]).contains(&"two".to_owned())
    }));
    assert_eq!(bodies(&fake.requests()[before..]), ["one", "two"]);
    // Once the marker arrives, "two" was answered and its delivery recorded (one at a time, in
    // order); the marker itself may still be in flight when the daemon stops.
    post_message(&daemon, &channel, "marker", true);
    assert!(wait_for(Duration::from_secs(10), || {
        bodies(&fake.requests()[before..]).contains(&"marker".to_owned())
    }));
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let delivered = fake.requests().len();
    let daemon = start(&data);
    post_message(&daemon, &channel, "three", true);
    assert!(wait_for(Duration::from_secs(10), || {
        bodies(&fake.requests()[delivered..]).contains(&"three".to_owned())
    }));
    let again = bodies(&fake.requests()[delivered..]);
    assert!(
        !again.iter().any(|b| b == "one" || b == "two"),
        "delivered ones never again: {again:?}"
    );
    assert!(again.iter().filter(|b| *b == "marker").count() <= 1, "{again:?}");
    assert_eq!(again.last().map(String::as_str), Some("three"));
}

#[test]
fn bad_service_webhook_settings_are_refused_and_nothing_is_written() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = start(&temp.path().join("data"));
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "strict")]);
    let is = sid(&service.json());
    let path = format!("/chat/v2/Services/{is}");
    let refused =
        daemon.post(&path, &[("FriendlyName", "renamed"), ("PreWebhookUrl", "not a url")]);
    crate::support::api::assert_twilio_error(&refused, 400, 50077);
    let refused = daemon.post(&path, &[("WebhookFilters", "onMessageAdded")]);
    crate::support::api::assert_twilio_error(&refused, 400, 20001);
    let fetched = daemon.get(&path).json();
    assert_eq!(fetched["friendly_name"], "strict", "the rename was not written either");
    assert_eq!(fetched["webhook_filters"], json!([]));
}

#[test]
fn customers_writing_in_and_channels_made_when_asked_fire_too() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let (is, _) = daemon.sms_flow(false);
    let hook = format!("{}/post", fake.url);
    let settings = [
        ("PostWebhookUrl", hook.as_str()),
        ("WebhookFilters", "onMessageSent"),
        ("WebhookFilters", "onChannelAdded"),
    ];
    let updated = daemon.post(&format!("/chat/v2/Services/{is}"), &settings);
    assert_eq!(updated.status, 200, "{}", updated.body);
    // A customer's SMS: the channel it opens came from no REST call, and the message fires.
    let sms =
        daemon.sms("+14155550701", "hello from my phone", "SM00000000000000000000000000000701");
    assert_eq!(sms.status, 200, "{}", sms.body);
    assert!(wait_for(Duration::from_secs(10), || fake.requests().len() >= 2));
    let requests = fake.requests();
    assert_eq!(event_types(&requests), ["onChannelAdded", "onMessageSent"], "{requests:?}");
    let message = &requests[1];
    assert!(signed_post(message, &hook));
    assert_eq!(message.param("Body").as_deref(), Some("hello from my phone"));
    assert_eq!(message.param("From").as_deref(), Some("+14155550701"));
    assert_eq!(message.param("Source").as_deref(), Some("API"));
    assert_eq!(requests[0].param("ChannelSid"), message.param("ChannelSid"));

    // A REST channel: only when asked.
    let channels = format!("/chat/v2/Services/{is}/Channels");
    let quiet = daemon.post(&channels, &[("FriendlyName", "quiet")]);
    assert_eq!(quiet.status, 201, "{}", quiet.body);
    let asked = daemon.post_with_headers(&channels, &[("FriendlyName", "announced")], &[ENABLED]);
    assert_eq!(asked.status, 201, "{}", asked.body);
    assert!(wait_for(Duration::from_secs(10), || fake.requests().len() >= 3));
    // Channels deliver side by side; give a wrongly fired "quiet" every chance to show.
    let marker = post_message(&daemon, &format!("{channels}/{}", sid(&quiet.json())), "m", true);
    assert!(wait_for(Duration::from_secs(10), || fake.requests().len() >= 4));
    let requests = fake.requests();
    let added: Vec<_> = requests[2..]
        .iter()
        .filter(|r| r.param("EventType").as_deref() == Some("onChannelAdded"))
        .map(|r| r.param("FriendlyName").unwrap_or_default())
        .collect();
    assert_eq!(added, ["announced"], "{requests:?}");
    assert_eq!(requests.last().unwrap().param("MessageSid"), Some(sid(&marker)));
}

#[test]
fn users_made_and_changed_when_asked_fire_user_events() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let hook = format!("{}/post", fake.url);
    let (is, _) = service_with(
        &daemon,
        &[
            ("PostWebhookUrl", &hook),
            ("WebhookFilters", "onUserAdded"),
            ("WebhookFilters", "onUserUpdated"),
        ],
    );
    let users = format!("/chat/v2/Services/{is}/Users");
    let quiet = daemon.post(&users, &[("Identity", "quiet")]);
    assert_eq!(quiet.status, 201, "{}", quiet.body);
    let loud = daemon.post_with_headers(&users, &[("Identity", "loud")], &[ENABLED]);
    assert_eq!(loud.status, 201, "{}", loud.body);
    let loud_sid = sid(&loud.json());
    let renamed = daemon.post_with_headers(
        &format!("{users}/{loud_sid}"),
        &[("FriendlyName", "Loud One")],
        &[ENABLED],
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    // The marker on the quiet user's own stream: a wrongly fired onUserAdded would come first.
    let marker = daemon.post_with_headers(
        &format!("{users}/{}", sid(&quiet.json())),
        &[("FriendlyName", "Quiet One")],
        &[ENABLED],
    );
    assert_eq!(marker.status, 200, "{}", marker.body);
    assert!(wait_for(Duration::from_secs(10), || fake.requests().len() >= 3));
    let requests = fake.requests();
    let mut seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            (r.param("Identity").unwrap_or_default(), r.param("EventType").unwrap_or_default())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("loud".to_owned(), "onUserAdded".to_owned()),
            ("loud".to_owned(), "onUserUpdated".to_owned()),
            ("quiet".to_owned(), "onUserUpdated".to_owned()),
        ],
        "{requests:?}"
    );
    let updated = requests.iter().find(|r| r.param("FriendlyName").as_deref() == Some("Loud One"));
    let updated = updated.expect("the update tells the new name");
    assert!(signed_post(updated, &hook));
    assert_eq!(updated.param("UserSid"), Some(loud_sid));
    assert_eq!(updated.param("InstanceSid"), Some(is));
    assert_eq!(updated.param("Source").as_deref(), Some("API"));
}

#[test]
fn deleting_a_channel_when_asked_fires_on_channel_destroyed_with_the_channel_as_it_was() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let hook = format!("{}/post", fake.url);
    let filters = [("PostWebhookUrl", hook.as_str()), ("WebhookFilters", "onChannelDestroyed")];
    let (is, quiet) = service_with(&daemon, &filters);
    // A second channel, deleted with the header; the first is deleted without it.
    let asked = daemon.post(
        &format!("/chat/v2/Services/{is}/Channels"),
        &[("FriendlyName", "to go"), ("UniqueName", "leaving")],
    );
    assert_eq!(asked.status, 201, "{}", asked.body);
    let asked = sid(&asked.json());
    assert_eq!(daemon.delete(&quiet).status, 204);
    let deleted =
        daemon.delete_with_headers(&format!("/chat/v2/Services/{is}/Channels/{asked}"), &[ENABLED]);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(wait_for(Duration::from_secs(10), || !fake.requests().is_empty()));
    // Give a wrongly fired hook for the first channel time to arrive too.
    std::thread::sleep(Duration::from_millis(300));
    let requests = fake.requests();
    assert_eq!(event_types(&requests), ["onChannelDestroyed"], "{requests:?}");
    let hooked = &requests[0];
    assert!(signed_post(hooked, &hook), "{hooked:?}");
    assert_eq!(hooked.param("ChannelSid").as_deref(), Some(asked.as_str()));
    assert_eq!(hooked.param("UniqueName").as_deref(), Some("leaving"));
    assert_eq!(hooked.param("FriendlyName").as_deref(), Some("to go"));
    assert_eq!(hooked.param("Source").as_deref(), Some("API"));
}

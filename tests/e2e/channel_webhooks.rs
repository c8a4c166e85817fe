//! Chat v2 channel Webhooks through the real daemon: CRUD in Twilio's shapes, and delivery of the
//! channel's events to a fake receiver: signed, filtered, retried in place, in order, never
//! replaying history from before the webhook, nothing after its deletion, resumed after a restart.

use std::time::Duration;

use serde_json::Value;

use crate::inbound::wait_for;
use crate::support::api::{daemon_command, twilio_signature, Response, ACCOUNT_SID, AUTH_TOKEN};
use crate::support::fake::{FakeServer, Received};
use crate::support::Daemon;

fn start(data: &std::path::Path) -> Daemon {
    let mut command = daemon_command(data);
    command.env("SWITCHBOARD_OUTBOX_RETRY_BASE", "100ms");
    Daemon::start(command)
}

/// A service and a plain Chat API channel in it (no Flex Flow); returns the channel's path.
fn chat_channel(daemon: &Daemon) -> String {
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "bridge")]);
    assert_eq!(service.status, 201, "{}", service.body);
    let service = service.json()["sid"].as_str().unwrap().to_owned();
    let channel = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels"),
        &[("FriendlyName", "custom channel"), ("Type", "private")],
    );
    assert_eq!(channel.status, 201, "{}", channel.body);
    format!("/chat/v2/Services/{service}/Channels/{}", channel.json()["sid"].as_str().unwrap())
}

fn add_webhook(daemon: &Daemon, channel: &str, form: &[(&str, &str)]) -> Response {
    let mut full = vec![("Type", "webhook")];
    full.extend_from_slice(form);
    daemon.post(&format!("{channel}/Webhooks"), &full)
}

fn message(daemon: &Daemon, channel: &str, from: &str, body: &str) {
    let posted = daemon.post(&format!("{channel}/Messages"), &[("From", from), ("Body", body)]);
    assert_eq!(posted.status, 201, "{}", posted.body);
}

/// Whether a POSTed form carries Twilio's signature over `url` and its parameters.
fn signed_post(request: &Received, url: &str) -> bool {
    let params = request.form();
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    request.header("X-Twilio-Signature") == Some(twilio_signature(AUTH_TOKEN, url, &pairs).as_str())
}

fn bodies(requests: &[Received]) -> Vec<String> {
    requests.iter().map(|r| r.param("Body").unwrap_or_default()).collect()
}

#[test]
fn channel_events_reach_the_webhook_signed_filtered_and_in_order() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let channel = chat_channel(&daemon);
    // History from before the webhook is never replayed to it.
    message(&daemon, &channel, "customer-1", "before the webhook");
    let hook = format!("{}/replies", fake.url);
    let created = add_webhook(
        &daemon,
        &channel,
        &[
            ("Configuration.Url", &hook),
            ("Configuration.Method", "POST"),
            ("Configuration.Filters", "onMessageSent"),
            ("Configuration.RetryCount", "3"),
        ],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let webhook_sid = created.json()["sid"].as_str().unwrap().to_owned();
    // The receiver is down for a while, within the webhook's three retries.
    fake.fail_next(&[503, 503]);
    // Not in the filters: the member's arrival is not delivered.
    let member = daemon.post(&format!("{channel}/Members"), &[("Identity", "agent.alice")]);
    assert_eq!(member.status, 201, "{}", member.body);
    message(&daemon, &channel, "agent.alice", "first");
    message(&daemon, &channel, "agent.alice", "second & more, héllo");
    assert!(
        wait_for(Duration::from_secs(10), || fake.requests().len() >= 4),
        "{:?}",
        fake.requests()
    );
    // A later event is the marker: delivery is in order, so anything doubled or a member
    // delivery would have come before it.
    message(&daemon, &channel, "agent.alice", "third");
    assert!(
        wait_for(Duration::from_secs(10), || bodies(&fake.requests()).contains(&"third".into()))
    );
    let requests = fake.requests();
    assert_eq!(
        bodies(&requests),
        ["first", "first", "first", "second & more, héllo", "third"],
        "retried in place, delivered once each, in order, nothing else"
    );
    let retries: Vec<_> = requests.iter().map(|r| r.param("RetryCount").unwrap()).collect();
    assert_eq!(retries, ["0", "1", "2", "0", "0"]);
    let channel_sid = channel.rsplit('/').next().unwrap();
    let service_sid = channel.split('/').nth(4).unwrap();
    for (request, index) in requests.iter().zip(["1", "1", "1", "2", "3"]) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/replies");
        assert!(signed_post(request, &hook), "signed like Twilio: {request:?}");
        let param = |name: &str| request.param(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(param("EventType"), "onMessageSent");
        assert_eq!(param("AccountSid"), ACCOUNT_SID);
        assert_eq!(param("ChannelSid"), channel_sid);
        assert_eq!(param("InstanceSid"), service_sid);
        assert_eq!(param("ServiceSid"), service_sid);
        assert_eq!(param("WebhookSid"), webhook_sid);
        assert_eq!(param("WebhookType"), "webhook");
        assert_eq!(param("From"), "agent.alice");
        assert_eq!(param("ClientIdentity"), "agent.alice");
        assert_eq!(param("Source"), "API");
        assert_eq!(param("Index"), index);
        assert_eq!(param("Attributes"), "{}");
        assert!(param("MessageSid").starts_with("IM"));
        assert!(param("DateCreated").ends_with('Z'));
    }
}

#[test]
fn webhooks_in_twilio_shapes_and_a_deleted_one_gets_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let channel = chat_channel(&daemon);
    let first_url = format!("{}/first?team=a", fake.url);
    let created = add_webhook(
        &daemon,
        &channel,
        &[("Configuration.Url", &first_url), ("Configuration.Filters", "onMessageSent")],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let first = created.json();
    let sid = first["sid"].as_str().unwrap();
    assert!(sid.starts_with("WH") && sid.len() == 34, "{sid}");
    let channel_sid = channel.rsplit('/').next().unwrap();
    assert_eq!(first["account_sid"], ACCOUNT_SID);
    assert_eq!(first["channel_sid"], channel_sid);
    assert!(first["service_sid"].as_str().unwrap().starts_with("IS"));
    assert_eq!(first["type"], "webhook");
    assert_eq!(first["url"], daemon.url(&format!("{channel}/Webhooks/{sid}")));
    let config = &first["configuration"];
    assert_eq!(config["url"], first_url.as_str());
    assert_eq!(config["method"], "POST", "POST by default");
    assert_eq!(config["filters"], serde_json::json!(["onMessageSent"]));
    assert_eq!(config["retry_count"], 0, "no retries by default");
    assert!(first["date_created"].as_str().unwrap().ends_with('Z'));
    let fetched = daemon.get(&format!("{channel}/Webhooks/{sid}"));
    assert_eq!((fetched.status, fetched.json()), (200, first.clone()));

    // The second one is updated to GET and to more events.
    let second_url = format!("{}/second", fake.url);
    let second = add_webhook(
        &daemon,
        &channel,
        &[("Configuration.Url", &second_url), ("Configuration.Filters", "onMemberAdded")],
    );
    assert_eq!(second.status, 201, "{}", second.body);
    let second_sid = second.json()["sid"].as_str().unwrap().to_owned();
    let updated = daemon.post(
        &format!("{channel}/Webhooks/{second_sid}"),
        &[
            ("Configuration.Method", "GET"),
            ("Configuration.Filters", "onMessageSent"),
            ("Configuration.Filters", "onMemberAdded"),
            ("Configuration.RetryCount", "2"),
        ],
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated = updated.json();
    assert_eq!(updated["configuration"]["method"], "GET");
    assert_eq!(
        updated["configuration"]["filters"],
        serde_json::json!(["onMessageSent", "onMemberAdded"])
    );
    assert_eq!(updated["configuration"]["retry_count"], 2);
    assert_eq!(updated["configuration"]["url"], second_url.as_str(), "what is not named stays");

    let list = daemon.get(&format!("{channel}/Webhooks"));
    assert_eq!(list.status, 200, "{}", list.body);
    let list = list.json();
    assert_eq!(list["meta"]["key"], "webhooks");
    let sids: Vec<&str> =
        list["webhooks"].as_array().unwrap().iter().map(|w| w["sid"].as_str().unwrap()).collect();
    assert_eq!(sids, [sid, second_sid.as_str()], "oldest first");

    // Refused, in Twilio's shape, and nothing stored.
    for (form, words) in [
        (
            vec![
                ("Type", "studio"),
                ("Configuration.FlowSid", "FW0123456789abcdef0123456789abcdef"),
            ],
            "not supported",
        ),
        (vec![("Type", "trigger"), ("Configuration.Triggers", "help")], "not supported"),
        (vec![("Type", "zapier")], "Type must be"),
        (vec![("Configuration.Url", "https://example.com")], "Type"),
        (
            vec![
                ("Type", "webhook"),
                ("Configuration.Url", "ftp://example.com/x"),
                ("Configuration.Filters", "onMessageSent"),
            ],
            "http or https",
        ),
        (
            vec![("Type", "webhook"), ("Configuration.Filters", "onMessageSent")],
            "Configuration.Url",
        ),
        (
            vec![("Type", "webhook"), ("Configuration.Url", "https://example.com")],
            "Configuration.Filters",
        ),
        (
            vec![
                ("Type", "webhook"),
                ("Configuration.Url", "https://example.com"),
                ("Configuration.Filters", "onMessageSend"),
            ],
            "onMessageSend",
        ),
        (
            vec![
                ("Type", "webhook"),
                ("Configuration.Url", "https://example.com"),
                ("Configuration.Filters", "onMessageSent"),
                ("Configuration.RetryCount", "4"),
            ],
            "RetryCount",
        ),
        (
            vec![
                ("Type", "webhook"),
                ("Configuration.Url", "https://example.com"),
                ("Configuration.Filters", "onMessageSent"),
                ("Configuration.Method", "PUT"),
            ],
            "GET or POST",
        ),
    ] {
        let refused = daemon.post(&format!("{channel}/Webhooks"), &form);
        assert_eq!(refused.status, 400, "{form:?}: {}", refused.body);
        let error = refused.json();
        assert_eq!(error["code"], 20001, "{error}");
        assert_eq!(error["status"], 400);
        assert!(error["more_info"].as_str().unwrap().contains("20001"));
        assert!(error["message"].as_str().unwrap().contains(words), "{form:?}: {error}");
    }
    let bad_update =
        daemon.post(&format!("{channel}/Webhooks/{sid}"), &[("Configuration.RetryCount", "9")]);
    assert_eq!(bad_update.status, 400, "{}", bad_update.body);
    let list = daemon.get(&format!("{channel}/Webhooks")).json();
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 2, "nothing stored by a refusal");

    // Unknown channel or webhook: 404 in Twilio's shape.
    let service_path = channel.rsplit_once("/Channels/").unwrap().0;
    let nowhere = format!("{service_path}/Channels/CH0123456789abcdef0123456789abcdef/Webhooks");
    for response in [
        daemon.get(&nowhere),
        add_webhook(
            &daemon,
            &nowhere.replace("/Webhooks", ""),
            &[("Configuration.Url", "https://x.example")],
        ),
        daemon.get(&format!("{channel}/Webhooks/WH0123456789abcdef0123456789abcdef")),
        daemon.post(&format!("{channel}/Webhooks/WH0123456789abcdef0123456789abcdef"), &[]),
        daemon.delete(&format!("{channel}/Webhooks/WH0123456789abcdef0123456789abcdef")),
        daemon.get(&format!("{channel}/Webhooks/not-a-sid")),
    ] {
        assert_eq!(response.status, 404, "{}", response.body);
        assert_eq!(response.json()["code"], 20404);
    }

    // The first one is deleted; the second (called after it for every event) is the marker
    // that delivery went past the message.
    let deleted = daemon.delete(&format!("{channel}/Webhooks/{sid}"));
    assert_eq!((deleted.status, deleted.body.as_str()), (204, ""));
    assert_eq!(daemon.get(&format!("{channel}/Webhooks/{sid}")).status, 404);
    message(&daemon, &channel, "agent.bob", "after the delete");
    assert!(wait_for(Duration::from_secs(10), || !fake.requests().is_empty()));
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "only the remaining webhook: {requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert!(request.path.starts_with("/second?"), "{}", request.path);
    assert!(request.body.is_empty());
    // A GET carries the form in its query and is signed over the whole URL.
    let full = format!("{}{}", fake.url, request.path);
    assert_eq!(
        request.header("X-Twilio-Signature"),
        Some(twilio_signature(AUTH_TOKEN, &full, &[]).as_str())
    );
    let query: Vec<(String, String)> =
        form_urlencoded::parse(request.path.split_once('?').unwrap().1.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("EventType"), Some("onMessageSent"));
    assert_eq!(get("Body"), Some("after the delete"));
    assert_eq!(get("WebhookSid"), Some(second_sid.as_str()));
}

#[test]
fn at_most_five_webhooks_and_member_events_when_asked() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let channel = chat_channel(&daemon);
    let hook = format!("{}/members", fake.url);
    let members = add_webhook(
        &daemon,
        &channel,
        &[
            ("Configuration.Url", &hook),
            ("Configuration.Filters", "onMemberAdded"),
            ("Configuration.Filters", "onMemberRemoved"),
            ("Configuration.Filters", "onChannelUpdated"),
        ],
    );
    assert_eq!(members.status, 201, "{}", members.body);
    for i in 0..4 {
        let url = format!("{}/other{i}", fake.url);
        let other = add_webhook(
            &daemon,
            &channel,
            &[("Configuration.Url", &url), ("Configuration.Filters", "onMessageRemoved")],
        );
        assert_eq!(other.status, 201, "{}", other.body);
    }
    let sixth = add_webhook(
        &daemon,
        &channel,
        &[("Configuration.Url", &hook), ("Configuration.Filters", "onMessageSent")],
    );
    assert_eq!(sixth.status, 400, "{}", sixth.body);
    assert!(sixth.json()["message"].as_str().unwrap().contains("at most 5"), "{}", sixth.body);

    let member = daemon.post(&format!("{channel}/Members"), &[("Identity", "agent.carol")]);
    assert_eq!(member.status, 201, "{}", member.body);
    let member_sid = member.json()["sid"].as_str().unwrap().to_owned();
    message(&daemon, &channel, "agent.carol", "not asked for");
    let renamed = daemon
        .post(&channel, &[("FriendlyName", "renamed"), ("Attributes", r#"{"status":"INACTIVE"}"#)]);
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert!(
        wait_for(Duration::from_secs(10), || fake.requests().len() >= 2),
        "{:?}",
        fake.requests()
    );
    let requests = fake.requests();
    let types: Vec<_> = requests.iter().map(|r| r.param("EventType").unwrap()).collect();
    assert_eq!(types, ["onMemberAdded", "onChannelUpdated"], "one call for one channel update");
    let added = &requests[0];
    assert!(signed_post(added, &hook));
    assert_eq!(added.param("MemberSid"), Some(member_sid));
    assert_eq!(added.param("Identity").as_deref(), Some("agent.carol"));
    let update = &requests[1];
    assert_eq!(update.param("FriendlyName").as_deref(), Some("renamed"));
    let attributes: Value = serde_json::from_str(&update.param("Attributes").unwrap()).unwrap();
    assert_eq!(attributes["status"], "INACTIVE");
}

#[test]
fn pending_webhook_deliveries_survive_a_restart_and_arrive_once() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let fake = FakeServer::start();
    let daemon = start(&data);
    let channel = chat_channel(&daemon);
    let created = add_webhook(
        &daemon,
        &channel,
        &[
            ("Configuration.Url", &format!("{}/bridge", fake.url)),
            ("Configuration.Filters", "onMessageSent"),
            ("Configuration.RetryCount", "3"),
        ],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    // The receiver is down for longer than one run of retries lasts.
    fake.fail_next(&[503; 40]);
    message(&daemon, &channel, "agent.dan", "one");
    message(&daemon, &channel, "agent.dan", "two");
    assert!(wait_for(Duration::from_secs(5), || !fake.requests().is_empty()));
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    fake.statuses.lock().unwrap().clear();
    let before = fake.requests().len();
    let daemon = start(&data);
    assert!(wait_for(Duration::from_secs(10), || {
        bodies(&fake.requests()[before..]).contains(&"two".to_owned())
    }));
    // The marker: in order, so a second "two" would have come before it.
    message(&daemon, &channel, "agent.dan", "three");
    assert!(wait_for(Duration::from_secs(10), || {
        bodies(&fake.requests()[before..]).contains(&"three".to_owned())
    }));
    let after = bodies(&fake.requests()[before..]);
    assert_eq!(after.iter().filter(|b| *b == "two").count(), 1, "{after:?}");
    assert!(after.iter().filter(|b| *b == "one").count() <= 1, "{after:?}");
    assert_eq!(after.last().map(String::as_str), Some("three"));
}

#[test]
fn a_flex_flow_channel_has_webhooks_too() {
    let temp = tempfile::tempdir().unwrap();
    let fake = FakeServer::start();
    let daemon = start(&temp.path().join("data"));
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(
        daemon.sms("+14155550601", "hello", "SM00000000000000000000000000000601").status,
        200
    );
    let channels = daemon.channels(&service);
    assert_eq!(channels.len(), 1);
    let channel =
        format!("/chat/v2/Services/{service}/Channels/{}", channels[0]["sid"].as_str().unwrap());
    let hook = format!("{}/flow-hook", fake.url);
    let created = add_webhook(
        &daemon,
        &channel,
        &[("Configuration.Url", &hook), ("Configuration.Filters", "onMessageSent")],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    message(&daemon, &channel, "agent.frank", "on its way to the customer too");
    assert!(wait_for(Duration::from_secs(10), || !fake.requests().is_empty()));
    let request = &fake.requests()[0];
    assert!(signed_post(request, &hook));
    assert_eq!(request.param("Body").as_deref(), Some("on its way to the customer too"));
    assert_eq!(request.param("Index").as_deref(), Some("1"), "the customer's message came first");
}

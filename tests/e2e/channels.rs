//! Deleting a Chat channel through the real daemon: `DELETE …/Channels/{CH or unique name}`
//! answers 204; the channel is then found and listed nowhere, its unique name is free, its open
//! task is canceled, its members' WebSockets hear `channel_destroyed` and nothing more, the
//! customer's next message opens a new channel, a reply queued before still reaches the customer,
//! its channel webhooks hear `onChannelDestroyed`, and its log stays for audit, across a restart.
//! And channel Invites: created once per identity, listed, fetched, withdrawn, and taken up by
//! the invited identity's `join` of a private channel.

use std::time::Duration;

use serde_json::Value;

use crate::inbound::wait_for;
use crate::support::api::{
    assert_twilio_error, daemon_command, frames, token_for_service, ws_call, Response,
};
use crate::support::fake::FakeServer;
use crate::support::Daemon;

const CUSTOMER: &str = "+14155550177";

fn start(data: &std::path::Path, twilio: &FakeServer) -> Daemon {
    let mut command = daemon_command(data);
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_TWILIO_API_BASE", &twilio.url)
        .env("SWITCHBOARD_OUTBOX_RETRY_BASE", "200ms");
    Daemon::start(command)
}

/// The channel's events as the audit endpoint replays them.
fn events(daemon: &Daemon, channel: &str) -> Vec<Value> {
    let events = daemon.get(&format!("/admin/v1/Channels/{channel}/Events"));
    assert_eq!(events.status, 200, "{}", events.body);
    events.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

fn sids(list: &[Value]) -> Vec<String> {
    list.iter().map(|c| c["sid"].as_str().unwrap().to_owned()).collect()
}

#[track_caller]
fn assert_not_found(response: &Response) {
    assert_twilio_error(response, 404, 20404);
}

#[test]
fn a_deleted_channel_is_gone_from_the_api_but_not_from_the_log() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let twilio = FakeServer::start();
    let hook = FakeServer::start();
    let daemon = start(&data, &twilio);
    let (service, _) = daemon.sms_flow(false);
    assert_eq!(daemon.sms(CUSTOMER, "hello?", "SM00000000000000000000000000000c01").status, 200);
    let channel = daemon.channels(&service)[0]["sid"].as_str().unwrap().to_owned();
    let path = format!("/chat/v2/Services/{service}/Channels/{channel}");
    let renamed = daemon.post(&path, &[("UniqueName", "vip-1")]);
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(daemon.post(&format!("{path}/Members"), &[("Identity", "agent.alice")]).status, 201);
    let hooked = daemon.post(
        &format!("{path}/Webhooks"),
        &[
            ("Type", "webhook"),
            ("Configuration.Url", &format!("{}/hook", hook.url)),
            ("Configuration.Filters", "onChannelDestroyed"),
        ],
    );
    assert_eq!(hooked.status, 201, "{}", hooked.body);
    let task_of = |daemon: &Daemon| {
        let tasks = daemon.get("/admin/v1/Tasks?PageSize=1000").json();
        tasks["tasks"].as_array().unwrap().iter().any(|t| t["channel_sid"] == channel.as_str())
    };
    assert!(task_of(&daemon), "the customer's message opened a task");
    let mut alice =
        daemon.websocket(Some(&token_for_service("agent.alice", "1h", Some(&service)))).unwrap();
    assert_eq!(frames(&mut alice, 1)[0]["type"], "ready");

    // A reply the provider refuses for a while is still on its way when the channel is deleted.
    twilio.fail_next(&[503, 503, 503]);
    let reply =
        daemon.post(&format!("{path}/Messages"), &[("From", "agent.alice"), ("Body", "bye")]);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let deleted = daemon.delete(&format!("/chat/v2/Services/{service}/Channels/vip-1"));
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(deleted.body.is_empty());

    // Gone from every resource that showed it.
    assert_not_found(&daemon.get(&path));
    assert_not_found(&daemon.get(&format!("/chat/v2/Services/{service}/Channels/vip-1")));
    assert_not_found(&daemon.get(&format!("{path}/Messages")));
    assert_not_found(&daemon.get(&format!("/flex/v1/Channels/{channel}")));
    assert_not_found(&daemon.delete(&path));
    assert_not_found(&daemon.post(&format!("{path}/Messages"), &[("Body", "anyone?")]));
    assert!(!sids(&daemon.channels(&service)).contains(&channel));
    let flex = daemon.get("/flex/v1/Channels?PageSize=100").json();
    assert!(!sids(flex["flex_chat_channels"].as_array().unwrap()).contains(&channel));
    let users = daemon.get(&format!("/chat/v2/Services/{service}/Users/agent.alice/Channels"));
    assert_eq!(users.json()["channels"], serde_json::json!([]), "{}", users.body);
    assert!(!task_of(&daemon), "the open task was canceled");

    // The member heard of the deletion; the reply written before it still reaches the customer,
    // and how it fared is recorded, but the member hears nothing more.
    let heard = frames(&mut alice, 10);
    let kinds: Vec<&str> = heard.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(kinds.last(), Some(&"channel_destroyed"), "{heard:?}");
    assert!(wait_for(Duration::from_secs(15), || {
        twilio.requests().iter().any(|r| r.param("Body").as_deref() == Some("bye"))
            && types(&events(&daemon, &channel)).contains(&"delivery_status_changed".to_owned())
    }));
    let later: Vec<Value> = frames(&mut alice, 10);
    assert!(later.iter().all(|f| f["channel_sid"] != channel.as_str()), "{later:?}");
    let sent = twilio.requests().into_iter().last().unwrap();
    assert_eq!(sent.param("To").as_deref(), Some(CUSTOMER));

    // The log keeps all of it: the task canceled with its reason, then the deletion.
    let log = events(&daemon, &channel);
    let kinds = types(&log);
    let destroyed = kinds.iter().position(|k| k == "channel_destroyed").expect("channel_destroyed");
    assert_eq!(kinds[destroyed - 1], "task_ended");
    let canceled = &log[destroyed - 1];
    assert!(canceled.to_string().contains("the channel was deleted"), "{canceled}");
    let after = &kinds[destroyed + 1..];
    assert!(!after.is_empty(), "the reply went out after the deletion: {kinds:?}");
    assert!(after.iter().all(|k| k == "delivery_status_changed"), "{kinds:?}");

    // Its webhook heard of it, with the channel as it was.
    assert!(wait_for(Duration::from_secs(10), || !hook.requests().is_empty()));
    let told = hook.requests().remove(0);
    assert_eq!(told.param("EventType").as_deref(), Some("onChannelDestroyed"));
    assert_eq!(told.param("ChannelSid").as_deref(), Some(channel.as_str()));
    assert_eq!(told.param("UniqueName").as_deref(), Some("vip-1"));

    // The unique name is free, and the customer's next message opens a new channel.
    let again = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels"),
        &[("UniqueName", "vip-1"), ("Type", "private")],
    );
    assert_eq!(again.status, 201, "{}", again.body);
    let reused = again.json()["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        daemon.sms(CUSTOMER, "still there?", "SM00000000000000000000000000000c02").status,
        200
    );
    let fresh: Vec<String> =
        sids(&daemon.channels(&service)).into_iter().filter(|c| *c != reused).collect();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_ne!(fresh[0], channel);
    let messages = daemon.messages(&service, &fresh[0]);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "still there?");

    // A restart changes none of it (an open WebSocket would hold up the graceful stop).
    drop(alice);
    let (code, _) = daemon.terminate();
    assert_eq!(code, 0);
    let daemon = start(&data, &twilio);
    assert_not_found(&daemon.get(&path));
    assert!(!sids(&daemon.channels(&service)).contains(&channel));
    assert!(!task_of(&daemon));
    let named = daemon.get(&format!("/chat/v2/Services/{service}/Channels/vip-1"));
    assert_eq!(named.json()["sid"], reused.as_str());
    assert_eq!(types(&events(&daemon, &channel)), kinds, "the log is as it was");
    let told_again = wait_for(Duration::from_secs(1), || hook.requests().len() > 1);
    assert!(!told_again, "onChannelDestroyed was told twice");
}

#[test]
fn an_invite_lets_its_identity_join_a_private_channel_once() {
    let temp = tempfile::tempdir().unwrap();
    let twilio = FakeServer::start();
    let daemon = start(&temp.path().join("data"), &twilio);
    let made = daemon.post("/chat/v2/Services", &[("FriendlyName", "invites")]).json();
    let service = made["sid"].as_str().unwrap().to_owned();
    let admin_role = made["default_channel_creator_role_sid"].as_str().unwrap().to_owned();
    let created = daemon.post(
        &format!("/chat/v2/Services/{service}/Channels"),
        &[("FriendlyName", "private"), ("Type", "private")],
    );
    let channel = created.json()["sid"].as_str().unwrap().to_owned();
    let path = format!("/chat/v2/Services/{service}/Channels/{channel}");
    assert_eq!(daemon.post(&format!("{path}/Members"), &[("Identity", "alice")]).status, 201);
    let invites = format!("{path}/Invites");

    let first = daemon.post(&invites, &[("Identity", "bob"), ("RoleSid", &admin_role)]);
    assert_eq!(first.status, 201, "{}", first.body);
    let first = first.json();
    let invite = first["sid"].as_str().unwrap().to_owned();
    assert!(invite.starts_with("IN"), "{first}");
    assert_eq!(first["identity"], "bob");
    assert_eq!(first["channel_sid"], channel.as_str());
    assert_eq!(first["service_sid"], service.as_str());
    assert_eq!(first["role_sid"], admin_role.as_str());
    assert_eq!(first["url"], daemon.url(&format!("{invites}/{invite}")));
    let again = daemon.post(&invites, &[("Identity", "bob")]);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json()["sid"], invite.as_str(), "a second invite of bob is the first");
    assert_eq!(daemon.post(&invites, &[("Identity", "dave")]).status, 201);
    let listed = daemon.get(&format!("{invites}?Identity=bob")).json();
    assert_eq!(listed["meta"]["key"], "invites");
    assert_eq!(sids(listed["invites"].as_array().unwrap()), std::slice::from_ref(&invite));
    assert_eq!(daemon.get(&invites).json()["invites"].as_array().unwrap().len(), 2);
    assert_eq!(daemon.get(&format!("{invites}/{invite}")).json()["identity"], "bob");
    assert_not_found(&daemon.get(&format!("{invites}/IN00000000000000000000000000000000")));
    assert_twilio_error(&daemon.post(&invites, &[("Identity", "alice")]), 409, 50404);
    assert_twilio_error(&daemon.post(&invites, &[]), 400, 20001);
    let service_role = made["default_service_role_sid"].as_str().unwrap();
    assert_twilio_error(
        &daemon.post(&invites, &[("Identity", "eve"), ("RoleSid", service_role)]),
        400,
        20001,
    );

    // Bob hears of it and joins in the invite's role; the invite is taken up.
    let socket = |identity: &str| {
        let mut socket =
            daemon.websocket(Some(&token_for_service(identity, "1h", Some(&service)))).unwrap();
        assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");
        socket
    };
    let mut bob = socket("bob");
    let mut carol = socket("carol");
    let mut dave = socket("dave");
    let join = serde_json::json!({"type": "join", "channel_sid": channel});
    // Dave's invite is withdrawn before he joins; carol was never invited.
    let dave_invite = daemon.get(&format!("{invites}?Identity=dave")).json()["invites"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let withdrawn = daemon.delete(&format!("{invites}/{dave_invite}"));
    assert_eq!(withdrawn.status, 204, "{}", withdrawn.body);
    assert_not_found(&daemon.get(&format!("{invites}/{dave_invite}")));
    assert_not_found(&daemon.delete(&format!("{invites}/{dave_invite}")));
    for (socket, id) in [(&mut carol, "c1"), (&mut dave, "d1")] {
        let refused = ws_call(socket, join.clone(), id);
        assert_eq!(refused["code"], 50107, "{refused}");
    }
    let joined = ws_call(&mut bob, join.clone(), "b1");
    assert_eq!(joined["type"], "ack", "{joined}");
    let member = daemon.get(&format!("{path}/Members/bob"));
    assert_eq!(member.status, 200, "{}", member.body);
    assert_eq!(member.json()["role_sid"], admin_role.as_str());
    assert_eq!(daemon.get(&invites).json()["invites"], serde_json::json!([]));
    assert_not_found(&daemon.get(&format!("{invites}/{invite}")));
    assert_eq!(ws_call(&mut bob, join, "b2")["code"], 50404, "joined once");

    // An identity connected when it is invited hears of it, though not a member.
    let mut frank = socket("frank");
    assert_eq!(daemon.post(&invites, &[("Identity", "frank")]).status, 201);
    let heard = frames(&mut frank, 5);
    let invited = heard.iter().find(|f| f["type"] == "invite_added").expect("invite_added");
    assert_eq!(invited["channel_sid"], channel.as_str(), "{heard:?}");
    assert_eq!(invited["identity"], "frank");
    let kinds = types(&events(&daemon, &channel));
    let told: Vec<&str> =
        kinds.iter().map(String::as_str).filter(|k| k.starts_with("invite_")).collect();
    assert_eq!(
        told,
        ["invite_added", "invite_added", "invite_removed", "invite_added"],
        "{kinds:?}"
    );
}

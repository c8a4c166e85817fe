//! WebSockets through the real daemon: members receive their channels' events, strangers do not,
//! a resume after a disconnect replays what was missed once and in order, bad tokens are refused.

use serde_json::{json, Value};
use tungstenite::Message;

use crate::support::api::{daemon_command, frames, token, token_for_service, ws_call};
use crate::support::Daemon;

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    (temp, Daemon::start(command))
}

fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

#[test]
fn members_receive_events_and_strangers_do_not() {
    let (_temp, daemon) = started();
    let (_, _) = daemon.sms_flow(false);
    let customer = "+14155550301";
    let mut member = daemon.websocket(Some(&token(customer, "1h"))).unwrap();
    let mut stranger = daemon.websocket(Some(&token("+14155550399", "1h"))).unwrap();
    assert_eq!(frames(&mut member, 1)[0]["type"], "ready");
    assert_eq!(frames(&mut stranger, 1)[0]["type"], "ready");
    assert_eq!(
        daemon.sms(customer, "hello live", "SM00000000000000000000000000000301").status,
        200
    );
    let seen = frames(&mut member, 10);
    let messages = of_type(&seen, "message_added");
    assert_eq!(messages.len(), 1, "{seen:?}");
    assert_eq!(messages[0]["body"], "hello live");
    assert_eq!(messages[0]["author"], customer);
    assert_eq!(messages[0]["index"], 0);
    assert!(messages[0]["channel_sid"].as_str().unwrap().starts_with("CH"));
    let leaked = frames(&mut stranger, 10);
    assert!(leaked.is_empty(), "a stranger got {leaked:?}");
}

#[test]
fn the_token_may_come_in_the_first_frame_and_ping_gets_pong() {
    let (_temp, daemon) = started();
    let mut socket = daemon.websocket(None).unwrap();
    let auth = json!({"type": "auth", "token": token("agent.alice", "1h")});
    socket.send(Message::Text(auth.to_string())).unwrap();
    assert_eq!(frames(&mut socket, 1)[0]["identity"], "agent.alice");
    socket.send(Message::Text(json!({"type": "ping"}).to_string())).unwrap();
    assert_eq!(frames(&mut socket, 1)[0]["type"], "pong");
}

#[test]
fn bad_tokens_are_refused() {
    let (_temp, daemon) = started();
    let good = token("agent.bob", "1h");
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    for bad in [tampered.as_str(), "not.a.token", ""] {
        match daemon.websocket(Some(bad)).map_err(|e| *e) {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            Err(other) => panic!("unexpected error {other}"),
            Ok(mut socket) if bad.is_empty() => {
                // An empty token means "in the first frame"; silence gets the connection closed.
                socket
                    .send(Message::Text(json!({"type": "auth", "token": "junk"}).to_string()))
                    .unwrap();
                let closed = frames(&mut socket, 2);
                assert!(closed.iter().all(|f| f["type"] != "ready"), "{closed:?}");
            }
            Ok(_) => panic!("token {bad:?} was accepted"),
        }
    }
    // Signed with the right secret but for another account.
    let foreign = crate::support::run(
        crate::support::switchboard()
            .args(["token", "--identity", "mallory"])
            .env("SWITCHBOARD_ACCOUNT_SID", "AC0000000000000000000000000000dead")
            .env("SWITCHBOARD_API_KEY_SID", crate::support::api::API_KEY_SID)
            .env("SWITCHBOARD_API_KEY_SECRET", crate::support::api::API_KEY_SECRET),
    );
    assert!(daemon.websocket(Some(foreign.stdout.trim())).is_err());
}

#[test]
fn resume_after_a_disconnect_gives_the_missed_events_once_and_in_order() {
    let (_temp, daemon) = started();
    daemon.sms_flow(false);
    let customer = "+14155550311";
    let token = token(customer, "1h");
    let mut socket = daemon.websocket(Some(&token)).unwrap();
    frames(&mut socket, 1);
    assert_eq!(daemon.sms(customer, "one", "SM00000000000000000000000000000311").status, 200);
    let before = frames(&mut socket, 10);
    let last = before.iter().filter_map(|f| f["seq"].as_u64()).max().unwrap();
    let channel = before[0]["channel_sid"].as_str().unwrap().to_owned();
    socket.close(None).unwrap();
    drop(socket);
    for (i, body) in ["two", "three", "four"].iter().enumerate() {
        let sid = format!("SM{:032x}", 312 + i);
        assert_eq!(daemon.sms(customer, body, &sid).status, 200);
    }
    let mut socket = daemon.websocket(Some(&token)).unwrap();
    frames(&mut socket, 1);
    let resume = json!({"type": "resume", "channel_sid": channel, "seq": last});
    socket.send(Message::Text(resume.to_string())).unwrap();
    // One more arrives live while resuming.
    assert_eq!(daemon.sms(customer, "five", "SM00000000000000000000000000000399").status, 200);
    let after = frames(&mut socket, 20);
    let bodies: Vec<_> = of_type(&after, "message_added")
        .iter()
        .map(|f| f["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["two", "three", "four", "five"], "{after:?}");
    let seqs: Vec<u64> =
        after.iter().filter(|f| f["type"] != "resumed").filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(of_type(&after, "resumed").len(), 1);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "no gap, no duplicate: {seqs:?}");
    assert_eq!(seqs[0], last + 1);
}

/// A token's `ChatGrant` names one Chat Service: its bearer sees and acts on that service's
/// channels only, and a grant for a service this server does not have is refused.
#[test]
fn a_token_reaches_only_the_channels_of_its_chat_service() {
    let (_temp, daemon) = started();
    let service = |name: &str| {
        daemon.post("/chat/v2/Services", &[("FriendlyName", name)]).json()["sid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ours, theirs) = (service("ours"), service("theirs"));
    let channel_in = |service: &str| {
        let path = format!("/chat/v2/Services/{service}/Channels");
        let channel =
            daemon.post(&path, &[("Type", "private")]).json()["sid"].as_str().unwrap().to_owned();
        let members = format!("{path}/{channel}/Members");
        assert_eq!(daemon.post(&members, &[("Identity", "agent.dana")]).status, 201);
        channel
    };
    let (mine, other) = (channel_in(&ours), channel_in(&theirs));
    let scoped = token_for_service("agent.dana", "1h", Some(&ours));
    let mut socket = daemon.websocket(Some(&scoped)).unwrap();
    assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");
    for (service, channel, body) in [(&theirs, &other, "elsewhere"), (&ours, &mine, "here")] {
        let path = format!("/chat/v2/Services/{service}/Channels/{channel}/Messages");
        assert_eq!(daemon.post(&path, &[("Body", body)]).status, 201);
    }
    let seen = frames(&mut socket, 20);
    let bodies: Vec<&Value> = of_type(&seen, "message_added").iter().map(|f| &f["body"]).collect();
    assert_eq!(bodies, [&json!("here")], "nothing of the other service: {seen:?}");
    let refused = ws_call(
        &mut socket,
        json!({"type": "message", "channel_sid": other, "body": "sneaking in"}),
        "a1",
    );
    assert_eq!((refused["type"].as_str(), refused["code"].as_u64()), (Some("error"), Some(20404)));
    let path = format!("/chat/v2/Services/{theirs}/Channels/{other}/Messages");
    assert_eq!(daemon.get(&path).json()["messages"].as_array().unwrap().len(), 1);
    // Without a grant for a service, a token reaches them all (as `switchboard token` mints it).
    let mut unscoped = daemon.websocket(Some(&token("agent.dana", "1h"))).unwrap();
    assert_eq!(frames(&mut unscoped, 1)[0]["type"], "ready");
    let answer = ws_call(
        &mut unscoped,
        json!({"type": "message", "channel_sid": other, "body": "ok"}),
        "a2",
    );
    assert_eq!(answer["type"], "ack", "{answer}");
    // A grant for a service that is not here.
    let foreign = token_for_service("agent.dana", "1h", Some("IS0123456789abcdef0123456789abcdef"));
    match daemon.websocket(Some(&foreign)) {
        Err(error) => match *error {
            tungstenite::Error::Http(response) => assert_eq!(response.status(), 401),
            other => panic!("{other}"),
        },
        Ok(_) => panic!("a token for another service was accepted"),
    }
}

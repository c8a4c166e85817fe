//! Client actions over the WebSocket with access tokens, checked against Chat roles: members
//! send, edit, delete, mark read, join and leave as their roles allow; a refused action gets
//! error 50107 and stores nothing; strangers cannot act on private channels.

use serde_json::{json, Value};

use crate::support::api::{daemon_command, frames, token, ws_call};
use crate::support::Daemon;

fn started() -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    (temp, Daemon::start(command))
}

fn sid(value: &Value) -> String {
    value["sid"].as_str().unwrap().to_owned()
}

struct Setup {
    is: String,
    ch: String,
    channel_admin: String,
}

fn channel(daemon: &Daemon, kind: &str) -> Setup {
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "perm")]).json();
    let is = sid(&service);
    let channel_admin = service["default_channel_creator_role_sid"].as_str().unwrap().to_owned();
    let made = daemon.post(
        &format!("/chat/v2/Services/{is}/Channels"),
        &[("FriendlyName", "team"), ("Type", kind)],
    );
    assert_eq!(made.status, 201, "{}", made.body);
    Setup { is, ch: sid(&made.json()), channel_admin }
}

fn add_member(daemon: &Daemon, setup: &Setup, identity: &str, role: Option<&str>) {
    let mut form = vec![("Identity", identity)];
    if let Some(role) = role {
        form.push(("RoleSid", role));
    }
    let added = daemon
        .post(&format!("/chat/v2/Services/{}/Channels/{}/Members", setup.is, setup.ch), &form);
    assert_eq!(added.status, 201, "{}", added.body);
}

fn socket(
    daemon: &Daemon,
    identity: &str,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>> {
    let mut socket = daemon.websocket(Some(&token(identity, "1h"))).unwrap();
    assert_eq!(frames(&mut socket, 1)[0]["type"], "ready");
    socket
}

#[track_caller]
fn assert_refused(answer: &Value) {
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], 50107, "{answer}");
}

#[test]
fn members_send_edit_and_delete_as_their_roles_allow() {
    let (_temp, daemon) = started();
    let setup = channel(&daemon, "public");
    add_member(&daemon, &setup, "agent.a", None);
    add_member(&daemon, &setup, "agent.b", None);
    add_member(&daemon, &setup, "agent.c", None);
    add_member(&daemon, &setup, "lead", Some(&setup.channel_admin));
    let (mut a, mut b, mut c, mut lead) = (
        socket(&daemon, "agent.a"),
        socket(&daemon, "agent.b"),
        socket(&daemon, "agent.c"),
        socket(&daemon, "lead"),
    );
    let ch = setup.ch.as_str();

    // A member sends; the others receive it; it is stored under the token's identity.
    let sent = ws_call(
        &mut a,
        json!({"type": "message", "channel_sid": ch, "body": "hello team", "attributes": {"k": 1}}),
        "1",
    );
    assert_eq!(sent["type"], "ack", "{sent}");
    assert_eq!(sent["index"], 0);
    let heard: Vec<Value> = frames(&mut b, 10);
    let added: Vec<&Value> = heard.iter().filter(|f| f["type"] == "message_added").collect();
    assert_eq!(added.len(), 1, "{heard:?}");
    assert_eq!(added[0]["author"], "agent.a");
    assert_eq!(added[0]["body"], "hello team");
    let stored = daemon.messages(&setup.is, ch);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["from"], "agent.a");
    assert_eq!(stored[0]["attributes"], r#"{"k":1}"#);

    // A role without sendMessage is refused, and nothing is stored.
    let muted = daemon
        .post(
            &format!("/chat/v2/Services/{}/Roles", setup.is),
            &[("FriendlyName", "muted"), ("Type", "channel"), ("Permission", "leaveChannel")],
        )
        .json();
    let moved = daemon.post(
        &format!("/chat/v2/Services/{}/Channels/{ch}/Members/agent.b", setup.is),
        &[("RoleSid", &sid(&muted))],
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
    let refused =
        ws_call(&mut b, json!({"type": "message", "channel_sid": ch, "body": "shh"}), "2");
    assert_refused(&refused);
    assert!(refused["message"].as_str().unwrap().contains("sendMessage"), "{refused}");
    assert_eq!(daemon.messages(&setup.is, ch).len(), 1, "a refused message was stored");

    // Editing another's message: refused for a channel user, allowed for a channel admin.
    let edit =
        |body: &str| json!({"type": "edit_message", "channel_sid": ch, "index": 0, "body": body});
    assert_refused(&ws_call(&mut c, edit("not mine"), "3"));
    assert_eq!(daemon.messages(&setup.is, ch)[0]["body"], "hello team");
    assert_eq!(ws_call(&mut lead, edit("moderated"), "4")["type"], "ack");
    assert_eq!(daemon.messages(&setup.is, ch)[0]["body"], "moderated");
    assert_eq!(daemon.messages(&setup.is, ch)[0]["last_updated_by"], "lead");
    // The author edits and deletes their own.
    assert_eq!(ws_call(&mut a, edit("mine again"), "5")["type"], "ack");
    let delete = json!({"type": "delete_message", "channel_sid": ch, "index": 0});
    assert_refused(&ws_call(&mut c, delete.clone(), "6"));
    assert_eq!(daemon.messages(&setup.is, ch).len(), 1);
    assert_eq!(ws_call(&mut a, delete, "7")["type"], "ack");
    assert!(daemon.messages(&setup.is, ch).is_empty());

    // A user's service role counts in every channel: a service admin deletes any message.
    let other = ws_call(&mut a, json!({"type": "message", "channel_sid": ch, "body": "a's"}), "7a");
    let index = other["index"].as_u64().unwrap();
    let delete_other = json!({"type": "delete_message", "channel_sid": ch, "index": index});
    assert_refused(&ws_call(&mut c, delete_other.clone(), "7b"));
    let service = daemon.get(&format!("/chat/v2/Services/{}/Roles", setup.is)).json();
    let admin = service["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["friendly_name"] == "service admin")
        .unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let promoted = daemon
        .post(&format!("/chat/v2/Services/{}/Users/agent.c", setup.is), &[("RoleSid", &admin)]);
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    assert_eq!(ws_call(&mut c, delete_other, "7c")["type"], "ack");

    // The read horizon moves.
    let again = ws_call(&mut a, json!({"type": "message", "channel_sid": ch, "body": "two"}), "8");
    assert_eq!(again["index"], 2);
    let consumed = ws_call(&mut c, json!({"type": "consumed", "channel_sid": ch, "index": 2}), "9");
    assert_eq!(consumed["type"], "ack", "{consumed}");
    let member =
        daemon.get(&format!("/chat/v2/Services/{}/Channels/{ch}/Members/agent.c", setup.is));
    assert_eq!(member.json()["last_consumed_message_index"], 2);
    let unread = daemon.get(&format!("/chat/v2/Services/{}/Users/agent.c/Channels/{ch}", setup.is));
    assert_eq!(unread.json()["unread_messages_count"], 0, "{}", unread.body);
}

#[test]
fn strangers_join_public_channels_but_cannot_touch_private_ones() {
    let (_temp, daemon) = started();
    let private = channel(&daemon, "private");
    add_member(&daemon, &private, "agent.in", None);
    let mut stranger = socket(&daemon, "stranger");
    let ch = private.ch.as_str();
    let post = json!({"type": "message", "channel_sid": ch, "body": "let me in"});
    assert_refused(&ws_call(&mut stranger, post, "1"));
    assert_refused(&ws_call(&mut stranger, json!({"type": "join", "channel_sid": ch}), "2"));
    assert!(daemon.messages(&private.is, ch).is_empty());
    let members = daemon.get(&format!("/chat/v2/Services/{}/Channels/{ch}/Members", private.is));
    assert_eq!(members.json()["members"].as_array().unwrap().len(), 1);

    let public = channel(&daemon, "public");
    let open = public.ch.as_str();
    // Not a member yet: cannot post, may join, then post and leave.
    let early =
        ws_call(&mut stranger, json!({"type": "message", "channel_sid": open, "body": "hi"}), "3");
    assert_refused(&early);
    assert_eq!(
        ws_call(&mut stranger, json!({"type": "join", "channel_sid": open}), "4")["type"],
        "ack"
    );
    let hi =
        ws_call(&mut stranger, json!({"type": "message", "channel_sid": open, "body": "hi"}), "5");
    assert_eq!(hi["type"], "ack", "{hi}");
    assert_eq!(daemon.messages(&public.is, open).len(), 1);
    let user = daemon.get(&format!("/chat/v2/Services/{}/Users/stranger", public.is));
    assert_eq!(user.status, 200, "joining made the user: {}", user.body);
    assert_eq!(
        ws_call(&mut stranger, json!({"type": "leave", "channel_sid": open}), "6")["type"],
        "ack"
    );
    let gone =
        daemon.get(&format!("/chat/v2/Services/{}/Channels/{open}/Members/stranger", public.is));
    assert_eq!(gone.status, 404);
    // Malformed frames get an error, not a closed connection.
    let bad =
        ws_call(&mut stranger, json!({"type": "message", "channel_sid": "nope", "body": "x"}), "7");
    assert_eq!(bad["type"], "error");
    stranger.send(tungstenite::Message::Text(json!({"type": "ping"}).to_string())).unwrap();
    assert_eq!(frames(&mut stranger, 1)[0]["type"], "pong");
}

#[test]
fn the_channels_customer_writing_over_the_websocket_is_the_customer() {
    let (_temp, daemon) = started();
    let (is, _) = daemon.sms_flow(false);
    let customer = "+14155550801";
    assert_eq!(daemon.sms(customer, "first", "SM00000000000000000000000000000801").status, 200);
    let ch = daemon.channels(&is)[0]["sid"].as_str().unwrap().to_owned();
    let mut socket = socket(&daemon, customer);
    let sent =
        ws_call(&mut socket, json!({"type": "message", "channel_sid": ch, "body": "second"}), "1");
    assert_eq!(sent["type"], "ack", "{sent}");
    let events = daemon.get(&format!("/admin/v1/Channels/{ch}/Events"));
    let sources: Vec<String> = events
        .body
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "message_added")
        .map(|e| e.to_string())
        .collect();
    assert_eq!(sources.len(), 2, "{}", events.body);
    assert!(sources[1].contains(r#""source":"customer""#), "{}", sources[1]);
}

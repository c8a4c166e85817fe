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
    assert_eq!(of_type(&after, "resumed").len(), 1);
    // "five" may come live before the replay is read (docs/api.md, Reconnecting: the replay
    // fills the gap before it): held in `seq` order, as a client holds them.
    let mut events: Vec<&Value> = after.iter().filter(|f| f["type"] != "resumed").collect();
    events.sort_by_key(|f| f["seq"].as_u64());
    let bodies: Vec<_> = events
        .iter()
        .filter(|f| f["type"] == "message_added")
        .map(|f| f["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["two", "three", "four", "five"], "{after:?}");
    let seqs: Vec<u64> = events.iter().filter_map(|f| f["seq"].as_u64()).collect();
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

/// A private channel of a new Chat Service with `members`: (service, channel).
fn channel_with(daemon: &Daemon, members: &[&str]) -> (String, String) {
    let service = daemon.post("/chat/v2/Services", &[("FriendlyName", "live")]).json()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/chat/v2/Services/{service}/Channels");
    let channel =
        daemon.post(&path, &[("Type", "private")]).json()["sid"].as_str().unwrap().to_owned();
    for identity in members {
        let members = format!("{path}/{channel}/Members");
        assert_eq!(daemon.post(&members, &[("Identity", identity)]).status, 201);
    }
    (service, channel)
}

/// The number each test message starts with.
fn message_number(frame: &Value) -> u64 {
    frame["body"].as_str().unwrap().split(' ').next().unwrap().parse().unwrap()
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Sends messages `numbers` (each "N" and `padding`) to `channel` as client actions of `writer`,
/// each acknowledged (so durable) before the next.
fn send_messages(writer: &mut Socket, channel: &str, numbers: std::ops::Range<u64>, padding: &str) {
    for n in numbers {
        let frame =
            json!({"type": "message", "channel_sid": channel, "body": format!("{n} {padding}")});
        let answer = ws_call(writer, frame, &format!("m{n}"));
        assert_eq!(answer["type"], "ack", "{answer}");
    }
}

/// Reads every frame up to the server's close frame (or the end of the connection): the text
/// frames, and the close frame if one came.
fn read_until_close(
    socket: &mut Socket,
) -> (Vec<Value>, Option<tungstenite::protocol::CloseFrame<'static>>) {
    let mut texts = Vec::new();
    let mut idle = 0;
    while idle < 50 {
        match socket.read() {
            Ok(Message::Text(text)) => {
                idle = 0;
                texts.push(serde_json::from_str(&text).unwrap());
            }
            Ok(Message::Close(frame)) => return (texts, frame.map(|f| f.into_owned())),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                idle += 1
            }
            Err(_) => return (texts, None),
        }
    }
    panic!("neither a close nor the end of the connection; read {} frames", texts.len());
}

/// What a reader that stops reading is sent: 30 KB messages, enough of them to fill its small
/// window, the kernel's send buffer (about 1.3 MB on loopback for such a window), actix's
/// hand-off of 32 frames and the queue many times over.
const PADDING_BYTES: usize = 30_000;
const FLOOD: u64 = 250;

/// A reader that stops reading costs the server a bounded queue, not memory without end: once
/// the queue is full the server closes it (1013, "…resume…"). It reconnects, resumes from the
/// last `seq` it has, and so has every message exactly once, in order.
#[test]
fn a_reader_that_stops_reading_is_closed_and_resumes_with_nothing_lost_or_doubled() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command
        .env("SWITCHBOARD_DURABILITY", "flush")
        .env("SWITCHBOARD_WS_QUEUE_FRAMES", "16")
        .env("SWITCHBOARD_WS_QUEUE_BYTES", "65536");
    let daemon = Daemon::start(command);
    let (_, channel) = channel_with(&daemon, &["agent.slow", "agent.writer"]);
    let token = token("agent.slow", "1h");
    let mut slow = daemon.websocket_with_small_window(&token, 4096);
    assert_eq!(frames(&mut slow, 1)[0]["type"], "ready");
    let mut writer =
        daemon.websocket(Some(&crate::support::api::token("agent.writer", "1h"))).unwrap();
    // The slow one stops reading while the writer sends.
    let padding = "x".repeat(PADDING_BYTES);
    send_messages(&mut writer, &channel, 0..FLOOD, &padding);
    // Reading again, it gets what was on its way, then the close.
    let (before, close) = read_until_close(&mut slow);
    let close = close.expect("the server closed with a close frame");
    assert_eq!(close.code, tungstenite::protocol::frame::coding::CloseCode::Again);
    assert!(close.reason.contains("resume"), "{}", close.reason);
    let before: Vec<&Value> = of_type(&before, "message_added");
    let numbers: Vec<u64> = before.iter().map(|f| message_number(f)).collect();
    assert!((numbers.len() as u64) < FLOOD, "it was closed before it had everything");
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>(), "in order, no gap");
    let last_seq = before.last().map_or(0, |f| f["seq"].as_u64().unwrap());
    drop(slow);

    // Reconnect, resuming in the auth frame: before any live event is sent.
    let mut socket = daemon.websocket(None).unwrap();
    let auth = json!({"type": "auth", "token": token,
                      "resume": [{"channel_sid": channel, "seq": last_seq}]});
    socket.send(Message::Text(auth.to_string())).unwrap();
    send_messages(&mut writer, &channel, FLOOD..FLOOD + 3, "live");
    // The resume reads the whole flood from the log before the connection's first write, which
    // a loaded machine may take longer than `frames` waits for: wait for it as long as it takes.
    let patience = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut after = frames(&mut socket, usize::MAX);
    while after.is_empty() && std::time::Instant::now() < patience {
        after = frames(&mut socket, usize::MAX);
    }
    assert_eq!(after[0]["type"], "ready");
    assert_eq!(of_type(&after, "resumed").len(), 1, "one resume answered");
    let seqs: Vec<u64> =
        after.iter().filter(|f| f["type"] != "resumed").filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs[0], last_seq + 1, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "no gap, no duplicate: {seqs:?}");
    let all: Vec<u64> = numbers
        .iter()
        .copied()
        .chain(of_type(&after, "message_added").iter().map(|f| message_number(f)))
        .collect();
    assert_eq!(all, (0..FLOOD + 3).collect::<Vec<u64>>(), "every message once, in order");
}

/// SIGTERM with sockets that never read (some with full buffers, some idle) stops the daemon
/// all the same: every socket is told goodbye (1001), acknowledged writes are kept.
#[test]
fn sigterm_closes_every_socket_and_stops_even_with_sockets_that_never_read() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let mut command = daemon_command(&data);
    command.env("SWITCHBOARD_DURABILITY", "flush");
    let daemon = Daemon::start(command);
    let (service, channel) =
        channel_with(&daemon, &["agent.stuck", "agent.polite", "agent.writer"]);
    let stuck_token = token("agent.stuck", "1h");
    let mut stuck: Vec<_> =
        (0..8).map(|_| daemon.websocket_with_small_window(&stuck_token, 4096)).collect();
    let idle_token = token("agent.idle", "1h");
    let mut idle: Vec<_> = (0..8).map(|_| daemon.websocket(Some(&idle_token)).unwrap()).collect();
    let mut polite = daemon.websocket(Some(&token("agent.polite", "1h"))).unwrap();
    // The polite one reads all along, up to the server's goodbye.
    let polite = std::thread::spawn(move || read_until_close(&mut polite));
    let mut writer = daemon.websocket(Some(&token("agent.writer", "1h"))).unwrap();
    send_messages(&mut writer, &channel, 0..FLOOD, &"x".repeat(PADDING_BYTES));
    // REST writes keep coming, to another channel, while the daemon stops; every one
    // acknowledged must be kept.
    let (other_service, other) = channel_with(&daemon, &[]);
    let other_path = format!("/chat/v2/Services/{other_service}/Channels/{other}");
    let url = daemon.url(&format!("{other_path}/Messages"));
    let rest = std::thread::spawn(move || {
        let mut acknowledged = 0u64;
        loop {
            let sent = ureq::post(&url)
                .set("Authorization", &crate::support::api::basic())
                .send_form(&[("Body", "during the stop")]);
            match sent {
                Ok(response) if response.status() == 201 => acknowledged += 1,
                _ => return acknowledged,
            }
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, 0, "a clean stop:\n{stderr}");
    let acknowledged = rest.join().unwrap();
    assert!(acknowledged > 0, "writes were in flight during the stop");
    let (seen, close) = polite.join().unwrap();
    assert_eq!(of_type(&seen, "message_added").len() as u64, FLOOD);
    let close = close.expect("the polite reader is told goodbye");
    assert_eq!(close.code, tungstenite::protocol::frame::coding::CloseCode::Away);
    for socket in &mut idle {
        let close = read_until_close(socket).1.expect("an idle socket is told goodbye too");
        assert_eq!(close.code, tungstenite::protocol::frame::coding::CloseCode::Away);
    }
    // The stuck ones' ways out were full: their connections just end.
    for socket in &mut stuck {
        read_until_close(socket);
    }
    let mut again = daemon_command(&data);
    again.env("SWITCHBOARD_DURABILITY", "flush");
    let daemon = Daemon::start(again);
    let count = |path: &str| daemon.get(path).json()["messages_count"].as_u64().unwrap();
    assert_eq!(count(&format!("/chat/v2/Services/{service}/Channels/{channel}")), FLOOD);
    // Every acknowledged write was kept (and at most the one whose answer the stop cut off).
    let kept = count(&other_path);
    assert!((acknowledged..=acknowledged + 1).contains(&kept), "{kept} of {acknowledged}");
}

/// The server pings at the interval `ready` announces; a peer that answers pings stays, one that
/// answers nothing is dropped after the timeout.
#[test]
fn the_server_pings_and_drops_a_peer_that_answers_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_WS_PING_INTERVAL", "400ms").env("SWITCHBOARD_WS_PING_TIMEOUT", "2s");
    let daemon = Daemon::start(command);
    let mut awake = daemon.websocket(Some(&token("agent.awake", "1h"))).unwrap();
    let mut asleep = daemon.websocket(Some(&token("agent.asleep", "1h"))).unwrap();
    let ready = &frames(&mut awake, 1)[0];
    assert_eq!((ready["type"].as_str(), ready["version"].as_u64()), (Some("ready"), Some(3)));
    assert_eq!(
        (ready["ping_interval_ms"].as_u64(), ready["ping_timeout_ms"].as_u64()),
        (Some(400), Some(2000))
    );
    // The awake peer reads (and so answers each ping) for twice the timeout.
    let mut pings = 0;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while std::time::Instant::now() < until {
        match awake.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(Message::Close(frame)) => panic!("the awake peer was closed: {frame:?}"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => panic!("the awake peer lost its connection: {error}"),
        }
    }
    assert!(pings >= 2, "the server pings: {pings}");
    awake.send(Message::Text(json!({"type": "ping"}).to_string())).unwrap();
    assert_eq!(frames(&mut awake, 1)[0]["type"], "pong", "still connected");
    // The one that read nothing was dropped: after what was sent to it, the connection ends,
    // without a close frame.
    let (texts, close) = read_until_close(&mut asleep);
    assert_eq!(texts.len(), 1, "only ready: {texts:?}");
    assert!(close.is_none(), "dropped, not closed: {close:?}");
}

/// With the service's `ReachabilityEnabled`, a user is online while any of its sockets is open
/// (two devices: online until both close), the members of its channels are told, and a
/// connection that drops and comes straight back tells them nothing; without it, `null`.
#[test]
fn presence_is_kept_from_all_of_a_users_sockets_and_pushed_to_its_channels_members() {
    let (_temp, daemon) = started();
    let (service, _) = channel_with(&daemon, &["agent.ann", "customer.bob"]);
    let user = |identity: &str| {
        daemon.get(&format!("/chat/v2/Services/{service}/Users/{identity}")).json()
    };
    assert_eq!(user("customer.bob")["is_online"], Value::Null, "off by default");
    let path = format!("/chat/v2/Services/{service}");
    let updated = daemon.post(&path, &[("ReachabilityEnabled", "true")]);
    assert_eq!(updated.json()["reachability_enabled"], true, "{}", updated.body);
    assert_eq!(daemon.get(&path).json()["reachability_enabled"], true);
    assert_eq!(user("customer.bob")["is_online"], false);
    assert_eq!(user("customer.bob")["is_notifiable"], false);

    let mut ann =
        daemon.websocket(Some(&token_for_service("agent.ann", "1h", Some(&service)))).unwrap();
    assert_eq!(frames(&mut ann, 1)[0]["type"], "ready");
    let bob_token = token_for_service("customer.bob", "1h", Some(&service));
    let mut phone = daemon.websocket(Some(&bob_token)).unwrap();
    let mut laptop = daemon.websocket(Some(&bob_token)).unwrap();
    assert_eq!(user("customer.bob")["is_online"], true);
    let told = |ann: &mut _| -> Vec<Value> {
        of_type(&frames(ann, 10), "user_updated").into_iter().cloned().collect()
    };
    let online = told_at_last(&mut ann);
    assert_eq!(online.len(), 1, "two sockets, one change: {online:?}");
    assert_eq!(online[0]["identity"], "customer.bob");
    assert_eq!(online[0]["service_sid"], service.as_str());
    assert_eq!(
        (online[0]["is_online"].as_bool(), online[0]["is_notifiable"].as_bool()),
        (Some(true), Some(false))
    );

    // One device goes: still online, nobody is told anything.
    phone.close(None).unwrap();
    let _ = frames(&mut phone, 1);
    drop(phone);
    assert_eq!(user("customer.bob")["is_online"], true);
    // The other flaps: gone and straight back, several times.
    for _ in 0..3 {
        laptop.close(None).unwrap();
        let _ = frames(&mut laptop, 1);
        laptop = daemon.websocket(Some(&bob_token)).unwrap();
    }
    assert!(told(&mut ann).is_empty(), "a flapping connection does not flood the members");
    laptop.close(None).unwrap();
    let _ = frames(&mut laptop, 1);
    drop(laptop);
    let offline = told_at_last(&mut ann);
    assert_eq!(offline.len(), 1, "{offline:?}");
    assert_eq!(offline[0]["is_online"], false);
    assert_eq!(user("customer.bob")["is_online"], false);

    // Turned off again: null, and nothing more is pushed.
    daemon.post(&path, &[("ReachabilityEnabled", "false")]);
    assert_eq!(user("customer.bob")["is_online"], Value::Null);
    let _again = daemon.websocket(Some(&bob_token)).unwrap();
    assert!(told(&mut ann).is_empty());
}

/// The `user_updated` frames that reach `socket`: waits up to 10 s for the first, then takes any
/// that follow it.
fn told_at_last(socket: &mut Socket) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let told: Vec<Value> =
            of_type(&frames(socket, 10), "user_updated").into_iter().cloned().collect();
        if !told.is_empty() {
            return told;
        }
    }
    Vec::new()
}
